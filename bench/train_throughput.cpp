// bench_train_throughput: samples per second of steady-state DataParallel training steps
// (forward, backward, gradient allreduce, Adam update, metrics) for the built-in models, on
// one process or under mpirun, CPU or CUDA. Warm-up steps and data loading are excluded and
// nothing is evaluated; step times come from a StepCallback on rank 0 (every step ends in
// a collective, so the ranks finish each step together).
//   mpirun -np 2 bench_train_throughput --model cnn --json cnn-2.json
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/comm/nccl_communicator.h"
#include "lockstep/data/data_source.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/runtime.h"
#include "support/process_info.h"
#include "support/stats.h"
#include "support/text_table.h"

namespace po = boost::program_options;
using namespace lockstep;
using namespace lockstep::bench;

namespace {

using Clock = std::chrono::steady_clock;

// The size of "--data synthetic": Fashion-MNIST's training split plus its held-out sixth.
constexpr int64_t kSyntheticSamples = 72000;

struct Options {
  std::string model = "mlp";
  std::string data = "fashion-mnist";
  std::string device = "cpu";
  int64_t batch_size = 256;
  int64_t steps = 0;  // 0: the model's default
  int64_t warmup = 20;
  int64_t micro_batch = parallel::DataParallelOptions{}.micro_batch;
  double bucket_mb = static_cast<double>(parallel::DataParallelOptions{}.bucket_bytes) / (1 << 20);
  std::string input = "scatter";
  int64_t seed = 1;
  std::string json;
};

// Enough steps for a stable median in about 10 s on one core.
int64_t default_steps(const std::string& model) {
  if (model == "mlp") return 200;
  if (model == "cnn") return 60;
  return 8;  // resnet20, xception: about a second a step at batch 256
}

void validate(Options& o) {
  const std::vector<std::string>& models = nn::builtin_model_names();
  LOCKSTEP_CHECK(std::find(models.begin(), models.end(), o.model) != models.end(),
                 "--model must be mlp, cnn, resnet20 or xception, found '" << o.model << "'");
  LOCKSTEP_CHECK(o.device == "cpu" || o.device == "cuda",
                 "--device must be cpu or cuda, found '" << o.device << "'");
  LOCKSTEP_CHECK(o.batch_size >= 1, "--batch-size must be at least 1, found " << o.batch_size);
  LOCKSTEP_CHECK(o.steps >= 0, "--steps must be at least 1 (0: default), found " << o.steps);
  // The first timed step is measured from the end of the last warm-up step.
  LOCKSTEP_CHECK(o.warmup >= 1, "--warmup must be at least 1, found " << o.warmup);
  LOCKSTEP_CHECK(o.micro_batch >= 0, "--micro-batch must be at least 0, found " << o.micro_batch);
  LOCKSTEP_CHECK(o.bucket_mb > 0, "--bucket-mb must be positive, found " << o.bucket_mb);
  parallel::parse_input_mode(o.input);  // throws naming the accepted modes
  if (o.steps == 0) o.steps = default_steps(o.model);
  if (o.data == "synthetic") o.data = "synthetic:" + std::to_string(kSyntheticSamples);
}

// Returns false when --help was asked for.
bool parse_options(int argc, char** argv, Options& o) {
  po::options_description desc("bench_train_throughput options (defaults in parentheses)");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("model", po::value(&o.model)->default_value(o.model), "mlp, cnn, resnet20 or xception")
      ("data", po::value(&o.data)->default_value(o.data),
       "fashion-mnist[:DIR], synthetic (random images of Fashion-MNIST's shape) or any "
       "train --data source")
      ("device", po::value(&o.device)->default_value(o.device), "cpu, or cuda in CUDA builds")
      ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size),
       "global batch, split across ranks")
      ("steps", po::value(&o.steps)->default_value(o.steps),
       "timed steps (0: 200 for mlp, 60 for cnn, 8 for resnet20 and xception)")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed steps before them")
      ("micro-batch", po::value(&o.micro_batch)->default_value(o.micro_batch),
       "rows per micro-batch (0: off)")
      ("bucket-mb", po::value(&o.bucket_mb)->default_value(o.bucket_mb),
       "gradient fusion bucket size in MiB")
      ("input", po::value(&o.input)->default_value(o.input), "scatter or sharded")
      ("seed", po::value(&o.seed)->default_value(o.seed), "weights, data order")
      ("json", po::value(&o.json), "write the results to this JSON file (rank 0)");
  // clang-format on
  po::variables_map given;
  try {
    const po::positional_options_description none;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(none).run(), given);
    po::notify(given);
  } catch (const po::error& e) {
    LOCKSTEP_THROW("bench_train_throughput: " << e.what() << " (see --help)");
  }
  if (given.count("help")) {
    if (logging::rank() == 0) std::cout << desc << "\n";
    return false;
  }
  validate(o);
  return true;
}

