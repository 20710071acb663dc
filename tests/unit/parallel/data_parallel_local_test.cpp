// DataParallel in one process (local communicator): it learns, is deterministic for a seed,
// evaluates every row including a partial last batch, predicts in row order, resumes
// mid-epoch exactly, and validates its arguments.
#include <gtest/gtest.h>

#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/optim/slot_optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "support/model_values.h"
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
  std::unique_ptr<comm::Communicator> local = comm::make_local_communicator();
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<DataParallel> trainer;

  explicit TrainingRun(uint64_t seed, double dropout_rate = 0.0) {
    model = nn::build_model(small_spec(dropout_rate), seed);
    trainer = std::make_unique<DataParallel>(*model, *local, Device::cpu());
    trainer->compile(std::make_unique<nn::CrossEntropyLoss>(),
                     optim::make_optimizer("adam", {{"lr", 0.01}}));
  }
};

std::vector<float> weights_of(nn::Model& model) { return testing::parameter_values(model); }

TEST(LocalDataParallelTest, LearnsASyntheticTeacher) {
  const data::Dataset data = data::make_synthetic(600, {1, 4, 4}, 3, 7);
  TrainingRun run(1);
  const Metrics before = run.trainer->evaluate(data, 100);
  FitOptions options;
  options.batch_size = 32;
  options.epochs = 30;
  run.trainer->fit(data, options);
  const Metrics after = run.trainer->evaluate(data, 100);
  EXPECT_LT(after.loss, 0.5 * before.loss);
  EXPECT_GT(after.accuracy, 0.85);
  EXPECT_EQ(run.trainer->step(), 30 * 19);  // ceil(600 / 32) steps per epoch, last one partial
}

// The engine lays each bucket's parameter values end to end (as their grads), so the
// optimizer updates a bucket in one fused call; the weights equal those of a model trained
// outside the engine with one call per parameter, bit for bit.
TEST(LocalDataParallelTest, OptimizerUpdatesEachBucketInOneFusedCall) {
  const data::Dataset data = data::make_synthetic(64, {1, 4, 4}, 3, 7);
  for (const int64_t bucket_bytes : {int64_t{25} << 20, int64_t{256}}) {
    SCOPED_TRACE(::testing::Message() << "buckets of " << bucket_bytes << " bytes");
    std::unique_ptr<comm::Communicator> local = comm::make_local_communicator();
    std::unique_ptr<nn::Model> model = nn::build_model(small_spec(0.0), 3);
    DataParallelOptions options;
    options.bucket_bytes = bucket_bytes;
    options.micro_batch = 0;
    DataParallel trainer(*model, *local, Device::cpu(), options);
    trainer.compile(std::make_unique<nn::CrossEntropyLoss>(),
                    optim::make_optimizer("adam", {{"lr", 0.01}}));
    FitOptions fit;
    fit.batch_size = 32;
    fit.shuffle = false;
    trainer.fit(data, fit);
    // Four parameters (two Dense layers, last first): one bucket, or buckets of 64 floats:
    // 4.bias and 4.weight (3 + 48), then 1.bias (16) alone, then 1.weight (256) alone.
    const auto& optimizer = dynamic_cast<const optim::SlotOptimizer&>(trainer.optimizer());
    EXPECT_EQ(optimizer.updates_last_step(), bucket_bytes > 1000 ? 1u : 3u);

    std::unique_ptr<nn::Model> reference = nn::build_model(small_spec(0.0), 3);
    std::unique_ptr<optim::Optimizer> reference_optimizer =
        optim::make_optimizer("adam", {{"lr", 0.01}});
    nn::CrossEntropyLoss loss;
    for (int64_t first = 0; first < 64; first += 32) {
      nn::ForwardContext context;
      context.training = true;
      Tensor grad;
      loss.forward_backward(reference->forward(data.inputs().rows(first, first + 32), context),
                            data.labels().rows(first, first + 32), grad);
      reference->backward(grad);
      reference_optimizer->step(reference->parameters(), 1.0f / 32.0f);
    }
    EXPECT_EQ(weights_of(*model), weights_of(*reference));
  }
}

TEST(LocalDataParallelTest, SameSeedGivesIdenticalWeightsWithDropout) {
  const data::Dataset data = data::make_synthetic(100, {1, 4, 4}, 3, 3);
  FitOptions options;
  options.batch_size = 16;
  options.seed = 5;
  TrainingRun a(2, 0.3), b(2, 0.3), c(2, 0.3);
  a.trainer->fit(data, options);
  b.trainer->fit(data, options);
  options.seed = 6;  // another data order and other dropout masks
  c.trainer->fit(data, options);
  EXPECT_EQ(weights_of(*a.model), weights_of(*b.model));
  EXPECT_NE(weights_of(*a.model), weights_of(*c.model));
}

