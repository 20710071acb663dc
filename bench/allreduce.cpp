// bench_allreduce: Lockstep's gradient allreduce (the fast and exact gradient reducers on
// parallel::GradientBuckets over the Runtime's world communicator, as DataParallel runs them
// every step) against a plain blocking MPI_Allreduce on the very same bucket buffers, from
// 4 KiB to 64 MiB of gradients.
//   mpirun -np 2 bench_allreduce --json allreduce.json
// Each timed call starts after a barrier; its time is the slowest rank's (MPI_MAX), and the
// table shows medians with bandwidths as nccl-tests defines them (algbw = bytes / time,
// busbw = algbw * 2(n-1)/n).
#include <mpi.h>

#include <array>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "comm/mpi/mpi_check.h"
#include "lockstep/base/error.h"
#include "lockstep/nn/parameter.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/runtime.h"
#include "parallel/gradient_buckets.h"
#include "parallel/gradient_reducer.h"
#include "support/process_info.h"
#include "support/stats.h"
#include "support/text_table.h"

namespace po = boost::program_options;
using namespace lockstep;
using namespace lockstep::bench;

namespace {

struct Options {
  int64_t min_bytes = 4 << 10;
  int64_t max_bytes = 64 << 20;
  int64_t factor = 4;  // sizes min, min*factor, ... up to max
  int64_t iterations = 50;
  int64_t warmup = 5;
  double bucket_mb = static_cast<double>(parallel::DataParallelOptions{}.bucket_bytes) / (1 << 20);
  std::string json;
};

// Returns false when --help was asked for.
bool parse_options(int argc, char** argv, Options& o) {
  po::options_description desc("bench_allreduce options (defaults in parentheses)");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("min-bytes", po::value(&o.min_bytes)->default_value(o.min_bytes), "smallest gradient size")
      ("max-bytes", po::value(&o.max_bytes)->default_value(o.max_bytes), "largest gradient size")
      ("factor", po::value(&o.factor)->default_value(o.factor), "size step: 2 or 4")
      ("iterations", po::value(&o.iterations)->default_value(o.iterations),
       "timed calls per size and method")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed calls before them")
      ("bucket-mb", po::value(&o.bucket_mb)->default_value(o.bucket_mb),
       "fusion bucket size in MiB (Lockstep's default)")
      ("json", po::value(&o.json), "write the results to this JSON file (rank 0)");
  // clang-format on
  po::variables_map given;
  try {
    const po::positional_options_description none;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(none).run(), given);
    po::notify(given);
  } catch (const po::error& e) {
    LOCKSTEP_THROW("bench_allreduce: " << e.what() << " (see --help)");
  }
  if (given.count("help")) {
    if (logging::rank() == 0) std::cout << desc << "\n";
    return false;
  }
  LOCKSTEP_CHECK(o.min_bytes >= 4 && o.min_bytes % 4 == 0 && o.max_bytes >= o.min_bytes,
                 "--min-bytes and --max-bytes must be multiples of 4 (float32) with min <= max, "
                 "found "
                     << o.min_bytes << " and " << o.max_bytes);
  LOCKSTEP_CHECK(o.factor == 2 || o.factor == 4, "--factor must be 2 or 4, found " << o.factor);
  LOCKSTEP_CHECK(o.iterations >= 1 && o.warmup >= 0,
                 "--iterations must be at least 1 and --warmup at least 0, found "
                     << o.iterations << " and " << o.warmup);
  LOCKSTEP_CHECK(o.bucket_mb > 0, "--bucket-mb must be positive, found " << o.bucket_mb);
  return true;
}

// Fake model parameters of `elements` floats in all, cut like layers into pieces of at most
// 1 Mi elements, with their gradients packed into fusion buckets and reduced over `world` as
// DataParallel does.
class FakeGradients {
 public:
  FakeGradients(int64_t elements, int64_t bucket_bytes, comm::Communicator& world) {
    constexpr int64_t kPiece = 1 << 20;
    for (int64_t done = 0; done < elements; done += kPiece) {
      const int64_t n = std::min(kPiece, elements - done);
      parameters_.push_back(
          {std::to_string(parameters_.size()) + ".weight", Tensor::zeros({n}), Tensor()});
    }
    std::vector<nn::Parameter*> pointers;
    for (nn::Parameter& p : parameters_) pointers.push_back(&p);
    buckets_ = std::make_unique<parallel::GradientBuckets>(pointers, bucket_bytes, Device::cpu());
    fast_ = parallel::make_fast_reducer(*buckets_, world);
    exact_ = parallel::make_exact_reducer(*buckets_, world, 1);
    find_bucket_buffers(pointers);
  }

