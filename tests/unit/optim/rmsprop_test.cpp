// Rmsprop against the rule documented in backend.h for Keras's RMSprop, computed in double,
// plus its defaults, state layout and hyperparameter checks.
#include "lockstep/optim/rmsprop.h"

#include <gtest/gtest.h>

#include <cmath>

#include "optim_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::optim {
namespace {

using testing::gradient_at;
using testing::initial_values;
using testing::make_parameter;
using testing::run_steps;
using testing::throws_mentioning;
using testing::to_tensor;

// In double: g = s*grad + wd*p; ms = rho*ms + (1-rho)*g^2; p -= lr*g / (sqrt(ms) + eps).
std::vector<double> reference_rmsprop(const RmspropOptions& o, float grad_scale, int n, int steps,
                                      float magnitude) {
  const std::vector<float> start = initial_values(n);
  std::vector<double> p(start.begin(), start.end()), ms(static_cast<size_t>(n), 0.0);
  const double lr = o.lr, rho = o.rho, eps = o.epsilon, wd = o.weight_decay;
  for (int t = 1; t <= steps; ++t) {
    const std::vector<float> grad = gradient_at(t, n, magnitude);
    for (size_t i = 0; i < p.size(); ++i) {
      const double g = double{grad_scale} * grad[i] + wd * p[i];
      ms[i] = rho * ms[i] + (1.0 - rho) * g * g;
      p[i] -= lr * g / (std::sqrt(ms[i]) + eps);
    }
  }
  return p;
}

void expect_matches_reference(const RmspropOptions& options, float grad_scale, int steps,
                              float magnitude) {
  const Shape shape{5};
  nn::Parameter parameter = make_parameter("w", shape);
  Rmsprop rmsprop(options);
  run_steps(rmsprop, parameter, 1, steps, grad_scale, magnitude);
  EXPECT_TRUE(::lockstep::testing::all_close(
      parameter.value,
      to_tensor(shape, reference_rmsprop(options, grad_scale, 5, steps, magnitude))));
}

// Property: Keras's defaults are lr 0.001, rho 0.9, epsilon 1e-7, no weight decay.
TEST(RmspropTest, DefaultsAreKeras) {
  const Rmsprop rmsprop;
  EXPECT_FLOAT_EQ(rmsprop.options().lr, 0.001f);
  EXPECT_FLOAT_EQ(rmsprop.options().rho, 0.9f);
  EXPECT_FLOAT_EQ(rmsprop.options().epsilon, 1e-7f);
  EXPECT_FLOAT_EQ(rmsprop.options().weight_decay, 0.0f);
  EXPECT_EQ(rmsprop.slot_names(), (std::vector<std::string>{"mean_square"}));
}

// Property: the first step from ms = 0 moves each element by lr * g / (sqrt(0.1 g^2) + eps),
// about lr * sqrt(10) = 0.0316228 against the sign of g (by hand, rho 0.9, lr 0.01).
TEST(RmspropTest, FirstStepByHand) {
  nn::Parameter p{"w", Tensor::full({1}, 1.0f), Tensor::full({1}, 6.0f)};
  Rmsprop rmsprop({.lr = 0.01f});
  rmsprop.step({&p}, 0.5f);
  EXPECT_NEAR(p.value.at({0}), 1.0f - 0.0316228f, 1e-6);
}

// Property: with grad_scale and the default hyperparameters the trajectory follows the rule.
TEST(RmspropTest, MatchesRuleWithGradScale) {
  expect_matches_reference({.lr = 0.01f}, 0.25f, 4, 2.0f);
}

// Property: with L2 weight decay and a large epsilon next to small gradients, the placement
// of epsilon (added to sqrt(ms)) and of the decay term is what the rule says.
TEST(RmspropTest, MatchesRuleWithWeightDecayAndLargeEpsilon) {
  expect_matches_reference({.lr = 0.02f, .rho = 0.8f, .epsilon = 0.01f, .weight_decay = 0.05f},
                           0.1f, 5, 0.5f);
}

// Property: the slot is "<param>.mean_square" and holds the moving mean of g^2.
TEST(RmspropTest, MeanSquareSlot) {
  nn::Parameter p{"dense.weight", Tensor::full({2, 2}, 0.0f), Tensor::full({2, 2}, 2.0f)};
  Rmsprop rmsprop({.rho = 0.5f});
  rmsprop.step({&p}, 1.0f);  // ms = 0.5 * 4
  const NamedTensors state = rmsprop.state();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].name, "dense.weight.mean_square");
  EXPECT_EQ(state[0].tensor.shape(), (Shape{2, 2}));
  EXPECT_EQ(state[0].tensor.to_vector(), (std::vector<float>(4, 2.0f)));
  EXPECT_EQ(state[1].name, "step");
}

// Property: out-of-range hyperparameters are rejected with the offending name.
TEST(RmspropTest, InvalidHyperparametersThrow) {
  EXPECT_TRUE(throws_mentioning([] { Rmsprop({.lr = -1.0f}); }, {"rmsprop", "learning rate"}));
  EXPECT_TRUE(throws_mentioning([] { Rmsprop({.rho = 1.0f}); }, {"rho", "[0, 1)"}));
  EXPECT_TRUE(throws_mentioning([] { Rmsprop({.rho = -0.1f}); }, {"rho"}));
  EXPECT_TRUE(throws_mentioning([] { Rmsprop({.epsilon = 0.0f}); }, {"epsilon"}));
  EXPECT_TRUE(throws_mentioning([] { Rmsprop({.weight_decay = -0.5f}); }, {"weight_decay"}));
  EXPECT_TRUE(throws_mentioning([] { Rmsprop({.lr = INFINITY}); }, {"learning rate"}));
}

}  // namespace
}  // namespace lockstep::optim
