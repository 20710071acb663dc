// Desync detection: ranks about to run different training (one a step ahead, another gradient
// bucket layout, another epoch length) stop before the first step, and a rank that gets out
// of step during fit stops every rank at the next step boundary. In each case every rank
// throws the same lockstep::Error naming what differs and each rank's value, and no gradient
// of the mismatched step is reduced (the weights stay as they were).
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
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
bool last_rank() { return world().rank() == world().size() - 1; }

nlohmann::json model_spec() {
  return {{"name", "tiny"},
          {"input_shape", {1, 4, 4}},
          {"layers",
           {{{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 8}},
            {{"type", "ReLU"}},
            {{"type", "Dense"}, {"units", 3}}}}};
}

struct Replica {
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<DataParallel> engine;

  explicit Replica(DataParallelOptions options = {}) {
    model = nn::build_model(model_spec(), 5);
    engine = std::make_unique<DataParallel>(*model, world(), Device::cpu(), options);
    engine->compile(nn::make_loss("cross_entropy"), optim::make_optimizer("sgd", {{"lr", 0.1}}));
  }

  std::vector<float> weights() const { return testing::parameter_values(*model); }
};

FitOptions four_steps() {
  FitOptions options;
  options.batch_size = 8;
  options.seed = 3;
  return options;
}

// The message of the Error fit throws ("" when it does not throw).
std::string fit_error(Replica& replica, const FitOptions& options,
                      const StepCallback& on_step = {}) {
  const data::Dataset data = data::make_synthetic(32, {1, 4, 4}, 3, 11);
  try {
    replica.engine->fit(data, options, on_step);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

// "name: rank 0 has a, rank 1 has a, ..., rank N-1 has b": the last rank differs.
std::string last_rank_differs(const std::string& name, int64_t others, int64_t last) {
  std::ostringstream text;
  text << name << ": ";
  for (int r = 0; r < world().size(); ++r) {
    text << (r > 0 ? ", " : "") << "rank " << r << " has "
         << (r == world().size() - 1 ? last : others);
  }
  return text.str();
}

// Every rank threw the very same message.
void expect_same_on_every_rank(const std::string& message) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : message) hash = (hash ^ c) * 1099511628211ull;
  std::vector<uint64_t> all(static_cast<size_t>(world().size()));
  world().allgather(&hash, sizeof(hash), all.data());
  for (uint64_t h : all) EXPECT_EQ(h, all[0]) << message;
}

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "expected '" << part << "' in: " << message;
}

TEST(Desync, RankAStepAheadIsRefusedBeforeTheFirstStep) {
  if (world().size() == 1) GTEST_SKIP() << "needs at least two ranks";
  Replica replica;
  if (last_rank()) replica.engine->set_step(1);
  const std::vector<float> before = replica.weights();
  const std::string message = fit_error(replica, four_steps());
  expect_contains(message, "ranks disagree on the training they are about to run");
  expect_contains(message, last_rank_differs("step", 0, 1));
  EXPECT_EQ(replica.weights(), before);
  expect_same_on_every_rank(message);
}

TEST(Desync, DifferentBucketLayoutIsRefusedBeforeTheFirstStep) {
  if (world().size() == 1) GTEST_SKIP() << "needs at least two ranks";
  DataParallelOptions options;
  if (last_rank()) options.bucket_bytes = 64;  // the same gradients cut into more buckets
  Replica replica(options);
  const std::string message = fit_error(replica, four_steps());
  expect_contains(message, last_rank_differs("gradient buckets", 1, 4));
  expect_contains(message, "gradient bucket layout");
  EXPECT_EQ(message.find("gradient elements"), std::string::npos) << message;
  expect_same_on_every_rank(message);
}

TEST(Desync, DifferentEpochLengthIsRefusedBeforeTheFirstStep) {
  if (world().size() == 1) GTEST_SKIP() << "needs at least two ranks";
  Replica replica;
  FitOptions options = four_steps();
  if (last_rank()) options.batch_size = 16;
  const std::string message = fit_error(replica, options);
  expect_contains(message, last_rank_differs("batches per epoch", 4, 2));
  expect_contains(message, last_rank_differs("batch size", 8, 16));
  expect_same_on_every_rank(message);
}

TEST(Desync, RankOutOfStepDuringFitStopsEveryRankAtTheNextStep) {
  if (world().size() == 1) GTEST_SKIP() << "needs at least two ranks";
  Replica replica;
  std::vector<float> after_step_two;
  const std::string message = fit_error(replica, four_steps(), [&](const StepReport& report) {
    if (report.step != 2) return FitControl::kContinue;
    after_step_two = replica.weights();
    if (last_rank()) replica.engine->set_step(3);  // as if it had run a step more
    return FitControl::kContinue;
  });
  expect_contains(message, "ranks are out of step at the start of a step");
  expect_contains(message, last_rank_differs("step", 3, 4));
  // Step 3 never reduced its gradients nor moved the weights.
  EXPECT_EQ(replica.weights(), after_step_two);
  expect_same_on_every_rank(message);
}

TEST(Desync, AgreeingRanksTrainEveryStep) {
  Replica replica;
  EXPECT_EQ(fit_error(replica, four_steps()), "");
  EXPECT_EQ(replica.engine->step(), 4);
}

}  // namespace
}  // namespace lockstep::parallel