// Timestamps of step ends; steps warmup+1 .. warmup+steps are the timed ones.
class StepClock {
 public:
  StepClock(int64_t warmup, int64_t steps) : warmup_(warmup), last_(warmup + steps) {}

  // Ends fit after the last timed step (the same step on every rank).
  parallel::FitControl on_step(const parallel::StepReport& report) {
    const Clock::time_point now = Clock::now();
    if (report.step >= warmup_) {
      if (report.step > warmup_) {
        seconds_.push_back(std::chrono::duration<double>(now - previous_).count());
        samples_ += report.batch_metrics.samples;
        losses_.push_back(report.batch_metrics.loss);
      }
      previous_ = now;
    }
    return report.step >= last_ ? parallel::FitControl::kStop : parallel::FitControl::kContinue;
  }

  const std::vector<double>& step_seconds() const { return seconds_; }
  const std::vector<double>& losses() const { return losses_; }
  int64_t samples() const { return samples_; }

 private:
  int64_t warmup_, last_;
  Clock::time_point previous_;
  std::vector<double> seconds_;
  std::vector<double> losses_;
  int64_t samples_ = 0;
};

struct Measurement {
  std::vector<double> step_seconds;
  std::vector<double> losses;
  int64_t samples = 0;
  int64_t parameters = 0;
};

Measurement train(runtime::Runtime& rt, const Options& o, const data::Dataset& train_split) {
  const Device device = o.device == "cuda" ? Device::cuda(rt.info().local_rank) : Device::cpu();
  backend::backend_for(device);  // throws when this build has no such backend
  std::unique_ptr<comm::Communicator> nccl;
  if (device.is_cuda()) nccl = comm::make_nccl_communicator(rt.world(), device);
  comm::Communicator& communicator = nccl ? *nccl : rt.world();

  // Built on the CPU on every rank; DataParallel moves it and broadcasts rank 0's weights.
  auto model = nn::build_model(nn::builtin_spec(o.model), static_cast<uint64_t>(o.seed));
  parallel::DataParallelOptions engine;
  engine.input = parallel::parse_input_mode(o.input);
  engine.micro_batch = o.micro_batch;
  engine.bucket_bytes = static_cast<int64_t>(o.bucket_mb * (1 << 20));
  parallel::DataParallel dp(*model, communicator, device, engine);
  dp.compile(std::make_unique<nn::CrossEntropyLoss>(),
             optim::make_optimizer("adam", {{"lr", 1e-3}}));

  parallel::FitOptions fit;
  fit.epochs = 1 << 20;  // the step callback ends the run
  fit.batch_size = o.batch_size;
  fit.seed = static_cast<uint64_t>(o.seed);
  StepClock clock(o.warmup, o.steps);
  dp.fit(train_split, fit, [&](const parallel::StepReport& r) { return clock.on_step(r); });
  return {clock.step_seconds(), clock.losses(), clock.samples(), model->parameter_count()};
}

// Every rank's peak resident memory in KiB, in rank order.
std::vector<int64_t> gather_peak_resident(comm::Communicator& world) {
  const int64_t mine = peak_resident_kib();
  std::vector<int64_t> all(static_cast<size_t>(world.size()));
  world.allgather(&mine, sizeof(mine), all.data());
  return all;
}

