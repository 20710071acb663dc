// bench_nccl_bandwidth: allreduce-sum bandwidth of Lockstep's NCCL communicator on one GPU,
// against ncclAllReduce called directly on a one-device communicator (ncclCommInitAll), for
// buffers of 1 MiB to 1 GiB. Figures follow nccl-tests: algbw = bytes / time, busbw = algbw *
// 2(n-1)/n. With one rank busbw is 0 and NCCL moves nothing between GPUs (an in-place
// allreduce of one rank has nothing to add, an out-of-place one is a device copy), so these
// numbers measure the cost of a call and of Lockstep's layer over NCCL, not a link. Two ranks
// cannot share one GPU: NCCL refuses that at communicator creation ("Duplicate GPU
// detected"), so a multi-rank measurement needs a machine with several GPUs.
// Every call is timed on the host from its start until the GPU has finished it (device
// synchronisation included, for both sides alike); the median over the calls is reported.
//   bench_nccl_bandwidth --json nccl.json
// Exit status: 0, 77 when no GPU answers (nothing measured), 1 on an error.
#include <cuda_runtime.h>
#include <nccl.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "comm/nccl/nccl_check.h"
#include "gpu/gpu_info.h"
#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/comm/nccl_communicator.h"
#include "lockstep/tensor/tensor.h"
#include "support/process_info.h"
#include "support/stats.h"
#include "support/text_table.h"

namespace po = boost::program_options;
using namespace lockstep;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int kRanks = 1;

struct Options {
  int warmup = 3;
  int iterations = 20;
  int64_t min_bytes = kMiB;
  int64_t max_bytes = 1024 * kMiB;
  std::string json;
};

// Returns false when --help was asked for.
bool parse_options(int argc, char** argv, Options& o) {
  po::options_description desc("bench_nccl_bandwidth options (defaults in parentheses)");
  int64_t min_mib = o.min_bytes / kMiB;
  int64_t max_mib = o.max_bytes / kMiB;
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed calls per size")
      ("iterations", po::value(&o.iterations)->default_value(o.iterations),
       "timed calls per size (the median is reported)")
      ("min-mib", po::value(&min_mib)->default_value(min_mib), "smallest buffer, MiB")
      ("max-mib", po::value(&max_mib)->default_value(max_mib),
       "largest buffer, MiB (sizes grow 4-fold)")
      ("json", po::value(&o.json), "write the results to this JSON file");
  // clang-format on
  po::variables_map given;
  try {
    po::store(po::parse_command_line(argc, argv, desc), given);
    po::notify(given);
  } catch (const po::error& e) {
    LOCKSTEP_THROW("bench_nccl_bandwidth: " << e.what() << " (see --help)");
  }
  if (given.count("help")) {
    std::cout << desc << "\nExit status: 0, " << bench::kExitNoDevice
              << " when no GPU answers, 1 on an error.\n";
    return false;
  }
  LOCKSTEP_CHECK(o.warmup >= 0, "--warmup must be at least 0, found " << o.warmup);
  LOCKSTEP_CHECK(o.iterations >= 1, "--iterations must be at least 1, found " << o.iterations);
  LOCKSTEP_CHECK(min_mib >= 1 && max_mib >= min_mib,
                 "--min-mib and --max-mib must satisfy 1 <= min <= max, found "
                     << min_mib << " and " << max_mib);
  o.min_bytes = min_mib * kMiB;
  o.max_bytes = max_mib * kMiB;
  return true;
}

