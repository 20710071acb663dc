// Trainer: the single-process loop learns, is deterministic for a seed, evaluates every row
// including a partial last batch, and predicts in row order.
#include <gtest/gtest.h>

#include "lockstep/core/error.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/sequential.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/trainer.h"
#include "support/test_support.h"

namespace lockstep::parallel {
namespace {

nlohmann::json small_spec(double dropout_rate) {
  return {{"name", "small"},
          {"input_shape", {1, 4, 4}},
          {"layers",
           {{{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 16}},
            {{"type", "ReLU"}},
            {{"type", "Dropout"}, {"rate", dropout_rate}},
            {{"type", "Dense"}, {"units", 3}}}}};
}

struct TrainingRun {
  std::unique_ptr<nn::Sequential> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  nn::CrossEntropyLoss loss;
  std::unique_ptr<Trainer> trainer;

  explicit TrainingRun(uint64_t seed, double dropout_rate = 0.0) {
    model = nn::build_model(small_spec(dropout_rate), seed);
    optimizer = optim::make_optimizer("adam", {{"lr", 0.01}});
    trainer = std::make_unique<Trainer>(*model, loss, *optimizer, Device::cpu());
  }
};

std::vector<float> weights_of(nn::Sequential& model) {
  std::vector<float> all;
  for (nn::Parameter* p : model.parameters()) {
    const std::vector<float> v = p->value.to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

TEST(TrainerTest, LearnsASyntheticTeacher) {
  const data::Dataset data = data::make_synthetic(600, {1, 4, 4}, 3, 7);
  TrainingRun run(1);
  const Metrics before = run.trainer->evaluate(data, 100);
  TrainConfig config;
  config.batch_size = 32;
  for (int64_t epoch = 0; epoch < 30; ++epoch) run.trainer->train_epoch(data, epoch, config);
  const Metrics after = run.trainer->evaluate(data, 100);
  EXPECT_LT(after.loss, 0.5 * before.loss);
  EXPECT_GT(after.accuracy, 0.85);
  EXPECT_EQ(run.trainer->step(), 30 * 19);  // ceil(600 / 32) steps per epoch, last one partial
}

TEST(TrainerTest, SameSeedGivesIdenticalWeightsWithDropout) {
  const data::Dataset data = data::make_synthetic(100, {1, 4, 4}, 3, 3);
  TrainConfig config;
  config.batch_size = 16;
  config.seed = 5;
  TrainingRun a(2, 0.3), b(2, 0.3), c(2, 0.3);
  a.trainer->train_epoch(data, 0, config);
  b.trainer->train_epoch(data, 0, config);
  config.seed = 6;  // another data order and other dropout masks
  c.trainer->train_epoch(data, 0, config);
  EXPECT_EQ(weights_of(*a.model), weights_of(*b.model));
  EXPECT_NE(weights_of(*a.model), weights_of(*c.model));
}

TEST(TrainerTest, EvaluateCountsEveryRowWhateverTheBatchSize) {
  const data::Dataset data = data::make_synthetic(50, {1, 4, 4}, 3, 11);
  TrainingRun run(3);
  const Metrics whole = run.trainer->evaluate(data, 1000);
  const Metrics pieces = run.trainer->evaluate(data, 7);  // 7 batches of 7 and one of 1
  EXPECT_EQ(whole.samples, 50);
  EXPECT_EQ(pieces.samples, 50);
  EXPECT_NEAR(pieces.loss, whole.loss, 1e-6 * std::abs(whole.loss));
  EXPECT_DOUBLE_EQ(pieces.accuracy, whole.accuracy);
}

TEST(TrainerTest, PredictKeepsRowOrder) {
  const data::Dataset data = data::make_synthetic(23, {1, 4, 4}, 3, 13);
  TrainingRun run(4, 0.5);  // Dropout must be inactive in prediction
  const Tensor expected = run.model->forward(data.inputs(), nn::ForwardContext{});
  const Tensor predicted = run.trainer->predict(data.inputs(), 5);
  EXPECT_TRUE(testing::all_close(predicted, expected, 1e-6, 1e-7));
}

TEST(TrainerTest, RejectsNonPositiveBatchSize) {
  const data::Dataset data = data::make_synthetic(10, {1, 4, 4}, 3, 1);
  TrainingRun run(5);
  TrainConfig config;
  config.batch_size = 0;
  EXPECT_THROW(run.trainer->train_epoch(data, 0, config), Error);
  EXPECT_THROW(run.trainer->evaluate(data, -1), Error);
}

}  // namespace
}  // namespace lockstep::parallel
