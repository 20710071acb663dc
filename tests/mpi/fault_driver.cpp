// A small training job for the fault tests: DataParallel trains a tiny model on synthetic
// data for 8 steps, with LOCKSTEP_FAULT choosing which rank fails how and when. The tests
// check how the whole job ends. Usage: lockstep_fault_driver [COLLECTIVE_TIMEOUT_S]
#include <memory>
#include <string>

#include "lockstep/base/error.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/runtime.h"

using namespace lockstep;

namespace {

constexpr int64_t kBatch = 32;
constexpr int64_t kSteps = 8;

nlohmann::json tiny_spec() {
  return {{"name", "tiny"},
          {"input_shape", {1, 6, 6}},
          {"layers",
           {{{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 16}},
            {{"type", "ReLU"}},
            {{"type", "Dense"}, {"units", 4}}}}};
}

double timeout_argument(int argc, char** argv) {
  if (argc < 2) return parallel::DataParallelOptions{}.collective_timeout_s;
  const std::string text = argv[1];
  size_t used = 0;
  double seconds = -1.0;
  try {
    seconds = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LOCKSTEP_CHECK(used == text.size() && used > 0,
                 "fault_driver: expected a collective timeout in seconds, found '" << text << "'");
  return seconds;
}

int train(runtime::Runtime& runtime, double timeout_s) {
  auto model = nn::build_model(tiny_spec(), 1);
  parallel::DataParallelOptions options;
  options.collective_timeout_s = timeout_s;
  parallel::DataParallel engine(*model, runtime.world(), Device::cpu(), options);
  engine.compile(nn::make_loss("cross_entropy"), optim::make_optimizer("sgd", {{"lr", 0.1}}));
  const data::Dataset data = runtime.info().rank == 0
                                 ? data::make_synthetic(kSteps * kBatch, {1, 6, 6}, 4, 3)
                                 : data::Dataset();
  parallel::FitOptions fit;
  fit.batch_size = kBatch;
  const parallel::Metrics last = engine.fit(data, fit);
  logging::info("fault_driver: %lld steps on %d ranks, loss %.4f",
                static_cast<long long>(engine.step()), runtime.info().size, last.loss);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  runtime::Runtime runtime(&argc, &argv);
  return runtime::run_guarded(runtime,
                              [&] { return train(runtime, timeout_argument(argc, argv)); });
}
