// Elementwise ops and activations: forward against closed forms, backward against central
// finite differences of the forward op itself.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "lockstep/backend/backend.h"
#include "support/test_support.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

TEST(Elementwise, FillScaleAxpyMultiply) {
  std::vector<float> x(5);
  cpu().fill(x.data(), 5, 2.0f);
  EXPECT_EQ(x, std::vector<float>(5, 2.0f));
  cpu().scale(x.data(), 5, -1.5f);
  EXPECT_EQ(x, std::vector<float>(5, -3.0f));
  std::vector<float> y = {1, 2, 3, 4, 5};
  cpu().axpy(5, 2.0f, y.data(), x.data());
  EXPECT_EQ(x, (std::vector<float>{-1, 1, 3, 5, 7}));
  std::vector<float> z(5);
  cpu().multiply(x.data(), y.data(), z.data(), 5);
  EXPECT_EQ(z, (std::vector<float>{-1, 2, 9, 20, 35}));
}

double closed_form(Activation kind, double x) {
  switch (kind) {
    case Activation::kRelu:
      return x > 0 ? x : 0;
    case Activation::kTanh:
      return std::tanh(x);
    case Activation::kSigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case Activation::kGelu:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  }
  return NAN;
}

const Activation kAll[] = {Activation::kRelu, Activation::kTanh, Activation::kSigmoid,
                           Activation::kGelu};

TEST(Activation, ForwardMatchesClosedForms) {
  const std::vector<float> x = {-30.0f, -5.0f, -1.0f, -0.25f, 0.0f, 0.3f, 1.0f, 2.5f, 30.0f};
  std::vector<float> y(x.size());
  for (Activation kind : kAll) {
    cpu().activation_forward(kind, x.data(), y.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const double expected = closed_form(kind, x[i]);
      EXPECT_NEAR(y[i], expected, 1e-6 * (1.0 + std::abs(expected)))
          << "activation " << static_cast<int>(kind) << " at x = " << x[i];
    }
  }
}

TEST(Activation, GeluKnownValues) {
  // PyTorch: gelu(1) = 0.8413447, gelu(-1) = -0.1586553, gelu(2) = 1.9544997.
  const std::vector<float> x = {1.0f, -1.0f, 2.0f};
  std::vector<float> y(3);
  cpu().activation_forward(Activation::kGelu, x.data(), y.data(), 3);
  EXPECT_NEAR(y[0], 0.8413447f, 1e-6);
  EXPECT_NEAR(y[1], -0.1586553f, 1e-6);
  EXPECT_NEAR(y[2], 1.9544997f, 1e-6);
}

TEST(Activation, BackwardMatchesFiniteDifferences) {
  // Points away from ReLU's kink so the central difference is exact there.
  Tensor x = Tensor::from_vector(
      {8}, std::vector<float>{-3.0f, -1.2f, -0.4f, -0.1f, 0.2f, 0.7f, 1.5f, 3.0f});
  const Tensor dy = testing::random_tensor({8}, 7, -1.0f, 1.0f);
  for (Activation kind : kAll) {
    Tensor y = Tensor::empty({8}), dx = Tensor::empty({8});
    auto objective = [&] {  // sum_i dy_i * f(x_i), in double
      Tensor out = Tensor::empty({8});
      cpu().activation_forward(kind, x.data(), out.data(), 8);
      double sum = 0.0;
      for (int64_t i = 0; i < 8; ++i) sum += static_cast<double>(dy.data()[i]) * out.data()[i];
      return sum;
    };
    const Tensor numeric = testing::numerical_gradient(x, objective, 1e-2);
    cpu().activation_forward(kind, x.data(), y.data(), 8);
    cpu().activation_backward(kind, x.data(), y.data(), dy.data(), dx.data(), 8);
    EXPECT_TRUE(testing::all_close(dx, numeric, 2e-3, 2e-4))
        << "activation " << static_cast<int>(kind);
  }
}

TEST(Activation, SaturatedInputsStayFinite) {
  const std::vector<float> x = {-1e4f, -100.0f, 100.0f, 1e4f};
  std::vector<float> y(4), dx(4);
  const std::vector<float> dy(4, 1.0f);
  for (Activation kind : kAll) {
    cpu().activation_forward(kind, x.data(), y.data(), 4);
    cpu().activation_backward(kind, x.data(), y.data(), dy.data(), dx.data(), 4);
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(std::isfinite(y[i]) && std::isfinite(dx[i]))
          << "activation " << static_cast<int>(kind) << " at x = " << x[i];
    }
  }
}

uint32_t bits(float value) {
  uint32_t out;
  std::memcpy(&out, &value, sizeof out);
  return out;
}

// ReLU is PyTorch's: NaN stays NaN forward (a NaN must not turn into 0 and vanish), and
// backward reads dy everywhere (so the loop vectorises) but passes it only where x is not
// <= 0 (positive or NaN, as PyTorch's threshold_backward): where x <= 0, dx is +0 even when dy
// is NaN or infinite; elsewhere it is dy exactly. 37 elements, so the vector loop and its
// scalar tail both run.
TEST(Activation, ReluKeepsNaNAndPassesDyOnlyWhereNotAtMostZero) {
  std::vector<float> x(37), dy(37), dx(37, NAN);
  const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f};
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = i % 3 == 0 ? -0.0f : (i % 3 == 1 ? 0.25f * static_cast<float>(i) : -1.5f);
    if (i == 5) x[i] = NAN;
    dy[i] = i % 4 == 0 ? specials[(i / 4) % 4] : 0.1f * static_cast<float>(i) - 1.0f;
  }
  std::vector<float> y(37);
  cpu().activation_forward(Activation::kRelu, x.data(), y.data(), 37);
  cpu().activation_backward(Activation::kRelu, x.data(), y.data(), dy.data(), dx.data(), 37);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(bits(dx[i]), bits(x[i] <= 0.0f ? 0.0f : dy[i])) << "element " << i;
    if (i == 5) {
      EXPECT_TRUE(std::isnan(y[i])) << "ReLU(NaN) must be NaN";
    } else {
      EXPECT_EQ(bits(y[i]), bits(x[i] > 0.0f ? x[i] : 0.0f)) << "element " << i;
    }
  }
}

// Sigmoid uses exp(-|x|) and a select instead of a branch on the sign; it must give the bits
// of the two-branch form 1/(1+exp(-x)) for x >= 0, exp(x)/(1+exp(x)) below.
TEST(Activation, SigmoidMatchesTwoBranchFormBitForBit) {
  std::vector<float> x = {-0.0f,  0.0f,    1e-30f, -1e-30f, 88.0f,    -88.0f,
                          104.0f, -104.0f, 1e4f,   -1e4f,   INFINITY, -INFINITY};
  for (int i = -400; i <= 400; ++i) x.push_back(0.0437f * static_cast<float>(i));
  std::vector<float> y(x.size());
  cpu().activation_forward(Activation::kSigmoid, x.data(), y.data(),
                           static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const float v = x[i];
    const float expected =
        v >= 0.0f ? 1.0f / (1.0f + std::exp(-v)) : std::exp(v) / (1.0f + std::exp(v));
    EXPECT_EQ(bits(y[i]), bits(expected)) << "x = " << v;
  }
}

}  // namespace
}  // namespace lockstep::backend