nlohmann::json result_json(runtime::Runtime& rt, const Options& o, const Measurement& m,
                           const std::vector<int64_t>& peak_kib) {
  const std::vector<double>& s = m.step_seconds;
  double total_s = 0.0;
  for (double seconds : s) total_s += seconds;
  const BlasInfo blas = loaded_blas();
  return {{"benchmark", "train_throughput"},
          {"framework", "lockstep"},
          {"model", o.model},
          {"parameters", m.parameters},
          {"data", o.data},
          {"device", o.device},
          {"ranks", rt.info().size},
          {"blas_threads_per_rank", rt.info().blas_threads},
          {"global_batch", o.batch_size},
          {"micro_batch", o.micro_batch},
          {"input", o.input},
          {"warmup_steps", o.warmup},
          {"timed_steps", static_cast<int64_t>(s.size())},
          {"samples_per_s", static_cast<double>(m.samples) / total_s},
          {"ms_per_step_median", median(s) * 1e3},
          {"ms_per_step_mean", mean(s) * 1e3},
          {"ms_per_step_p10", quantile(s, 0.1) * 1e3},
          {"ms_per_step_p90", quantile(s, 0.9) * 1e3},
          {"mean_loss_timed_steps", mean(m.losses)},
          {"peak_rss_mib_max",
           static_cast<double>(*std::max_element(peak_kib.begin(), peak_kib.end())) / 1024.0},
          {"peak_rss_mib_per_rank",
           [&] {
             std::vector<double> mib;
             for (int64_t kib : peak_kib) mib.push_back(static_cast<double>(kib) / 1024.0);
             return mib;
           }()},
          {"blas", blas.to_json()},
          {"cpu_model", cpu_model()},
          {"online_cpus", online_cpus()},
          {"build_type", build_type()}};
}

void print_table(const nlohmann::json& r) {
  std::string per_rank;
  for (double mib : r["peak_rss_mib_per_rank"]) {
    if (!per_rank.empty()) per_rank += ' ';
    per_rank += format("%.0f", mib);
  }
  TextTable table({"Lockstep training throughput", "value"}, TextTable::Values::kLeftAligned);
  const auto row = [&](const char* name, std::string value) { table.add_row({name, value}); };
  row("model", format("%s (%lld parameters)", r["model"].get<std::string>().c_str(),
                      static_cast<long long>(r["parameters"].get<int64_t>())));
  row("data", r["data"].get<std::string>());
  row("device", r["device"].get<std::string>());
  row("ranks", std::to_string(r["ranks"].get<int>()));
  // On a GPU only host-side work (data preparation) would use BLAS threads.
  row(r["device"].get<std::string>() == "cpu" ? "BLAS threads per rank"
                                              : "BLAS threads per rank (host only)",
      std::to_string(r["blas_threads_per_rank"].get<int>()));
  row("global batch / micro-batch",
      format("%lld / %lld", static_cast<long long>(r["global_batch"].get<int64_t>()),
             static_cast<long long>(r["micro_batch"].get<int64_t>())));
  row("steps (timed after warm-up)",
      format("%lld after %lld", static_cast<long long>(r["timed_steps"].get<int64_t>()),
             static_cast<long long>(r["warmup_steps"].get<int64_t>())));
  row("samples/s", format("%.1f", r["samples_per_s"].get<double>()));
  row("ms/step median", format("%.3f", r["ms_per_step_median"].get<double>()));
  row("ms/step mean", format("%.3f", r["ms_per_step_mean"].get<double>()));
  row("ms/step p10 / p90", format("%.3f / %.3f", r["ms_per_step_p10"].get<double>(),
                                  r["ms_per_step_p90"].get<double>()));
  row("mean loss (timed steps)", format("%.4f", r["mean_loss_timed_steps"].get<double>()));
  row("peak RSS MiB (max)", format("%.0f", r["peak_rss_mib_max"].get<double>()));
  row("peak RSS MiB per rank", per_rank);
  row("BLAS", r["blas"]["summary"].get<std::string>());
  row("build", r["build_type"].get<std::string>());
  table.print(stdout);
}

int run(runtime::Runtime& rt, const Options& o) {
  const parallel::InputMode input = parallel::parse_input_mode(o.input);
  data::TrainTestData data;  // scatter mode: only rank 0 holds the data, as in train
  if (rt.info().rank == 0 || input == parallel::InputMode::kSharded) {
    data =
        data::load_train_test(o.data, data::kDefaultFashionMnistDir, static_cast<uint64_t>(o.seed));
  }
  const Measurement measurement = train(rt, o, data.train);
  const std::vector<int64_t> peak_kib = gather_peak_resident(rt.world());
  if (rt.info().rank != 0) return kExitOk;
  LOCKSTEP_CHECK(!measurement.step_seconds.empty(),
                 "bench_train_throughput: expected " << o.steps << " timed steps, found none");
  const nlohmann::json result = result_json(rt, o, measurement, peak_kib);
  print_table(result);
  if (!o.json.empty()) write_json_file(o.json, result);
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
