// The CPU's depthwise convolution and layer normalization ops against double-precision loops
// written from their definitions (forward, input gradient, parameter gradients), empty calls,
// and the argument checks both backends share.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "support/conv_cases.h"
#include "support/test_support.h"

namespace lockstep::backend {
namespace {

using testing::conv_geometry;
using testing::DepthwiseCase;
using testing::DepthwiseData;
using testing::random_floats;

Backend& cpu() { return backend_for(Device::cpu()); }

// Passes when |a - b| <= tolerance * (1 + |b|) everywhere.
::testing::AssertionResult near(const std::vector<float>& a, const std::vector<double>& b,
                                double tolerance) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::abs(a[i] - b[i]) <= tolerance * (1.0 + std::abs(b[i])))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

std::string error_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return error.message();
  }
  return "(no error)";
}

// Calls visit(pixel, output, weight), the flat indices of x, y and w, for every term
// w[o, ky, kx] * x[b, o / m, iy, ix] of y[b, o, oy, ox] (pixels inside the image only).
template <typename Visit>
void for_each_term(int64_t batch, const ConvGeometry& g, int64_t m, Visit visit) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), out_channels = g.channels * m;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t o = 0; o < out_channels; ++o) {
      const int64_t c = o / m;
      for (int64_t oy = 0; oy < out_h; ++oy) {
        for (int64_t ox = 0; ox < out_w; ++ox) {
          for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
            for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
              const int64_t iy = oy * g.stride_h - g.pad_h + ky;
              const int64_t ix = ox * g.stride_w - g.pad_w + kx;
              if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) continue;
              visit(((b * g.channels + c) * g.height + iy) * g.width + ix,
                    ((b * out_channels + o) * out_h + oy) * out_w + ox,
                    (o * g.kernel_h + ky) * g.kernel_w + kx);
            }
          }
        }
      }
    }
  }
}

TEST(DepthwiseConvOpTest, ForwardAndBackwardMatchTheirDefinitions) {
  std::mt19937 rng(11);
  for (const DepthwiseCase& c :
       {DepthwiseCase{conv_geometry(3, 7, 6, 3, 3, 1, 1, 1, 1), 2, 1},
        DepthwiseCase{conv_geometry(2, 9, 8, 3, 2, 2, 1, 1, 0), 3, 3},
        DepthwiseCase{conv_geometry(2, 8, 8, 2, 2, 3, 3, 0, 0), 2, 2},     // gaps between windows
        DepthwiseCase{conv_geometry(1, 5, 4, 5, 4, 1, 1, 2, 2), 1, 2}}) {  // kernel = image
    const ConvGeometry& g = c.g;
    SCOPED_TRACE(::testing::Message()
                 << g.channels << "x" << g.height << "x" << g.width << " kernel " << g.kernel_h
                 << "x" << g.kernel_w << " multiplier " << c.multiplier);
    const int64_t out_channels = c.out_channels();
    const size_t x_size = c.x_size(), y_size = c.y_size(), w_size = c.w_size();
    const DepthwiseData data = testing::random_data(c, rng);
    const std::vector<float>&x = data.x, &w = data.w, &bias = data.bias, &dy = data.dy;

    std::vector<double> y_expected(y_size, 0.0), dx_expected(x_size, 0.0), dw_expected(w_size, 0.0);
    for (size_t i = 0; i < y_size; ++i) {
      const size_t spatial = static_cast<size_t>(g.out_h() * g.out_w());
      y_expected[i] = bias[(i / spatial) % static_cast<size_t>(out_channels)];
    }
    for_each_term(c.batch, g, c.multiplier, [&](int64_t pixel, int64_t out, int64_t weight) {
      y_expected[out] += static_cast<double>(w[weight]) * x[pixel];
      dx_expected[pixel] += static_cast<double>(w[weight]) * dy[out];
      dw_expected[weight] += static_cast<double>(x[pixel]) * dy[out];
    });

    std::vector<float> y(y_size), dx(x_size, 7.0f), dw(w_size, 7.0f);
    cpu().depthwise_conv2d_forward(x.data(), c.batch, g, c.multiplier, w.data(), bias.data(),
                                   y.data());
    EXPECT_TRUE(near(y, y_expected, 1e-6));
    cpu().depthwise_conv2d_backward(x.data(), dy.data(), c.batch, g, c.multiplier, w.data(),
                                    dw.data(), dx.data());
    EXPECT_TRUE(near(dx, dx_expected, 1e-6));
    EXPECT_TRUE(near(dw, dw_expected, 1e-7));  // a double sum, rounded once
    // Without a bias the outputs are the window sums alone.
    cpu().depthwise_conv2d_forward(x.data(), c.batch, g, c.multiplier, w.data(), nullptr, y.data());
    for (size_t i = 0; i < y_size; ++i) {
      const size_t spatial = static_cast<size_t>(g.out_h() * g.out_w());
      y_expected[i] -= bias[(i / spatial) % static_cast<size_t>(out_channels)];
    }
    EXPECT_TRUE(near(y, y_expected, 1e-6));
  }
}

