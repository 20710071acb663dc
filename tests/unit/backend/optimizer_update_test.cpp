// Fused optimizer kernels against a few steps of each rule computed by hand in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

const std::vector<float> kInitial = {0.5f, -1.0f, 2.0f};
// Raw (SUM) gradients of three steps.
const std::vector<std::vector<float>> kGrads = {
    {1.0f, 2.0f, -4.0f}, {-2.0f, 0.5f, 1.0f}, {3.0f, -1.0f, 0.0f}};

// n values in about [-2, 2) with varied magnitudes, reproducible from `seed`.
std::vector<float> testing_values(size_t n, uint32_t seed) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t h = (static_cast<uint32_t>(i) + 1) * 2654435761u ^ seed * 40503u;
    values[i] = static_cast<float>(h % 4001) / 1000.0f - 2.0f;
  }
  return values;
}

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

// --- every element alike -------------------------------------------------------------------
// The update loops are written for the compiler to vectorise. Over 37 elements (vector body
// and scalar tail) and three steps, each must give the bits of its float formula applied to one
// element at a time, as written in backend.h.

std::vector<uint32_t> bits(const std::vector<float>& values) {
  std::vector<uint32_t> out(values.size());
  std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
  return out;
}

struct UpdateState {
  std::vector<float> param, slot1, slot2;
};

UpdateState initial_state(size_t n) {
  UpdateState s{testing_values(n, 1), testing_values(n, 2), testing_values(n, 3)};
  for (float& v : s.slot2) v = std::abs(v);  // second moments are never negative
  return s;
}

TEST(OptimizerUpdate, EveryElementGetsItsFloatFormulaBitForBit) {
  constexpr size_t n = 37;
  for (int rule = 0; rule < 6; ++rule) {
    UpdateState kernel = initial_state(n), expected = initial_state(n);
    for (int step = 1; step <= 3; ++step) {
      const std::vector<float> grad = testing_values(n, 10 + step);
      float* p = expected.param.data();
      float* a = expected.slot1.data();
      float* b = expected.slot2.data();
      if (rule < 3) {  // SGD: plain, momentum, Nesterov
        SgdUpdate u;
        u.lr = 0.05f, u.weight_decay = 0.01f, u.grad_scale = 0.25f;
        u.momentum = rule == 0 ? 0.0f : 0.9f, u.nesterov = rule == 2;
        cpu().sgd_update(kernel.param.data(), grad.data(), kernel.slot1.data(), n, u);
        for (size_t i = 0; i < n; ++i) {
          const float g = u.grad_scale * grad[i] + u.weight_decay * p[i];
          if (rule == 0) {
            p[i] -= u.lr * g;
            continue;
          }
          a[i] = u.momentum * a[i] + g;
          p[i] -= u.lr * (u.nesterov ? g + u.momentum * a[i] : a[i]);
        }
      } else if (rule == 3) {  // RMSprop
        RmspropUpdate u;
        u.lr = 0.01f, u.weight_decay = 0.01f, u.grad_scale = 0.25f;
        cpu().rmsprop_update(kernel.param.data(), grad.data(), kernel.slot2.data(), n, u);
        for (size_t i = 0; i < n; ++i) {
          const float g = u.grad_scale * grad[i] + u.weight_decay * p[i];
          b[i] = u.rho * b[i] + (1.0f - u.rho) * g * g;
          p[i] -= u.lr * g / (std::sqrt(b[i]) + u.epsilon);
        }
      } else {  // Adam (coupled decay), AdamW (decoupled)
        AdamUpdate u;
        u.lr = 0.01f, u.weight_decay = 0.05f, u.grad_scale = 0.25f, u.step = step;
        u.decoupled_weight_decay = rule == 5;
        cpu().adam_update(kernel.param.data(), grad.data(), kernel.slot1.data(),
                          kernel.slot2.data(), n, u);
        const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(double{u.beta1}, step)));
        const float c2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(double{u.beta2}, step)));
        const float keep = u.decoupled_weight_decay ? 1.0f - u.lr * u.weight_decay : 1.0f;
        const float decay = u.decoupled_weight_decay ? 0.0f : u.weight_decay;
        for (size_t i = 0; i < n; ++i) {
          const float g = u.grad_scale * grad[i] + decay * p[i];
          a[i] = u.beta1 * a[i] + (1.0f - u.beta1) * g;
          b[i] = u.beta2 * b[i] + (1.0f - u.beta2) * g * g;
          p[i] = p[i] * keep - u.lr * (a[i] * c1) / (std::sqrt(b[i]) * c2 + u.epsilon);
        }
      }
      ASSERT_EQ(bits(kernel.param), bits(expected.param)) << "rule " << rule << " step " << step;
      ASSERT_EQ(bits(kernel.slot1), bits(expected.slot1)) << "rule " << rule << " step " << step;
      ASSERT_EQ(bits(kernel.slot2), bits(expected.slot2)) << "rule " << rule << " step " << step;
    }
  }
}

}  // namespace
}  // namespace lockstep::backend
