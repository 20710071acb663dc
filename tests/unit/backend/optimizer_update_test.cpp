// Fused optimizer kernels against a few steps of each rule computed by hand in double.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/core/error.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

const std::vector<float> kInitial = {0.5f, -1.0f, 2.0f};
// Raw (SUM) gradients of three steps.
const std::vector<std::vector<float>> kGrads = {{1.0f, 2.0f, -4.0f}, {-2.0f, 0.5f, 1.0f},
                                                {3.0f, -1.0f, 0.0f}};

void expect_near(const std::vector<float>& actual, const std::vector<double>& expected,
                 const char* what, int step) {
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-5 * (1.0 + std::abs(expected[i])))
        << what << ", step " << step << ", element " << i;
  }
}

void check_sgd(float momentum, bool nesterov, float weight_decay) {
  SgdUpdate u;
  u.lr = 0.1f, u.momentum = momentum, u.nesterov = nesterov, u.weight_decay = weight_decay;
  u.grad_scale = 0.5f;
  std::vector<float> p = kInitial, v(3, 0.0f);
  std::vector<double> ep(p.begin(), p.end()), ev(3, 0.0);
  for (int s = 0; s < 3; ++s) {
    cpu().sgd_update(p.data(), kGrads[s].data(), momentum != 0.0f ? v.data() : nullptr, 3, u);
    for (size_t i = 0; i < 3; ++i) {
      const double g = 0.5 * kGrads[s][i] + double{weight_decay} * ep[i];
      double step = g;
      if (momentum != 0.0f) {
        ev[i] = double{momentum} * ev[i] + g;
        step = nesterov ? g + double{momentum} * ev[i] : ev[i];
      }
      ep[i] -= 0.1 * step;
    }
    expect_near(p, ep, "sgd", s);
  }
}

TEST(SgdUpdate, PlainMomentumNesterovAndWeightDecay) {
  check_sgd(0.0f, false, 0.0f);
  check_sgd(0.9f, false, 0.0f);
  check_sgd(0.9f, true, 0.0f);
  check_sgd(0.8f, true, 0.01f);
  check_sgd(0.0f, false, 0.1f);
}

TEST(SgdUpdate, FirstPlainStepByHand) {
  SgdUpdate u;
  u.lr = 0.1f;
  std::vector<float> p = {1.0f};
  const std::vector<float> g = {2.0f};
  cpu().sgd_update(p.data(), g.data(), nullptr, 1, u);
  EXPECT_FLOAT_EQ(p[0], 0.8f);
}

TEST(SgdUpdate, MomentumWithoutVelocityThrows) {
  SgdUpdate u;
  u.momentum = 0.9f;
  std::vector<float> p(2), g(2);
  EXPECT_THROW(cpu().sgd_update(p.data(), g.data(), nullptr, 2, u), Error);
}

TEST(RmspropUpdate, MatchesKerasRule) {
  for (float weight_decay : {0.0f, 0.05f}) {
    RmspropUpdate u;
    u.lr = 0.01f, u.rho = 0.9f, u.epsilon = 1e-7f, u.weight_decay = weight_decay;
    u.grad_scale = 0.25f;
    std::vector<float> p = kInitial, ms(3, 0.0f);
    std::vector<double> ep(p.begin(), p.end()), ems(3, 0.0);
    for (int s = 0; s < 3; ++s) {
      cpu().rmsprop_update(p.data(), kGrads[s].data(), ms.data(), 3, u);
      for (size_t i = 0; i < 3; ++i) {
        const double g = 0.25 * kGrads[s][i] + double{weight_decay} * ep[i];
        ems[i] = 0.9 * ems[i] + 0.1 * g * g;
        ep[i] -= 0.01 * g / (std::sqrt(ems[i]) + 1e-7);
      }
      expect_near(p, ep, "rmsprop", s);
    }
  }
}

void check_adam(bool decoupled, float weight_decay) {
  AdamUpdate u;
  u.lr = 0.01f, u.beta1 = 0.9f, u.beta2 = 0.999f, u.epsilon = 1e-8f;
  u.weight_decay = weight_decay, u.decoupled_weight_decay = decoupled, u.grad_scale = 0.5f;
  std::vector<float> p = kInitial, m(3, 0.0f), v(3, 0.0f);
  std::vector<double> ep(p.begin(), p.end()), em(3, 0.0), ev(3, 0.0);
  for (int s = 0; s < 3; ++s) {
    u.step = s + 1;
    cpu().adam_update(p.data(), kGrads[s].data(), m.data(), v.data(), 3, u);
    for (size_t i = 0; i < 3; ++i) {
      double g = 0.5 * kGrads[s][i];
      if (decoupled) {
        ep[i] *= 1.0 - 0.01 * double{weight_decay};
      } else {
        g += double{weight_decay} * ep[i];
      }
      em[i] = 0.9 * em[i] + 0.1 * g;
      ev[i] = 0.999 * ev[i] + 0.001 * g * g;
      const double m_hat = em[i] / (1.0 - std::pow(0.9, s + 1));
      const double v_hat = ev[i] / (1.0 - std::pow(0.999, s + 1));
      ep[i] -= 0.01 * m_hat / (std::sqrt(v_hat) + 1e-8);
    }
    expect_near(p, ep, decoupled ? "adamw" : "adam", s);
  }
}

TEST(AdamUpdate, AdamAndAdamWMatchPyTorchRules) {
  check_adam(false, 0.0f);
  check_adam(false, 0.1f);
  check_adam(true, 0.1f);
}

TEST(AdamUpdate, FirstStepMovesEachParameterByAboutLr) {
  // Bias correction makes the first step lr * g / (|g| + eps) = lr * sign(g).
  AdamUpdate u;
  u.lr = 0.01f;
  std::vector<float> p = {1.0f, 1.0f}, m(2, 0.0f), v(2, 0.0f);
  const std::vector<float> g = {3.0f, -0.002f};
  cpu().adam_update(p.data(), g.data(), m.data(), v.data(), 2, u);
  EXPECT_NEAR(p[0], 0.99f, 1e-6);
  EXPECT_NEAR(p[1], 1.01f, 1e-6);
}

TEST(AdamUpdate, StepZeroThrows) {
  AdamUpdate u;
  u.step = 0;
  std::vector<float> p(1), g(1), m(1), v(1);
  EXPECT_THROW(cpu().adam_update(p.data(), g.data(), m.data(), v.data(), 1, u), Error);
}

}  // namespace
}  // namespace lockstep::backend