TEST(LocalDataParallelTest, EvaluateCountsEveryRowWhateverTheBatchSize) {
  const data::Dataset data = data::make_synthetic(50, {1, 4, 4}, 3, 11);
  TrainingRun run(3);
  const Metrics whole = run.trainer->evaluate(data, 1000);
  const Metrics pieces = run.trainer->evaluate(data, 7);  // 7 batches of 7 and one of 1
  EXPECT_EQ(whole.samples, 50);
  EXPECT_EQ(pieces.samples, 50);
  EXPECT_NEAR(pieces.loss, whole.loss, 1e-6 * std::abs(whole.loss));
  EXPECT_DOUBLE_EQ(pieces.accuracy, whole.accuracy);
}

TEST(LocalDataParallelTest, PredictKeepsRowOrder) {
  const data::Dataset data = data::make_synthetic(23, {1, 4, 4}, 3, 13);
  TrainingRun run(4, 0.5);  // Dropout must be inactive in prediction
  const Tensor expected = run.model->forward(data.inputs(), nn::ForwardContext{});
  const Tensor predicted = run.trainer->predict(data.inputs(), 5);
  EXPECT_TRUE(testing::all_close(predicted, expected, 1e-6, 1e-7));
}

TEST(LocalDataParallelTest, RejectsNonPositiveBatchSize) {
  const data::Dataset data = data::make_synthetic(10, {1, 4, 4}, 3, 1);
  TrainingRun run(5);
  FitOptions options;
  options.batch_size = 0;
  EXPECT_THROW(run.trainer->fit(data, options), Error);
  EXPECT_THROW(run.trainer->evaluate(data, -1), Error);
  EXPECT_THROW(run.trainer->predict(data.inputs(), 0), Error);
  options.batch_size = 4;
  options.initial_batch = 4;  // an epoch of 10 samples has only 3 batches
  EXPECT_THROW(run.trainer->fit(data, options), Error);
}

TEST(LocalDataParallelTest, RejectsDataOfAnotherShapeNamingBoth) {
  const data::Dataset data = data::make_synthetic(10, {1, 5, 5}, 3, 1);
  TrainingRun run(5);
  try {
    run.trainer->fit(data, FitOptions{});
    FAIL() << "fit accepted [1, 5, 5] samples for a [1, 4, 4] model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 5, 5]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[1, 4, 4]"), std::string::npos) << e.what();
  }
}

TEST(LocalDataParallelTest, UncompiledEngineRefusesToTrain) {
  auto local = comm::make_local_communicator();
  auto model = nn::build_model(small_spec(0.0), 1);
  DataParallel engine(*model, *local, Device::cpu());
  EXPECT_THROW(engine.fit(data::make_synthetic(10, {1, 4, 4}, 3, 1), FitOptions{}), Error);
}

// A GPU's gradients need a communicator that moves device memory; one that moves host memory
// only is refused by its capability, before any collective or device work (so no GPU is
// needed to see it).
TEST(LocalDataParallelTest, AGpuWithAHostOnlyCommunicatorIsRefused) {
  auto local = comm::make_local_communicator();
  ASSERT_FALSE(local->moves_device_memory());
  auto model = nn::build_model(small_spec(0.0), 1);
  try {
    DataParallel engine(*model, *local, Device::cuda(0));
    FAIL() << "DataParallel accepted the local communicator for cuda:0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("need a communicator that moves device memory"),
              std::string::npos)
        << e.what();
  }
}

TEST(LocalDataParallelTest, ResumingMidEpochGivesTheUninterruptedWeights) {
  // Two epochs straight equal 1.5 epochs, then a fresh engine given the weights, optimizer
  // state and step that continues from batch 3 of epoch 1 (Dropout active).
  const data::Dataset data = data::make_synthetic(100, {1, 4, 4}, 3, 21);
  FitOptions options;
  options.batch_size = 16;  // 7 batches per epoch
  options.epochs = 2;
  TrainingRun straight(6, 0.3);
  straight.trainer->fit(data, options);

  TrainingRun first(6, 0.3);
  const int64_t stop_after = 7 + 3;
  first.trainer->fit(data, options, [&](const StepReport& r) {
    return r.step == stop_after ? FitControl::kStop : FitControl::kContinue;
  });
  TrainingRun resumed(99, 0.3);
  for (size_t i = 0; i < resumed.model->parameters().size(); ++i) {
    resumed.model->parameters()[i]->value.copy_from(first.model->parameters()[i]->value);
  }
  resumed.trainer->optimizer().load_state(first.trainer->optimizer().state(),
                                          resumed.model->parameters());
  resumed.trainer->set_step(first.trainer->step());
  options.initial_epoch = 1;
  options.initial_batch = 3;
  resumed.trainer->fit(data, options);
  EXPECT_EQ(resumed.trainer->step(), straight.trainer->step());
  EXPECT_EQ(weights_of(*resumed.model), weights_of(*straight.model));
}

}  // namespace
}  // namespace lockstep::parallel