TEST(DepthwiseConvOpTest, EmptyBatchWritesAZeroWeightGradient) {
  std::vector<float> dw(2 * 3 * 3, 7.0f);
  cpu().depthwise_conv2d_backward(nullptr, nullptr, 0, conv_geometry(1, 4, 4, 3, 3, 1, 1, 0, 0), 2,
                                  nullptr, dw.data(), nullptr);
  EXPECT_EQ(dw, std::vector<float>(18, 0.0f));
}

TEST(DepthwiseConvOpTest, BadArgumentsNameTheOp) {
  float unused = 0.0f;
  const std::string zero_multiplier = error_message([&] {
    cpu().depthwise_conv2d_forward(&unused, 1, conv_geometry(1, 4, 4, 3, 3, 1, 1, 0, 0), 0, &unused,
                                   nullptr, &unused);
  });
  EXPECT_NE(zero_multiplier.find("depthwise_conv2d_forward"), std::string::npos) << zero_multiplier;
  EXPECT_NE(zero_multiplier.find("multiplier 0"), std::string::npos) << zero_multiplier;
  const std::string too_big = error_message([&] {
    cpu().depthwise_conv2d_backward(&unused, &unused, 1, conv_geometry(1, 2, 2, 3, 3, 1, 1, 0, 0),
                                    1, &unused, &unused, &unused);
  });
  EXPECT_NE(too_big.find("depthwise_conv2d_backward"), std::string::npos) << too_big;
  EXPECT_NE(too_big.find("kernel 3x3"), std::string::npos) << too_big;
  const std::string negative = error_message([&] {
    cpu().depthwise_conv2d_forward(&unused, -1, conv_geometry(1, 4, 4, 3, 3, 1, 1, 0, 0), 1,
                                   &unused, nullptr, &unused);
  });
  EXPECT_NE(negative.find("batch -1"), std::string::npos) << negative;
}

// Per row in double: mean, biased variance, rstd, xhat; the gradients of sum(y * dy).
struct LayerNormReference {
  std::vector<double> y, dx, dweight, dbias, mean, rstd;
};

LayerNormReference layer_norm_reference(const std::vector<float>& x, const std::vector<float>& w,
                                        const std::vector<float>& b, const std::vector<float>& dy,
                                        int64_t rows, int64_t cols, double eps) {
  LayerNormReference ref;
  ref.y.resize(x.size());
  ref.dx.resize(x.size());
  ref.dweight.assign(static_cast<size_t>(cols), 0.0);
  ref.dbias.assign(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const size_t first = static_cast<size_t>(r * cols), n = static_cast<size_t>(cols);
    double mean = 0.0, variance = 0.0;
    for (size_t j = 0; j < n; ++j) mean += x[first + j];
    mean /= static_cast<double>(n);
    for (size_t j = 0; j < n; ++j) variance += (x[first + j] - mean) * (x[first + j] - mean);
    const double rstd = 1.0 / std::sqrt(variance / static_cast<double>(n) + eps);
    ref.mean.push_back(mean);
    ref.rstd.push_back(rstd);
    double mean_g = 0.0, mean_g_xhat = 0.0;
    for (size_t j = 0; j < n; ++j) {
      const double xhat = (x[first + j] - mean) * rstd;
      const double g = w.empty() ? dy[first + j] : static_cast<double>(dy[first + j]) * w[j];
      ref.y[first + j] = w.empty() ? xhat : xhat * w[j] + b[j];
      mean_g += g / static_cast<double>(n);
      mean_g_xhat += g * xhat / static_cast<double>(n);
      ref.dweight[j] += dy[first + j] * xhat;
      ref.dbias[j] += dy[first + j];
    }
    for (size_t j = 0; j < n; ++j) {
      const double xhat = (x[first + j] - mean) * rstd;
      const double g = w.empty() ? dy[first + j] : static_cast<double>(dy[first + j]) * w[j];
      ref.dx[first + j] = rstd * (g - mean_g - xhat * mean_g_xhat);
    }
  }
  return ref;
}

