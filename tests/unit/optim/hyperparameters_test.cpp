// hyperparameters() and make_optimizer: the round trip, defaults for absent keys, rejection
// of unknown names, keys and types, and the learning-rate setter used by schedules.
#include <gtest/gtest.h>

#include "lockstep/optim/adam.h"
#include "lockstep/optim/rmsprop.h"
#include "lockstep/optim/sgd.h"
#include "optim_test_helpers.h"

namespace lockstep::optim {
namespace {

using testing::bit_identical;
using testing::make_parameter;
using testing::run_steps;
using testing::throws_mentioning;

std::vector<std::unique_ptr<Optimizer>> non_default_optimizers() {
  std::vector<std::unique_ptr<Optimizer>> out;
  out.push_back(std::make_unique<Sgd>(
      SgdOptions{.lr = 0.3f, .momentum = 0.7f, .weight_decay = 1e-4f, .nesterov = true}));
  out.push_back(std::make_unique<Rmsprop>(
      RmspropOptions{.lr = 0.02f, .rho = 0.8f, .epsilon = 1e-5f, .weight_decay = 0.003f}));
  out.push_back(std::make_unique<Adam>(AdamOptions{
      .lr = 0.004f, .beta1 = 0.85f, .beta2 = 0.995f, .epsilon = 1e-7f, .weight_decay = 0.1f}));
  out.push_back(std::make_unique<AdamW>(AdamWOptions{
      .lr = 0.006f, .beta1 = 0.5f, .beta2 = 0.9f, .epsilon = 1e-6f, .weight_decay = 0.05f}));
  return out;
}

// Property: make_optimizer(name(), hyperparameters()) rebuilds the same optimizer: same name,
// same hyperparameters, and bit-identical updates.
TEST(HyperparametersTest, RoundTripRebuildsTheSameOptimizer) {
  for (const std::unique_ptr<Optimizer>& original : non_default_optimizers()) {
    SCOPED_TRACE(original->name());
    const std::unique_ptr<Optimizer> rebuilt =
        make_optimizer(original->name(), original->hyperparameters());
    EXPECT_EQ(rebuilt->name(), original->name());
    EXPECT_EQ(rebuilt->hyperparameters(), original->hyperparameters());
    nn::Parameter a = make_parameter("w", {5}), b = make_parameter("w", {5});
    run_steps(*original, a, 1, 3, 0.5f);
    run_steps(*rebuilt, b, 1, 3, 0.5f);
    EXPECT_TRUE(bit_identical(a.value, b.value));
  }
}

// Property: hyperparameters() lists every hyperparameter of the rule, by its key.
TEST(HyperparametersTest, ListsEveryHyperparameter) {
  const auto keys = [](const Optimizer& optimizer) {
    std::vector<std::string> out;
    const nlohmann::json json = optimizer.hyperparameters();
    for (const auto& item : json.items()) out.push_back(item.key());
    return out;
  };
  using Keys = std::vector<std::string>;
  EXPECT_EQ(keys(Sgd()), (Keys{"lr", "momentum", "nesterov", "weight_decay"}));
  EXPECT_EQ(keys(Rmsprop()), (Keys{"epsilon", "lr", "rho", "weight_decay"}));
  EXPECT_EQ(keys(Adam()), (Keys{"beta1", "beta2", "epsilon", "lr", "weight_decay"}));
  EXPECT_EQ(keys(AdamW()), (Keys{"beta1", "beta2", "epsilon", "lr", "weight_decay"}));
}

// Property: absent keys take the defaults of the named rule (PyTorch's for SGD and
// Adam/AdamW, Keras's for RMSprop); an empty object or null means all defaults.
TEST(HyperparametersTest, AbsentKeysTakeDefaults) {
  const nlohmann::json sgd = make_optimizer("sgd", {{"momentum", 0.5}})->hyperparameters();
  EXPECT_FLOAT_EQ(sgd["lr"].get<float>(), 0.001f);
  EXPECT_FLOAT_EQ(sgd["momentum"].get<float>(), 0.5f);
  EXPECT_EQ(sgd["nesterov"], false);
  const nlohmann::json rmsprop = make_optimizer("rmsprop", nlohmann::json())->hyperparameters();
  EXPECT_EQ(rmsprop, Rmsprop().hyperparameters());
  EXPECT_FLOAT_EQ(rmsprop["epsilon"].get<float>(), 1e-7f);
  const nlohmann::json adam = make_optimizer("adam", nlohmann::json::object())->hyperparameters();
  EXPECT_EQ(adam, Adam().hyperparameters());
  const nlohmann::json adamw = make_optimizer("adamw", {{"lr", 0.01}})->hyperparameters();
  EXPECT_FLOAT_EQ(adamw["weight_decay"].get<float>(), 0.01f);
  EXPECT_FLOAT_EQ(adamw["lr"].get<float>(), 0.01f);
}

// Property: an unknown optimizer name, an unknown key, a key of the wrong type, a value out
// of range and hyperparameters that are not an object are all rejected with a clear message.
TEST(HyperparametersTest, BadInputThrows) {
  EXPECT_TRUE(throws_mentioning([] { make_optimizer("adagrad", {}); },
                                {"adagrad", "sgd, rmsprop, adam or adamw"}));
  EXPECT_TRUE(throws_mentioning([] { make_optimizer("Adam", {}); }, {"Adam"}));
  EXPECT_TRUE(throws_mentioning(
      [] {
        make_optimizer("adam", {{"learning_rate", 0.1}});
      },
      {"learning_rate", "lr"}));
  EXPECT_TRUE(throws_mentioning(
      [] {
        make_optimizer("sgd", {{"momentum", "high"}});
      },
      {"momentum", "number", "string"}));
  EXPECT_TRUE(throws_mentioning(
      [] {
        make_optimizer("sgd", {{"nesterov", 1}});
      },
      {"nesterov", "true or false"}));
  EXPECT_TRUE(throws_mentioning(
      [] {
        make_optimizer("rmsprop", {{"rho", 1.5}});
      },
      {"rho", "[0, 1)"}));
  EXPECT_TRUE(throws_mentioning(
      [] {
        make_optimizer("adam", {{"lr", 1e300}});
      },
      {"lr", "finite float"}));
  EXPECT_TRUE(throws_mentioning(
      [] {
        make_optimizer("adam", nlohmann::json::array({1, 2}));
      },
      {"JSON object", "array"}));
}

// Property: set_learning_rate changes the rate used by the next step and the one reported by
// learning_rate() and hyperparameters(); a rate <= 0 or not finite is rejected and ignored.
TEST(HyperparametersTest, SetLearningRate) {
  for (const std::unique_ptr<Optimizer>& optimizer : non_default_optimizers()) {
    SCOPED_TRACE(optimizer->name());
    optimizer->set_learning_rate(0.125f);
    EXPECT_EQ(optimizer->learning_rate(), 0.125f);
    EXPECT_FLOAT_EQ(optimizer->hyperparameters()["lr"].get<float>(), 0.125f);
    EXPECT_TRUE(throws_mentioning([&] { optimizer->set_learning_rate(0.0f); }, {"learning rate"}));
    EXPECT_TRUE(
        throws_mentioning([&] { optimizer->set_learning_rate(std::nanf("")); }, {"learning rate"}));
    EXPECT_EQ(optimizer->learning_rate(), 0.125f);
  }
  nn::Parameter p{"w", Tensor::full({1}, 1.0f), Tensor::full({1}, 1.0f)};
  Sgd sgd({.lr = 0.5f});
  sgd.set_learning_rate(0.25f);
  sgd.step({&p}, 1.0f);
  EXPECT_FLOAT_EQ(p.value.at({0}), 0.75f);
}

}  // namespace
}  // namespace lockstep::optim