// Seconds of each timed call of `call`, which must return only once the GPU is done.
std::vector<double> time_calls(const Options& o, const std::function<void()>& call) {
  for (int i = 0; i < o.warmup; ++i) call();
  std::vector<double> seconds;
  for (int i = 0; i < o.iterations; ++i) {
    const Clock::time_point start = Clock::now();
    call();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return seconds;
}

// ncclAllReduce on a one-device communicator of its own, on its own stream, with send and
// receive buffers of the largest size.
class RawNcclAllreduce {
 public:
  explicit RawNcclAllreduce(int64_t max_bytes) {
    const int device = 0;
    LOCKSTEP_CUDA_CHECK(cudaSetDevice(device));
    LOCKSTEP_NCCL_CHECK(ncclCommInitAll(&comm_, kRanks, &device));
    LOCKSTEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    LOCKSTEP_CUDA_CHECK(cudaMalloc(&send_, static_cast<size_t>(max_bytes)));
    LOCKSTEP_CUDA_CHECK(cudaMalloc(&receive_, static_cast<size_t>(max_bytes)));
    LOCKSTEP_CUDA_CHECK(cudaMemset(send_, 0, static_cast<size_t>(max_bytes)));
  }
  ~RawNcclAllreduce() {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    cudaFree(send_);
    cudaFree(receive_);
  }
  RawNcclAllreduce(const RawNcclAllreduce&) = delete;
  RawNcclAllreduce& operator=(const RawNcclAllreduce&) = delete;

  void run(int64_t count, bool in_place) {
    void* destination = in_place ? send_ : receive_;
    LOCKSTEP_NCCL_CHECK(ncclAllReduce(send_, destination, static_cast<size_t>(count), ncclFloat,
                                      ncclSum, comm_, stream_));
    LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* send_ = nullptr;
  void* receive_ = nullptr;
};

std::string nccl_version() {
  int version = 0;
  LOCKSTEP_NCCL_CHECK(ncclGetVersion(&version));
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100);
}

// algbw in GB/s (10^9 bytes, as nccl-tests) of `bytes` moved in `seconds`.
double algbw(int64_t bytes, double seconds) { return static_cast<double>(bytes) / seconds / 1e9; }

nlohmann::json measure_size(const Options& o, int64_t bytes, comm::Communicator& lockstep_nccl,
                            Tensor& lockstep_buffer, RawNcclAllreduce& raw) {
  const int64_t count = bytes / static_cast<int64_t>(sizeof(float));
  const double bus_factor = 2.0 * (kRanks - 1) / kRanks;
  const double lockstep_s = bench::median(time_calls(o, [&] {
    lockstep_nccl.allreduce_sum(lockstep_buffer.data(), count);
    LOCKSTEP_CUDA_CHECK(cudaDeviceSynchronize());
  }));
  const double in_place_s = bench::median(time_calls(o, [&] { raw.run(count, true); }));
  const double out_of_place_s = bench::median(time_calls(o, [&] { raw.run(count, false); }));
  return {{"bytes", bytes},
          {"count", count},
          {"lockstep_us_median", lockstep_s * 1e6},
          {"lockstep_algbw_gbps", algbw(bytes, lockstep_s)},
          {"lockstep_busbw_gbps", algbw(bytes, lockstep_s) * bus_factor},
          {"raw_inplace_us_median", in_place_s * 1e6},
          {"raw_inplace_algbw_gbps", algbw(bytes, in_place_s)},
          {"raw_outofplace_us_median", out_of_place_s * 1e6},
          {"raw_outofplace_algbw_gbps", algbw(bytes, out_of_place_s)},
          {"lockstep_over_raw_inplace", in_place_s / lockstep_s}};
}

void print_table(const nlohmann::json& results) {
  bench::TextTable table({"allreduce (1 rank)", "Lockstep us", "Lockstep algbw GB/s",
                          "raw in-place us", "raw in-place algbw", "raw out-of-place algbw"});
  for (const nlohmann::json& r : results) {
    table.add_row({bench::format_bytes(r["bytes"].get<int64_t>()),
                   bench::format("%.1f", r["lockstep_us_median"].get<double>()),
                   bench::format("%.1f", r["lockstep_algbw_gbps"].get<double>()),
                   bench::format("%.1f", r["raw_inplace_us_median"].get<double>()),
                   bench::format("%.1f", r["raw_inplace_algbw_gbps"].get<double>()),
                   bench::format("%.1f", r["raw_outofplace_algbw_gbps"].get<double>())});
  }
  table.print(stdout);
  std::printf(
      "busbw = algbw * 2(n-1)/n = 0 with one rank; two ranks on one GPU are refused "
      "by NCCL (\"Duplicate GPU detected\").\n");
}

int run(const Options& o) {
  const Device gpu = Device::cuda(0);
  const std::unique_ptr<comm::Communicator> host = comm::make_local_communicator();
  const std::unique_ptr<comm::Communicator> lockstep_nccl =
      comm::make_nccl_communicator(*host, gpu);
  Tensor lockstep_buffer = Tensor::zeros({o.max_bytes / static_cast<int64_t>(sizeof(float))}, gpu);
  RawNcclAllreduce raw(o.max_bytes);

  nlohmann::json results = nlohmann::json::array();
  for (int64_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= 4) {
    results.push_back(measure_size(o, bytes, *lockstep_nccl, lockstep_buffer, raw));
  }
  print_table(results);
  if (!o.json.empty()) {
    bench::write_json_file(
        o.json, {{"benchmark", "nccl_allreduce"},
                 {"gpu", bench::gpu_description(0)},
                 {"nccl_version", nccl_version()},
                 {"ranks", kRanks},
                 {"busbw_factor", 2.0 * (kRanks - 1) / kRanks},
                 {"note",
                  "one rank: NCCL moves no data between GPUs, busbw is 0; two ranks on one GPU "
                  "are refused by NCCL (Duplicate GPU detected)"},
                 {"warmup_calls", o.warmup},
                 {"timed_calls", o.iterations},
                 {"statistic", "median of per-call host time up to GPU completion"},
                 {"results", results},
                 {"build_type", bench::build_type()}});
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options options;
    if (!parse_options(argc, argv, options)) return 0;
    if (!bench::cuda_device_answers("bench_nccl_bandwidth")) return bench::kExitNoDevice;
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_nccl_bandwidth: error: %s\n", e.what());
    return 1;
  }
}