TEST(LayerNormOpTest, ForwardAndBackwardMatchTheirDefinitions) {
  std::mt19937 rng(12);
  for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{5, 7}, {3, 300}, {1, 1}}) {
    for (const bool affine : {true, false}) {
      SCOPED_TRACE(::testing::Message() << rows << "x" << cols << (affine ? " affine" : ""));
      const size_t n = static_cast<size_t>(rows * cols);
      const std::vector<float> x = random_floats(n, rng, -3.0f, 2.0f);
      const std::vector<float> dy = random_floats(n, rng);
      const std::vector<float> w =
          affine ? random_floats(cols, rng, 0.5f, 1.5f) : std::vector<float>();
      const std::vector<float> b = affine ? random_floats(cols, rng) : std::vector<float>();
      const LayerNormReference ref = layer_norm_reference(x, w, b, dy, rows, cols, 1e-5);
      std::vector<float> y(n), mean(rows), rstd(rows), dx(n), dw(cols, 7.0f), db(cols, 7.0f);
      cpu().layer_norm_forward(x.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr,
                               y.data(), mean.data(), rstd.data(), rows, cols, 1e-5f);
      EXPECT_TRUE(near(y, ref.y, 1e-5));
      EXPECT_TRUE(near(mean, ref.mean, 1e-7));
      EXPECT_TRUE(near(rstd, ref.rstd, 1e-6));
      cpu().layer_norm_backward(x.data(), dy.data(), affine ? w.data() : nullptr, mean.data(),
                                rstd.data(), dx.data(), affine ? dw.data() : nullptr,
                                affine ? db.data() : nullptr, rows, cols);
      EXPECT_TRUE(near(dx, ref.dx, 1e-5));
      if (affine) {
        EXPECT_TRUE(near(dw, ref.dweight, 1e-5));
        EXPECT_TRUE(near(db, ref.dbias, 1e-7));
      } else {
        EXPECT_EQ(dw, std::vector<float>(cols, 7.0f));  // not asked for, not touched
      }
    }
  }
}

TEST(LayerNormOpTest, NoRowsWriteZeroParameterGradients) {
  std::vector<float> dw(4, 7.0f), db(4, 7.0f);
  cpu().layer_norm_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, dw.data(),
                            db.data(), 0, 4);
  EXPECT_EQ(dw, std::vector<float>(4, 0.0f));
  EXPECT_EQ(db, std::vector<float>(4, 0.0f));
}

TEST(LayerNormOpTest, BadArgumentsNameTheOp) {
  float v = 0.0f;
  const auto forward = [&](int64_t rows, int64_t cols, const float* w, const float* b, float eps) {
    return error_message([&] { cpu().layer_norm_forward(&v, w, b, &v, &v, &v, rows, cols, eps); });
  };
  EXPECT_NE(forward(1, 0, nullptr, nullptr, 1e-5f).find("cols 0"), std::string::npos);
  EXPECT_NE(forward(-1, 2, nullptr, nullptr, 1e-5f).find("rows -1"), std::string::npos);
  EXPECT_NE(forward(1, 1, &v, nullptr, 1e-5f).find("both"), std::string::npos);
  EXPECT_NE(forward(1, 1, nullptr, nullptr, 0.0f).find("eps"), std::string::npos);
  EXPECT_NE(forward(1, 1, nullptr, nullptr, std::numeric_limits<float>::quiet_NaN()).find("eps"),
            std::string::npos);
  const std::string backward =
      error_message([&] { cpu().layer_norm_backward(&v, &v, &v, &v, &v, &v, nullptr, &v, 1, 1); });
  EXPECT_NE(backward.find("layer_norm_backward"), std::string::npos) << backward;
  EXPECT_NE(backward.find("both"), std::string::npos) << backward;
}

}  // namespace
}  // namespace lockstep::backend
