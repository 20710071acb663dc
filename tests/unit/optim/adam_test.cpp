// Adam and AdamW against PyTorch's published rules (torch.optim.Adam / AdamW) computed in
// double, bias correction included, plus defaults, state layout and hyperparameter checks.
#include "lockstep/optim/adam.h"

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

// PyTorch's algorithm as documented, in double; `decoupled` selects AdamW:
//   Adam:  g = s*grad + wd*p          AdamW: g = s*grad; p = p - lr*wd*p
//   m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; m^ = m/(1-b1^t); v^ = v/(1-b2^t)
//   p = p - lr m^ / (sqrt(v^) + eps)
std::vector<double> reference_adam(const AdamOptions& o, bool decoupled, float grad_scale, int n,
                                   int steps, float magnitude) {
  const std::vector<float> start = initial_values(n);
  std::vector<double> p(start.begin(), start.end());
  std::vector<double> m(static_cast<size_t>(n), 0.0), v(static_cast<size_t>(n), 0.0);
  const double lr = o.lr, b1 = o.beta1, b2 = o.beta2, eps = o.epsilon, wd = o.weight_decay;
  for (int t = 1; t <= steps; ++t) {
    const std::vector<float> grad = gradient_at(t, n, magnitude);
    for (size_t i = 0; i < p.size(); ++i) {
      double g = double{grad_scale} * grad[i];
      if (decoupled) {
        p[i] -= lr * wd * p[i];
      } else {
        g += wd * p[i];
      }
      m[i] = b1 * m[i] + (1.0 - b1) * g;
      v[i] = b2 * v[i] + (1.0 - b2) * g * g;
      const double m_hat = m[i] / (1.0 - std::pow(b1, t));
      const double v_hat = v[i] / (1.0 - std::pow(b2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
  return p;
}

void expect_matches_reference(Adam& adam, float grad_scale, int steps, float magnitude) {
  const Shape shape{2, 4};
  nn::Parameter parameter = make_parameter("w", shape);
  run_steps(adam, parameter, 1, steps, grad_scale, magnitude);
  EXPECT_TRUE(::lockstep::testing::all_close(
      parameter.value,
      to_tensor(shape, reference_adam(adam.options(), adam.decoupled_weight_decay(), grad_scale, 8,
                                      steps, magnitude))));
}

// Property: PyTorch's defaults; AdamW differs only by weight decay 0.01, also when other
// fields are set by designated initializers.
TEST(AdamTest, DefaultsArePytorch) {
  const Adam adam;
  EXPECT_FLOAT_EQ(adam.options().lr, 0.001f);
  EXPECT_FLOAT_EQ(adam.options().beta1, 0.9f);
  EXPECT_FLOAT_EQ(adam.options().beta2, 0.999f);
  EXPECT_FLOAT_EQ(adam.options().epsilon, 1e-8f);
  EXPECT_FLOAT_EQ(adam.options().weight_decay, 0.0f);
  EXPECT_FALSE(adam.decoupled_weight_decay());
  const AdamW adamw({.lr = 0.01f});
  EXPECT_FLOAT_EQ(adamw.options().weight_decay, 0.01f);
  EXPECT_TRUE(adamw.decoupled_weight_decay());
  EXPECT_EQ(adamw.name(), "adamw");
  EXPECT_EQ(adam.slot_names(), (std::vector<std::string>{"exp_avg", "exp_avg_sq"}));
}

// Property: thanks to bias correction, the first step moves every element by lr against the
// sign of its gradient (m^ / sqrt(v^) = g / |g|), whatever the gradient's size.
TEST(AdamTest, FirstStepMovesEachElementByLr) {
  nn::Parameter p{"w", Tensor::from_vector({3}, std::vector<float>{1.0f, 1.0f, 1.0f}),
                  Tensor::from_vector({3}, std::vector<float>{0.01f, -3.0f, 250.0f})};
  Adam adam({.lr = 0.1f});
  adam.step({&p}, 0.5f);
  EXPECT_NEAR(p.value.at({0}), 0.9f, 1e-5);
  EXPECT_NEAR(p.value.at({1}), 1.1f, 1e-5);
  EXPECT_NEAR(p.value.at({2}), 0.9f, 1e-5);
}

// Property: defaults with grad_scale follow the rule over 5 steps (bias correction by t).
TEST(AdamTest, MatchesPytorchRuleOverFiveSteps) {
  Adam adam({.lr = 0.01f});
  expect_matches_reference(adam, 0.25f, 5, 2.0f);
}

// Property: L2 weight decay (added to the gradient) and non-default betas follow the rule;
// beta2 0.99 keeps the bias correction large over the 6 steps.
TEST(AdamTest, MatchesPytorchRuleWithL2WeightDecay) {
  Adam adam({.lr = 0.02f, .beta1 = 0.8f, .beta2 = 0.99f, .epsilon = 1e-6f, .weight_decay = 0.1f});
  expect_matches_reference(adam, 0.5f, 6, 1.0f);
}

// Property: epsilon is added to sqrt(v^), checked where it is comparable to sqrt(v^).
TEST(AdamTest, MatchesPytorchRuleWithLargeEpsilon) {
  Adam adam({.lr = 0.01f, .epsilon = 0.01f});
  expect_matches_reference(adam, 0.01f, 4, 1.0f);
}

// Property: AdamW's decoupled decay (p -= lr*wd*p, not through the moments) follows the rule.
TEST(AdamWTest, MatchesPytorchDecoupledRule) {
  AdamW adamw({.lr = 0.05f, .beta2 = 0.99f, .weight_decay = 0.2f});
  expect_matches_reference(adamw, 0.5f, 5, 2.0f);
}

// Property: with the same weight decay, AdamW and Adam take different steps (the decay is
// decoupled, not L2), and AdamW with decay 0 equals Adam with decay 0.
TEST(AdamWTest, DecoupledDecayDiffersFromL2) {
  nn::Parameter a = make_parameter("w", {4}), b = make_parameter("w", {4});
  nn::Parameter c = make_parameter("w", {4}), d = make_parameter("w", {4});
  Adam adam({.lr = 0.05f, .weight_decay = 0.2f});
  AdamW adamw({.lr = 0.05f, .weight_decay = 0.2f});
  Adam adam_plain({.lr = 0.05f});
  AdamW adamw_plain({.lr = 0.05f, .weight_decay = 0.0f});
  run_steps(adam, a, 1, 3, 1.0f);
  run_steps(adamw, b, 1, 3, 1.0f);
  run_steps(adam_plain, c, 1, 3, 1.0f);
  run_steps(adamw_plain, d, 1, 3, 1.0f);
  EXPECT_FALSE(testing::bit_identical(a.value, b.value));
  EXPECT_TRUE(testing::bit_identical(c.value, d.value));
}

// Property: slots "<param>.exp_avg" and "<param>.exp_avg_sq" hold the raw (uncorrected)
// moments: after one step with g = 2, m = (1 - beta1) * 2 and v = (1 - beta2) * 4, where the
// betas are the float values 0.9f and 0.999f (1 - 0.999f is 0.00099998713, not 0.001).
TEST(AdamTest, MomentSlots) {
  nn::Parameter p{"conv.bias", Tensor::full({3}, 0.0f), Tensor::full({3}, 4.0f)};
  Adam adam;
  adam.step({&p}, 0.5f);
  const NamedTensors state = adam.state();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state[0].name, "conv.bias.exp_avg");
  EXPECT_EQ(state[1].name, "conv.bias.exp_avg_sq");
  EXPECT_EQ(state[2].name, "step");
  EXPECT_FLOAT_EQ(state[0].tensor.at({1}), (1.0f - 0.9f) * 2.0f);
  EXPECT_FLOAT_EQ(state[1].tensor.at({1}), (1.0f - 0.999f) * 4.0f);
  EXPECT_EQ(state[2].tensor.at({0}), 1.0f);
}

// Property: out-of-range hyperparameters are rejected with the offending name.
TEST(AdamTest, InvalidHyperparametersThrow) {
  EXPECT_TRUE(throws_mentioning([] { Adam({.lr = 0.0f}); }, {"adam", "learning rate"}));
  EXPECT_TRUE(throws_mentioning([] { Adam({.beta1 = 1.0f}); }, {"beta1", "[0, 1)"}));
  EXPECT_TRUE(throws_mentioning([] { Adam({.beta2 = -0.1f}); }, {"beta2"}));
  EXPECT_TRUE(throws_mentioning([] { Adam({.beta2 = 1.5f}); }, {"beta2"}));
  EXPECT_TRUE(throws_mentioning([] { Adam({.epsilon = -1e-8f}); }, {"epsilon"}));
  EXPECT_TRUE(throws_mentioning([] { Adam({.weight_decay = -0.01f}); }, {"weight_decay"}));
  EXPECT_TRUE(throws_mentioning([] { AdamW({.beta1 = std::nanf("")}); }, {"adamw", "beta1"}));
  EXPECT_TRUE(throws_mentioning([] { AdamW({.weight_decay = -1.0f}); }, {"adamw"}));
}

}  // namespace
}  // namespace lockstep::optim
