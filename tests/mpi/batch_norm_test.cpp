// BatchNorm across ranks: in both modes N ranks train to the weights and running statistics of
// one process bit for bit (sync: statistics of the whole step gathered from every rank; ghost:
// each micro-batch its own), also with batches not divisible by N and smaller than N (ranks
// without rows still join every gather), and the synced statistics are those of the whole
// global batch, not of each rank's share.
#include "lockstep/nn/batch_norm.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "mpi_test.h"
#include "support/model_values.h"

namespace lockstep::parallel {
namespace {

comm::Communicator& world() { return testing::mpi_world(); }

// A residual block with BatchNorm over image channels, and one over the features of a Dense.
nlohmann::json batch_norm_spec(const std::string& mode) {
  return {{"name", "tiny_bn"},
          {"input_shape", {1, 6, 6}},
          {"layers",
           {{{"type", "Conv2D"}, {"filters", 3}, {"kernel_size", 3}, {"padding", "same"}},
            {{"type", "BatchNorm"}, {"mode", mode}},
            {{"type", "ReLU"}, {"name", "stem"}},
            {{"type", "Conv2D"}, {"filters", 3}, {"kernel_size", 3}, {"padding", "same"}},
            {{"type", "BatchNorm"}, {"mode", mode}, {"momentum", 0.3}},
            {{"type", "Add"}, {"inputs", {"stem", "4"}}},
            {{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 8}},
            {{"type", "BatchNorm"}, {"mode", mode}},
            {{"type", "Tanh"}},
            {{"type", "Dense"}, {"units", 4}}}}};
}

struct Trainee {
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<DataParallel> engine;

  Trainee(comm::Communicator& communicator, const std::string& mode, int64_t micro_batch) {
    model = nn::build_model(batch_norm_spec(mode), 3);
    DataParallelOptions options;
    options.micro_batch = micro_batch;
    options.bucket_bytes = 256;  // several buckets, started between the BatchNorm gathers
    engine = std::make_unique<DataParallel>(*model, communicator, Device::cpu(), options);
    engine->compile(std::make_unique<nn::CrossEntropyLoss>(),
                    optim::make_optimizer("sgd", {{"lr", 0.05}, {"momentum", 0.9}}));
  }

  // Every parameter, then every buffer.
  std::vector<float> state() { return testing::parameter_and_buffer_values(*model); }
};

FitOptions epochs(int64_t batch) {
  FitOptions options;
  options.epochs = 2;
  options.batch_size = batch;
  options.seed = 11;
  return options;
}

class BatchNormAcrossRanks
    : public ::testing::TestWithParam<std::tuple<std::string, int64_t, int64_t>> {};

TEST_P(BatchNormAcrossRanks, NRanksReachTheOneProcessWeightsAndStatistics) {
  const auto [mode, batch, micro_batch] = GetParam();
  const data::Dataset data = data::make_synthetic(8 * batch - 1, {1, 6, 6}, 4, 5);
  auto local = comm::make_local_communicator();
  Trainee reference(*local, mode, micro_batch);
  reference.engine->fit(data, epochs(batch));
  Trainee distributed(world(), mode, micro_batch);
  distributed.engine->fit(world().rank() == 0 ? data : data::Dataset(), epochs(batch));
  EXPECT_EQ(distributed.engine->step(), reference.engine->step());
  EXPECT_EQ(distributed.state(), reference.state())
      << mode << ", batch " << batch << ", micro-batch " << micro_batch << ", " << world().size()
      << " ranks";
  // Evaluation normalises every rank's rows with the same running statistics (all rows at
  // once, so equal within the rounding of the loss sums, not to the bit).
  const Metrics a = reference.engine->evaluate(data, 17);
  const Metrics b = distributed.engine->evaluate(world().rank() == 0 ? data : data::Dataset(), 17);
  EXPECT_NEAR(a.loss, b.loss, 1e-5 * a.loss);
}

INSTANTIATE_TEST_SUITE_P(ModesAndBatches, BatchNormAcrossRanks,
                         ::testing::Values(std::make_tuple("sync", 30, 4),
                                           std::make_tuple("sync", 3, 1),
                                           std::make_tuple("ghost", 30, 4),
                                           std::make_tuple("ghost", 24, 16),
                                           std::make_tuple("sync", 24, 16)),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) + "_batch" +
                                  std::to_string(std::get<1>(param_info.param)) + "_micro" +
                                  std::to_string(std::get<2>(param_info.param));
                         });

// Sync statistics are the global batch's: on N ranks a step's running mean moves towards the
// mean of all rows, which a rank alone (its own rows only) would not give.
TEST(BatchNormAcrossRanksTest, SyncStatisticsAreThoseOfTheGlobalBatch) {
  nlohmann::json spec = {
      {"name", "bn_only"},
      {"input_shape", {2}},
      {"layers", {{{"type", "BatchNorm"}, {"momentum", 1.0}}, {{"type", "Dense"}, {"units", 2}}}}};
  auto model = nn::build_model(spec, 1);
  DataParallelOptions one_row_passes;
  one_row_passes.micro_batch = 1;  // every rank holds rows of the batch
  DataParallel engine(*model, world(), Device::cpu(), one_row_passes);
  engine.compile(std::make_unique<nn::CrossEntropyLoss>(),
                 optim::make_optimizer("sgd", {{"lr", 1e-9}}));
  // One batch of 8 rows: feature 0 is the row index, feature 1 its square.
  std::vector<float> inputs, labels;
  for (int i = 0; i < 8; ++i) {
    inputs.push_back(static_cast<float>(i));
    inputs.push_back(static_cast<float>(i * i));
    labels.push_back(static_cast<float>(i % 2));
  }
  data::Dataset data(Tensor::from_vector({8, 2}, inputs), Tensor::from_vector({8}, labels));
  FitOptions options;
  options.batch_size = 8;
  options.shuffle = false;
  engine.fit(world().rank() == 0 ? data : data::Dataset(), options);
  // momentum 1: the running mean is the step's mean, (0+...+7)/8 and (0+1+...+49)/8.
  auto& bn = dynamic_cast<nn::BatchNorm&>(model->layer(0));
  EXPECT_EQ(bn.running_mean().value.to_vector(), (std::vector<float>{3.5f, 17.5f}));
}

}  // namespace
}  // namespace lockstep::parallel
