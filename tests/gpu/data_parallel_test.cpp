// DataParallel on the GPU, as the apps and benchmarks run it on one rank: through
// runtime::DeviceCommunicator (NCCL, or the host-staged communicator when ranks share a GPU)
// over a local world. fit with scatter input (the next batch prefetched with start_scatterv
// while a step runs) and sharded input, with micro-batches and whole batches, reaches the
// weights the CPU engine reaches within 1e-4 relative, and evaluate and predict agree with the
// CPU. Every test skips when no GPU answers.
#include "lockstep/parallel/data_parallel.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/runtime/device_communicator.h"

namespace lockstep::gpu_testing {
namespace {

constexpr uint64_t kModelSeed = 7;
constexpr int64_t kBatch = 24;

nlohmann::json model_spec() {
  return {{"name", "tiny"},
          {"input_shape", {1, 6, 6}},
          {"layers",
           {{{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 32}},
            {{"type", "ReLU"}},
            {{"type", "Dropout"}, {"rate", 0.25}},
            {{"type", "Dense"}, {"units", 4}}}}};
}

// Eight batches per epoch, the last one partial; two epochs.
data::Dataset training_set() { return data::make_synthetic(8 * kBatch - 5, {1, 6, 6}, 4, 3); }

struct Outcome {
  std::vector<float> initial_weights;
  std::vector<float> weights;
  parallel::Metrics fit_metrics;
  parallel::Metrics evaluation;
  std::vector<float> predictions;
  int64_t steps = 0;
};

// Trains two epochs with SGD and momentum on `device`, then evaluates and predicts. The
// learning rate is small for the reason training_test.cpp gives (a ReLU sign flipped by
// cuBLAS's rounding is a jump proportional to it).
Outcome train(const Device& device, bool gpus_shared, parallel::DataParallelOptions options) {
  const std::unique_ptr<comm::Communicator> world = comm::make_local_communicator();
  runtime::DeviceCommunicator communicator(*world, device, gpus_shared);
  std::unique_ptr<nn::Model> model = nn::build_model(model_spec(), kModelSeed);
  Outcome outcome;
  outcome.initial_weights = model_weights(*model);
  parallel::DataParallel engine(*model, communicator.get(), device, options);
  engine.compile(std::make_unique<nn::CrossEntropyLoss>(),
                 optim::make_optimizer("sgd", {{"lr", 0.005}, {"momentum", 0.9}}));
  const data::Dataset data = training_set();
  parallel::FitOptions fit;
  fit.epochs = 2;
  fit.batch_size = kBatch;
  fit.seed = 3;
  outcome.fit_metrics = engine.fit(data, fit);
  outcome.steps = engine.step();
  outcome.weights = model_weights(*model);
  outcome.evaluation = engine.evaluate(data, 40);
  outcome.predictions = engine.predict(data.inputs(), 40).to_vector();
  return outcome;
}

void expect_same_as_cpu(bool gpus_shared, parallel::DataParallelOptions options) {
  const Outcome cpu_run = train(Device::cpu(), false, options);
  const Outcome gpu_run = train(gpu_device(), gpus_shared, options);
  EXPECT_EQ(gpu_run.steps, 16);
  EXPECT_EQ(gpu_run.steps, cpu_run.steps);
  // Training moved the weights far beyond the tolerance.
  EXPECT_GT(relative_error(cpu_run.weights, cpu_run.initial_weights), 5e-3);
  EXPECT_LE(relative_error(gpu_run.weights, cpu_run.weights), 1e-4);
  EXPECT_NEAR(gpu_run.fit_metrics.loss, cpu_run.fit_metrics.loss, 1e-4 * cpu_run.fit_metrics.loss);
  EXPECT_EQ(gpu_run.fit_metrics.samples, cpu_run.fit_metrics.samples);
  EXPECT_NEAR(gpu_run.evaluation.loss, cpu_run.evaluation.loss, 1e-4 * cpu_run.evaluation.loss);
  EXPECT_EQ(gpu_run.evaluation.samples, training_set().size());
  EXPECT_LE(relative_error(gpu_run.predictions, cpu_run.predictions), 1e-4);
}

class GpuDataParallelTest : public GpuTest {};

parallel::DataParallelOptions options(parallel::InputMode input, int64_t micro_batch) {
  parallel::DataParallelOptions o;
  o.input = input;
  o.micro_batch = micro_batch;
  o.bucket_bytes = 1024;  // several buckets: reductions start while backward goes on
  o.collective_timeout_s = 120.0;
  return o;
}

TEST_F(GpuDataParallelTest, ScatterInputOverNcclReachesTheCpuWeights) {
  expect_same_as_cpu(false, options(parallel::InputMode::kScatter, 16));
}

TEST_F(GpuDataParallelTest, WholeBatchesOverNcclReachTheCpuWeights) {
  expect_same_as_cpu(false, options(parallel::InputMode::kScatter, 0));
}

TEST_F(GpuDataParallelTest, ShardedInputOverNcclReachesTheCpuWeights) {
  expect_same_as_cpu(false, options(parallel::InputMode::kSharded, 16));
}

TEST_F(GpuDataParallelTest, ASharedGpuStagesThroughTheHostAndReachesTheCpuWeights) {
  expect_same_as_cpu(true, options(parallel::InputMode::kScatter, 16));
}

}  // namespace
}  // namespace lockstep::gpu_testing