  parallel::GradientBuckets& buckets() { return *buckets_; }
  parallel::GradientReducer& fast() { return *fast_; }
  parallel::GradientReducer& exact() { return *exact_; }
  // The buckets' flat buffers (what each allreduce moves), in allreduce order.
  const std::vector<std::pair<float*, int64_t>>& buffers() const { return buffers_; }

  void fill(float value) {
    for (auto [data, count] : buffers_) std::fill(data, data + count, value);
  }
  // True when every gradient element equals `value`.
  bool all_equal(float value) const {
    for (auto [data, count] : buffers_) {
      for (int64_t i = 0; i < count; ++i) {
        if (data[i] != value) return false;
      }
    }
    return true;
  }

 private:
  // GradientBuckets packs parameters last first; each bucket's first parameter's grad starts
  // its buffer and the others follow it without gaps (checked here).
  void find_bucket_buffers(const std::vector<nn::Parameter*>& parameters) {
    auto it = parameters.rbegin();
    for (const int64_t count : buckets_->bucket_elements()) {
      float* start = (*it)->grad.data();
      int64_t filled = 0;
      while (filled < count) {
        LOCKSTEP_CHECK(it != parameters.rend() && (*it)->grad.data() == start + filled,
                       "bench_allreduce: expected the gradients of a bucket to lie back to "
                       "back, found a gap at element "
                           << filled << " of " << count);
        filled += (*it)->grad.numel();
        ++it;
      }
      buffers_.emplace_back(start, count);
    }
  }

  std::vector<nn::Parameter> parameters_;
  std::unique_ptr<parallel::GradientBuckets> buckets_;
  std::unique_ptr<parallel::GradientReducer> fast_;
  std::unique_ptr<parallel::GradientReducer> exact_;
  std::vector<std::pair<float*, int64_t>> buffers_;
};

// The three ways of summing the gradients over the ranks that are timed.
enum Method { kLockstep, kRaw, kLockstepExact, kMethods };
constexpr std::array<const char*, kMethods> kMethodNames = {"lockstep", "raw_mpi",
                                                            "lockstep_exact"};

// A step's reduction without its backward pass, so every bucket starts at finish. begin_step
// also clears the exact reducer's sums: a fill, part of every step.
void reduce(parallel::GradientReducer& reducer) {
  reducer.begin_step(1);
  reducer.finish();
}

void run_method(Method method, FakeGradients& gradients) {
  switch (method) {
    case kLockstep:  // float sums in place, as with --micro-batch 0
      reduce(gradients.fast());
      return;
    case kRaw:
      for (auto [data, count] : gradients.buffers()) {
        LOCKSTEP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT,
                                         MPI_SUM, MPI_COMM_WORLD));
      }
      return;
    case kLockstepExact:  // the last pass added in double, the sums allreduced, rounded once:
      reduce(gradients.exact());  // what training with micro-batches reduces
      return;
    default:
      LOCKSTEP_THROW("bench_allreduce: unknown method " << static_cast<int>(method));
  }
}

// Every method must sum each rank's gradients: rank r contributes r + 1 everywhere, so every
// element must come out as n(n+1)/2. Leaves gradients and accumulators zero, which sums stay
// (no overflow or denormals, however many calls are timed).
void check_sums(FakeGradients& gradients, comm::Communicator& world) {
  const int n = world.size();
  const auto expected = static_cast<float>(n * (n + 1) / 2);
  for (int m = 0; m < kMethods; ++m) {
    gradients.exact().begin_step(1);  // clears the accumulators
    gradients.fill(static_cast<float>(world.rank() + 1));
    run_method(static_cast<Method>(m), gradients);
    LOCKSTEP_CHECK(gradients.all_equal(expected),
                   "bench_allreduce: " << kMethodNames[m] << " on " << n << " ranks should give "
                                       << expected << " in every element, found other values");
  }
  gradients.exact().begin_step(1);
  gradients.fill(0.0f);
}

// One call timed on every rank after a barrier; returns the slowest rank's seconds.
double time_call(Method method, FakeGradients& gradients) {
  LOCKSTEP_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
  const auto start = std::chrono::steady_clock::now();
  run_method(method, gradients);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LOCKSTEP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  return seconds;
}

struct SizeResult {
  int64_t bytes = 0;
  size_t buckets = 0;
  std::array<std::vector<double>, kMethods> seconds;  // timed calls, per method
};

