// Sgd against PyTorch's published rule (torch.optim.SGD, dampening 0) computed in double,
// plus its state layout and hyperparameter checks.
#include "lockstep/optim/sgd.h"

#include <gtest/gtest.h>

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

// torch.optim.SGD's algorithm as documented, in double:
//   g = s*grad + wd*p; b = (t > 1) ? mu*b + g : g; g = nesterov ? g + mu*b : b; p -= lr*g
std::vector<double> reference_sgd(const SgdOptions& o, float grad_scale, int n, int steps) {
  const std::vector<float> start = initial_values(n);
  std::vector<double> p(start.begin(), start.end()), b(static_cast<size_t>(n), 0.0);
  const double lr = o.lr, mu = o.momentum, wd = o.weight_decay;
  for (int t = 1; t <= steps; ++t) {
    const std::vector<float> grad = gradient_at(t, n);
    for (size_t i = 0; i < p.size(); ++i) {
      double g = double{grad_scale} * grad[i] + wd * p[i];
      if (mu != 0.0) {
        b[i] = t > 1 ? mu * b[i] + g : g;
        g = o.nesterov ? g + mu * b[i] : b[i];
      }
      p[i] -= lr * g;
    }
  }
  return p;
}

void expect_matches_reference(const SgdOptions& options, float grad_scale, int steps) {
  const Shape shape{2, 3};
  nn::Parameter parameter = make_parameter("w", shape);
  Sgd sgd(options);
  run_steps(sgd, parameter, 1, steps, grad_scale);
  EXPECT_TRUE(::lockstep::testing::all_close(
      parameter.value, to_tensor(shape, reference_sgd(options, grad_scale, 6, steps))));
}

// Property: without momentum and decay a step is p -= lr * s * grad, checked on numbers
// worked out by hand.
TEST(SgdTest, PlainStepByHand) {
  nn::Parameter p{"w", Tensor::from_vector({2}, std::vector<float>{1.0f, -2.0f}),
                  Tensor::from_vector({2}, std::vector<float>{4.0f, -8.0f})};
  Sgd sgd({.lr = 0.5f});
  sgd.step({&p}, 0.25f);  // scaled gradient {1, -2}
  EXPECT_FLOAT_EQ(p.value.at({0}), 0.5f);
  EXPECT_FLOAT_EQ(p.value.at({1}), -1.0f);
}

// Property: momentum accumulates the scaled gradient, by hand on a scalar:
// g = 1 each step; v1 = 1, p1 = 1 - 0.1 = 0.9; v2 = 0.9*1 + 1 = 1.9, p2 = 0.9 - 0.19 = 0.71.
TEST(SgdTest, MomentumByHandOnScalar) {
  nn::Parameter p{"w", Tensor::full({1}, 1.0f), Tensor::full({1}, 2.0f)};
  Sgd sgd({.lr = 0.1f, .momentum = 0.9f});
  sgd.step({&p}, 0.5f);
  EXPECT_FLOAT_EQ(p.value.at({0}), 0.9f);
  sgd.step({&p}, 0.5f);
  EXPECT_FLOAT_EQ(p.value.at({0}), 0.71f);
}

// Property: plain SGD with L2 weight decay and grad_scale follows PyTorch's rule.
TEST(SgdTest, WeightDecayMatchesPytorchRule) {
  expect_matches_reference({.lr = 0.05f, .weight_decay = 0.1f}, 0.125f, 4);
}

// Property: heavy-ball momentum with weight decay follows PyTorch's rule over 5 steps.
TEST(SgdTest, MomentumMatchesPytorchRule) {
  expect_matches_reference({.lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f}, 0.25f, 5);
}

// Property: Nesterov momentum (g + mu*b) follows PyTorch's rule over 5 steps.
TEST(SgdTest, NesterovMatchesPytorchRule) {
  expect_matches_reference({.lr = 0.05f, .momentum = 0.8f, .weight_decay = 0.02f, .nesterov = true},
                           0.5f, 5);
}

// Property: Nesterov and heavy-ball momentum give different trajectories (the flag is used).
TEST(SgdTest, NesterovDiffersFromHeavyBall) {
  nn::Parameter a = make_parameter("w", {4}), b = make_parameter("w", {4});
  Sgd heavy({.lr = 0.1f, .momentum = 0.9f}),
      nesterov({.lr = 0.1f, .momentum = 0.9f, .nesterov = true});
  run_steps(heavy, a, 1, 3, 1.0f);
  run_steps(nesterov, b, 1, 3, 1.0f);
  EXPECT_FALSE(testing::bit_identical(a.value, b.value));
}

// Property: momentum 0 keeps no slot tensors; state() holds only "step" with the count.
TEST(SgdTest, MomentumZeroKeepsOnlyStep) {
  nn::Parameter parameter = make_parameter("0.weight", {3, 2});
  Sgd sgd({.lr = 0.1f});
  run_steps(sgd, parameter, 1, 2, 1.0f);
  const NamedTensors state = sgd.state();
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].name, "step");
  EXPECT_EQ(state[0].tensor.shape(), (Shape{1}));
  EXPECT_EQ(state[0].tensor.at({0}), 2.0f);
  EXPECT_TRUE(sgd.slot_names().empty());
}

// Property: with momentum, the slot is "<param>.momentum" and holds v after the steps.
TEST(SgdTest, MomentumSlotHoldsVelocity) {
  nn::Parameter p{"0.bias", Tensor::full({2}, 0.0f), Tensor::full({2}, 1.0f)};
  Sgd sgd({.lr = 0.1f, .momentum = 0.5f});
  sgd.step({&p}, 1.0f);
  sgd.step({&p}, 1.0f);  // v = 0.5 * 1 + 1
  const NamedTensors state = sgd.state();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].name, "0.bias.momentum");
  EXPECT_EQ(state[0].tensor.to_vector(), (std::vector<float>{1.5f, 1.5f}));
}

// Property: out-of-range hyperparameters are rejected with the offending name and value.
TEST(SgdTest, InvalidHyperparametersThrow) {
  EXPECT_TRUE(throws_mentioning([] { Sgd({.lr = 0.0f}); }, {"learning rate", "0"}));
  EXPECT_TRUE(throws_mentioning([] { Sgd({.lr = -0.1f}); }, {"learning rate"}));
  EXPECT_TRUE(throws_mentioning([] { Sgd({.lr = std::nanf("")}); }, {"learning rate"}));
  EXPECT_TRUE(throws_mentioning([] { Sgd({.momentum = 1.0f}); }, {"momentum", "[0, 1)"}));
  EXPECT_TRUE(throws_mentioning([] { Sgd({.momentum = -0.5f}); }, {"momentum"}));
  EXPECT_TRUE(throws_mentioning([] { Sgd({.weight_decay = -1e-4f}); }, {"weight_decay"}));
  EXPECT_TRUE(throws_mentioning([] { Sgd({.nesterov = true}); }, {"nesterov", "momentum"}));
}

}  // namespace
}  // namespace lockstep::optim
