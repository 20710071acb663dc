// DataParallel's promise, checked on every rank count the test runs with: N ranks train to the
// weights one process reaches — bit for bit, thanks to fixed micro-batches and gradient sums
// in double (any global batch, also not divisible by N and smaller than N, with Dropout, any
// micro-batch size) — scatter and sharded input agree bit for bit, predict equals one process's
// forward in row order, evaluate reduces metrics exactly, and mismatched models are refused.
#include "lockstep/parallel/data_parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <tuple>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/runtime/device_binding.h"
#include "lockstep/runtime/device_communicator.h"
#include "mpi_test.h"
#include "support/model_values.h"
#include "support/test_support.h"

namespace lockstep::parallel {
namespace {

comm::Communicator& world() { return testing::mpi_world(); }

nlohmann::json model_spec(int64_t hidden = 16) {
  return {{"name", "tiny"},
          {"input_shape", {1, 6, 6}},
          {"layers",
           {{{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", hidden}},
            {{"type", "ReLU"}},
            {{"type", "Dropout"}, {"rate", 0.25}},
            {{"type", "Dense"}, {"units", 4}}}}};
}

// A graph: a convolution whose output feeds a residual branch (Add) and a skip that is joined
// again (Concatenate), with Dropout in the branch.
nlohmann::json graph_spec() {
  return {{"name", "tiny_graph"},
          {"input_shape", {1, 6, 6}},
          {"layers",
           {{{"type", "Conv2D"},
             {"filters", 3},
             {"kernel_size", 3},
             {"padding", "same"},
             {"name", "stem"}},
            {{"type", "ReLU"}},
            {{"type", "Dropout"}, {"rate", 0.25}},
            {{"type", "Conv2D"}, {"filters", 3}, {"kernel_size", 3}, {"padding", "same"}},
            {{"type", "Add"}, {"inputs", {"stem", "3"}}, {"name", "block"}},
            {{"type", "Concatenate"}, {"inputs", {"block", "input"}}},
            {{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 4}}}}};
}

struct Replica {
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<DataParallel> engine;

  Replica(comm::Communicator& communicator, DataParallelOptions options,
          Device device = Device::cpu(), const nlohmann::json& spec = model_spec()) {
    model = nn::build_model(spec, 42);
    engine = std::make_unique<DataParallel>(*model, communicator, device, options);
    engine->compile(std::make_unique<nn::CrossEntropyLoss>(),
                    optim::make_optimizer("sgd", {{"lr", 0.1}, {"momentum", 0.9}}));
  }

  std::vector<float> weights() { return testing::parameter_values(*model); }
};

// max |a - b| / max |b|: the equivalence measure of the design.
double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

// Ten batches per epoch, the last one partial when the batch is larger than 1; three epochs
// give the 30 steps of the promise.
data::Dataset training_set(int64_t batch) {
  return data::make_synthetic(batch > 1 ? 10 * batch - 1 : 10, {1, 6, 6}, 4, 9);
}

FitOptions thirty_steps(int64_t batch) {
  FitOptions options;
  options.epochs = 3;
  options.batch_size = batch;
  options.seed = 17;
  return options;
}

class Equivalence : public ::testing::TestWithParam<std::tuple<int64_t, InputMode>> {};

TEST_P(Equivalence, NRanksTrainToTheOneProcessWeights) {
  const auto [batch, mode] = GetParam();
  const data::Dataset data = training_set(batch);

  auto local = comm::make_local_communicator();
  Replica reference(*local, {});
  reference.engine->fit(data, thirty_steps(batch));
  ASSERT_EQ(reference.engine->step(), 30);

  DataParallelOptions options;
  options.input = mode;
  options.bucket_bytes = 512;  // several buckets
  options.micro_batch = 8;     // several micro-batches per rank at batch 64
  Replica distributed(world(), options);
  const bool holds_data = mode == InputMode::kSharded || world().rank() == 0;
  distributed.engine->fit(holds_data ? data : data::Dataset(), thirty_steps(batch));
  EXPECT_EQ(distributed.engine->step(), 30);
  // The reference used 16-row micro-batches, so this is the float-tolerance promise...
  EXPECT_LE(relative_difference(distributed.weights(), reference.weights()), 1e-5)
      << "batch " << batch << ", " << world().size() << " ranks, input " << input_mode_name(mode);
  // ...and with the same micro-batches, one process gives the very same bits.
  DataParallelOptions same_micro_batches;
  same_micro_batches.micro_batch = 8;
  Replica exact_reference(*local, same_micro_batches);
  exact_reference.engine->fit(data, thirty_steps(batch));
  EXPECT_EQ(distributed.weights(), exact_reference.weights())
      << "batch " << batch << ", " << world().size() << " ranks, input " << input_mode_name(mode);
}

INSTANTIATE_TEST_SUITE_P(BatchesAndInputs, Equivalence,
                         ::testing::Combine(::testing::Values<int64_t>(64, 30, 3),
                                            ::testing::Values(InputMode::kScatter,
                                                              InputMode::kSharded)),
                         [](const auto& param_info) {
                           return "batch" + std::to_string(std::get<0>(param_info.param)) + "_" +
                                  input_mode_name(std::get<1>(param_info.param));
                         });

// Property: the engine takes any layer graph, and N ranks still reach the one-process weights
// bit for bit (gradients meeting at Add and Concatenate are summed in a fixed order, and the
// overlapped reduction follows the graph's backward).
TEST(DataParallelTest, AGraphModelTrainsToTheOneProcessWeightsBitForBit) {
  const data::Dataset data = training_set(30);
  DataParallelOptions options;
  options.bucket_bytes = 256;  // several buckets
  options.micro_batch = 4;
  auto local = comm::make_local_communicator();
  Replica reference(*local, options, Device::cpu(), graph_spec());
  reference.engine->fit(data, thirty_steps(30));
  Replica distributed(world(), options, Device::cpu(), graph_spec());
  distributed.engine->fit(world().rank() == 0 ? data : data::Dataset(), thirty_steps(30));
  EXPECT_EQ(distributed.engine->step(), 30);
  EXPECT_EQ(distributed.weights(), reference.weights()) << world().size() << " ranks";
}

TEST(DataParallelTest, ScatterAndShardedGiveIdenticalWeights) {
  const data::Dataset data = training_set(30);
  DataParallelOptions scatter_options, sharded_options;
  sharded_options.input = InputMode::kSharded;
  Replica scattered(world(), scatter_options), sharded(world(), sharded_options);
  scattered.engine->fit(world().rank() == 0 ? data : data::Dataset(), thirty_steps(30));
  sharded.engine->fit(data, thirty_steps(30));
  EXPECT_EQ(scattered.weights(), sharded.weights());
}

TEST(DataParallelTest, EveryMicroBatchSizeIsWorldSizeInvariant) {
  // 1 is the plain row partition n_r = B/N + (r < B%N); 7 does not divide the batch of 30.
  const data::Dataset data = training_set(30);
  for (int64_t micro_batch : {1, 7, 64}) {
    DataParallelOptions options;
    options.micro_batch = micro_batch;
    auto local = comm::make_local_communicator();
    Replica reference(*local, options), distributed(world(), options);
    reference.engine->fit(data, thirty_steps(30));
    distributed.engine->fit(data, thirty_steps(30));
    EXPECT_EQ(distributed.weights(), reference.weights()) << "micro-batch " << micro_batch;
  }
}

TEST(DataParallelTest, WithoutMicroBatchesNRanksAgreeWithinRounding) {
  // micro_batch 0: rows B/N + (r < B%N) run at once, float sums; still the same training.
  for (int64_t batch : {64, 30, 3}) {
    const data::Dataset data = training_set(batch);
    DataParallelOptions options;
    options.micro_batch = 0;
    auto local = comm::make_local_communicator();
    Replica reference(*local, options), distributed(world(), options);
    reference.engine->fit(data, thirty_steps(batch));
    distributed.engine->fit(data, thirty_steps(batch));
    EXPECT_LE(relative_difference(distributed.weights(), reference.weights()), 1e-5)
        << "batch " << batch;
  }
}

TEST(DataParallelTest, BucketSizeDoesNotChangeTheResult) {
  const data::Dataset data = training_set(30);
  DataParallelOptions one_bucket, many_buckets;
  many_buckets.bucket_bytes = 64;
  Replica a(world(), one_bucket), b(world(), many_buckets);
  a.engine->fit(data, thirty_steps(30));
  b.engine->fit(data, thirty_steps(30));
  EXPECT_EQ(a.weights(), b.weights());
}

TEST(DataParallelTest, OverlappedReductionIsBitwiseRepeatableRunToRun) {
  // Many buckets, each allreduce started inside backward: the result must not depend on when
  // the reductions happened to complete, also on the float path (micro-batch 0).
  const data::Dataset data = training_set(30);
  for (int64_t micro_batch : {0, 8}) {
    DataParallelOptions options;
    options.bucket_bytes = 64;
    options.micro_batch = micro_batch;
    Replica first(world(), options), second(world(), options);
    first.engine->fit(data, thirty_steps(30));
    second.engine->fit(data, thirty_steps(30));
    EXPECT_EQ(first.weights(), second.weights()) << "micro-batch " << micro_batch;
  }
}

TEST(DataParallelTest, OnTheGpuNRanksTrainToTheOneProcessCpuWeights) {
  // The engine's promise with --device cuda: each rank on its GPU (ranks beyond the GPUs share
  // them, gradients then staged through host memory), gradients over NCCL, 30 steps equal the
  // one-process CPU run.
  if (backend::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device answers";
  const runtime::ProcessInfo process{world().rank(), world().size(), world().rank(),
                                     world().size()};
  const runtime::DeviceRequest request{"cuda", true};
  const Device device = runtime::bind_device(request, process);
  runtime::DeviceCommunicator communicator(world(), device,
                                           runtime::shares_gpu(device, request, process));
  const data::Dataset data = training_set(30);
  auto local = comm::make_local_communicator();
  Replica reference(*local, {});
  reference.engine->fit(data, thirty_steps(30));
  DataParallelOptions options;
  options.bucket_bytes = 512;  // several buckets, reduced while backward runs
  Replica distributed(communicator.get(), options, device);
  distributed.engine->fit(data, thirty_steps(30));
  // cuBLAS and OpenBLAS round differently and 30 steps amplify it: a looser bound than the
  // CPU's 1e-5, still far below what a wrong gradient or a skipped rank would give.
  EXPECT_LE(relative_difference(distributed.weights(), reference.weights()), 1e-3)
      << world().size() << " ranks on " << device.str();
}

TEST(DataParallelTest, PredictEqualsOneProcessForwardInRowOrder) {
  for (int64_t rows : {23, 3, 1}) {  // 3 and 1 leave ranks without rows when N > rows
    const data::Dataset data = data::make_synthetic(rows, {1, 6, 6}, 4, 5);
    Replica replica(world(), {});
    const Tensor expected = replica.model->forward(data.inputs(), nn::ForwardContext{});
    const Tensor predicted =
        replica.engine->predict(world().rank() == 0 ? data.inputs() : Tensor(), 4);
    if (world().rank() == 0) {
      EXPECT_TRUE(testing::all_close(predicted, expected, 1e-6, 1e-6)) << rows << " rows";
    } else {
      EXPECT_FALSE(predicted.defined());
    }
  }
}

TEST(DataParallelTest, EvaluateReducesMetricsOverEveryRow) {
  const data::Dataset data = data::make_synthetic(47, {1, 6, 6}, 4, 8);
  auto local = comm::make_local_communicator();
  Replica reference(*local, {});
  Replica distributed(world(), {});
  const Metrics expected = reference.engine->evaluate(data, 10);
  const Metrics got =
      distributed.engine->evaluate(world().rank() == 0 ? data : data::Dataset(), 10);
  EXPECT_EQ(got.samples, 47);
  EXPECT_NEAR(got.loss, expected.loss, 1e-6 * std::abs(expected.loss));
  EXPECT_DOUBLE_EQ(got.accuracy, expected.accuracy);
}

TEST(DataParallelTest, DifferentModelOnOneRankIsAnErrorOnEveryRank) {
  if (world().size() == 1) GTEST_SKIP() << "needs at least two ranks";
  auto model = nn::build_model(model_spec(world().rank() == world().size() - 1 ? 17 : 16), 1);
  EXPECT_THROW(DataParallel(*model, world(), Device::cpu()), Error);
}

TEST(DataParallelTest, RanksStartFromRankZerosWeights) {
  // Each rank seeds its model differently; the engine must broadcast rank 0's weights.
  auto model = nn::build_model(model_spec(), 100 + static_cast<uint64_t>(world().rank()));
  DataParallel engine(*model, world(), Device::cpu());
  auto rank0_model = nn::build_model(model_spec(), 100);
  EXPECT_EQ(testing::parameter_values(*model), testing::parameter_values(*rank0_model));
}

}  // namespace
}  // namespace lockstep::parallel