// Methods take turns within every iteration, starting with a different one each time, so
// that drift in the machine's load falls on all of them alike.
SizeResult measure(int64_t bytes, const Options& o, comm::Communicator& world) {
  FakeGradients gradients(bytes / 4, static_cast<int64_t>(o.bucket_mb * (1 << 20)), world);
  check_sums(gradients, world);
  SizeResult result{bytes, gradients.buckets().size(), {}};
  for (int64_t i = 0; i < o.warmup + o.iterations; ++i) {
    for (int k = 0; k < kMethods; ++k) {
      const auto method = static_cast<Method>((i + k) % kMethods);
      const double seconds = time_call(method, gradients);
      if (i >= o.warmup) result.seconds[method].push_back(seconds);
    }
  }
  return result;
}

double bus_factor(int ranks) { return ranks > 1 ? 2.0 * (ranks - 1) / ranks : 0.0; }

nlohmann::json size_json(const SizeResult& r, int ranks) {
  nlohmann::json entry = {{"bytes", r.bytes}, {"buckets", r.buckets}};
  for (int m = 0; m < kMethods; ++m) {
    const std::vector<double>& s = r.seconds[m];
    const double median_s = median(s);
    const double algbw = static_cast<double>(r.bytes) / median_s / 1e9;
    entry[kMethodNames[m]] = {{"median_ms", median_s * 1e3},
                              {"mean_ms", mean(s) * 1e3},
                              {"p10_ms", quantile(s, 0.1) * 1e3},
                              {"p90_ms", quantile(s, 0.9) * 1e3},
                              {"algbw_gbps", algbw},
                              {"busbw_gbps", algbw * bus_factor(ranks)}};
  }
  // busbw ratio = raw time / Lockstep time (also defined on one rank, where busbw is 0).
  entry["ratio"] = median(r.seconds[kRaw]) / median(r.seconds[kLockstep]);
  entry["exact_ratio"] = median(r.seconds[kRaw]) / median(r.seconds[kLockstepExact]);
  return entry;
}

void print_table(const nlohmann::json& results, int ranks) {
  TextTable table({"size", "buckets", "lockstep ms", "raw MPI ms", "lockstep busbw GB/s",
                   "raw busbw GB/s", "ratio", "exact-path ms"});
  for (const nlohmann::json& r : results) {
    table.add_row({format_bytes(r["bytes"]), std::to_string(r["buckets"].get<int64_t>()),
                   format("%.3f", r["lockstep"]["median_ms"].get<double>()),
                   format("%.3f", r["raw_mpi"]["median_ms"].get<double>()),
                   format("%.2f", r["lockstep"]["busbw_gbps"].get<double>()),
                   format("%.2f", r["raw_mpi"]["busbw_gbps"].get<double>()),
                   format("%.3f", r["ratio"].get<double>()),
                   format("%.3f", r["lockstep_exact"]["median_ms"].get<double>())});
  }
  std::printf(
      "allreduce on %d ranks: medians; ratio = Lockstep busbw / raw MPI_Allreduce busbw;\n"
      "exact-path = the exact reducer training uses with micro-batches (double sums)\n",
      ranks);
  table.print(stdout);
}

std::string mpi_library_version() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  LOCKSTEP_MPI_CHECK(MPI_Get_library_version(version, &length));
  std::string text(version, static_cast<size_t>(length));
  return text.substr(0, text.find_first_of("\n,"));
}

int run(runtime::Runtime& rt, const Options& o) {
  comm::Communicator& world = rt.world();
  // As in training (DataParallel sets it), so the polling path is the one training takes.
  world.set_deadline(parallel::DataParallelOptions{}.collective_timeout_s);
  const int ranks = world.size();
  nlohmann::json results = nlohmann::json::array();
  for (int64_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= o.factor) {
    results.push_back(size_json(measure(bytes, o, world), ranks));
  }
  if (rt.info().rank != 0) return kExitOk;
  print_table(results, ranks);
  if (!o.json.empty()) {
    write_json_file(o.json, {{"benchmark", "allreduce"},
                             {"ranks", ranks},
                             {"iterations", o.iterations},
                             {"warmup", o.warmup},
                             {"bucket_bytes", static_cast<int64_t>(o.bucket_mb * (1 << 20))},
                             {"mpi_library", mpi_library_version()},
                             {"cpu_model", cpu_model()},
                             {"online_cpus", online_cpus()},
                             {"build_type", build_type()},
                             {"results", results}});
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  runtime::Runtime rt(&argc, &argv);
  return runtime::run_guarded(rt, [&] {
    Options options;
    if (!parse_options(argc, argv, options)) return kExitOk;
    return run(rt, options);
  });
}
