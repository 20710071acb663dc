// Max and average pooling against naive loops (overlapping and disjoint windows), backward by
// finite differences, and the first-maximum rule for ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/core/error.h"
#include "support/test_support.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

PoolGeometry geometry(int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t sh,
                      int64_t sw) {
  PoolGeometry g;
  g.channels = c, g.height = h, g.width = w, g.pool_h = ph, g.pool_w = pw;
  g.stride_h = sh, g.stride_w = sw;
  return g;
}

const std::vector<PoolGeometry>& cases() {
  static const std::vector<PoolGeometry> all = {
      geometry(2, 4, 4, 2, 2, 2, 2),  // disjoint
      geometry(3, 7, 6, 3, 3, 2, 2),  // overlapping, ragged edge
      geometry(1, 5, 8, 2, 3, 1, 2),  // rectangular
      geometry(1, 3, 3, 3, 3, 1, 1),  // one window
  };
  return all;
}

// Pixels with distinct values spaced 0.1 apart, shuffled: no ties, and a finite-difference
// step of 1e-2 never changes which pixel is a window's maximum.
Tensor distinct_input(int64_t batch, const PoolGeometry& g, unsigned seed) {
  const int64_t n = batch * g.channels * g.height * g.width;
  std::vector<float> values(static_cast<size_t>(n));
  std::iota(values.begin(), values.end(), 0.0f);
  std::shuffle(values.begin(), values.end(), std::mt19937(seed));
  for (float& v : values) v = 0.1f * v - 1.0f;
  return Tensor::from_vector({batch, g.channels, g.height, g.width}, values);
}

std::vector<float> naive_pool(const Tensor& x, int64_t batch, const PoolGeometry& g, bool max) {
  std::vector<float> y;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < g.channels; ++c)
      for (int64_t oy = 0; oy < g.out_h(); ++oy)
        for (int64_t ox = 0; ox < g.out_w(); ++ox) {
          double best = -INFINITY, sum = 0.0;
          for (int64_t ky = 0; ky < g.pool_h; ++ky)
            for (int64_t kx = 0; kx < g.pool_w; ++kx) {
              const double v = x.at({b, c, oy * g.stride_h + ky, ox * g.stride_w + kx});
              best = std::max(best, v);
              sum += v;
            }
          y.push_back(static_cast<float>(max ? best : sum / (g.pool_h * g.pool_w)));
        }
  return y;
}

TEST(Pool, ForwardMatchesNaiveLoops) {
  const int64_t batch = 2;
  for (const PoolGeometry& g : cases()) {
    const Tensor x = distinct_input(batch, g, 1);
    std::vector<float> y(static_cast<size_t>(batch * g.channels * g.out_h() * g.out_w()));
    cpu().max_pool_forward(x.data(), y.data(), batch, g);
    EXPECT_EQ(y, naive_pool(x, batch, g, true));
    cpu().avg_pool_forward(x.data(), y.data(), batch, g);
    const std::vector<float> expected = naive_pool(x, batch, g, false);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-5) << i;
  }
}

TEST(Pool, BackwardMatchesFiniteDifferences) {
  const int64_t batch = 2;
  for (const PoolGeometry& g : cases()) {
    for (bool max : {true, false}) {
      Tensor x = distinct_input(batch, g, 2);
      const Tensor dy = testing::random_tensor({batch, g.channels, g.out_h(), g.out_w()}, 9);
      Tensor y = Tensor::empty(dy.shape()), dx = Tensor::full(x.shape(), NAN);
      auto objective = [&] {  // sum dy * pool(x)
        max ? cpu().max_pool_forward(x.data(), y.data(), batch, g)
            : cpu().avg_pool_forward(x.data(), y.data(), batch, g);
        double sum = 0.0;
        for (int64_t i = 0; i < y.numel(); ++i) sum += static_cast<double>(dy.data()[i]) * y.data()[i];
        return sum;
      };
      const Tensor numeric = testing::numerical_gradient(x, objective, 1e-2);
      max ? cpu().max_pool_backward(x.data(), dy.data(), dx.data(), batch, g)
          : cpu().avg_pool_backward(dy.data(), dx.data(), batch, g);
      EXPECT_TRUE(testing::all_close(dx, numeric, 1e-3, 1e-4)) << (max ? "max" : "avg");
    }
  }
}

TEST(MaxPool, TiesGoToTheFirstMaximumAndOverlapsAdd) {
  // One 3x3 plane of equal values, 2x2 windows, stride 1: window (oy, ox) sends its gradient
  // to its top-left pixel (oy, ox).
  const PoolGeometry g = geometry(1, 3, 3, 2, 2, 1, 1);
  const std::vector<float> x(9, 5.0f), dy = {1, 2, 3, 4};
  std::vector<float> dx(9, NAN);
  cpu().max_pool_backward(x.data(), dy.data(), dx.data(), 1, g);
  EXPECT_EQ(dx, (std::vector<float>{1, 2, 0, 3, 4, 0, 0, 0, 0}));
  // A centre maximum shared by all four windows collects all four gradients.
  std::vector<float> peak(9, 0.0f);
  peak[4] = 1.0f;
  cpu().max_pool_backward(peak.data(), dy.data(), dx.data(), 1, g);
  EXPECT_EQ(dx, (std::vector<float>{0, 0, 0, 0, 10, 0, 0, 0, 0}));
}

TEST(Pool, RejectsInvalidGeometry) {
  std::vector<float> buffer(64);
  EXPECT_THROW(cpu().max_pool_forward(buffer.data(), buffer.data(), 1, geometry(1, 2, 2, 3, 3, 1, 1)),
               Error);
  EXPECT_THROW(cpu().avg_pool_forward(buffer.data(), buffer.data(), 1, geometry(1, 4, 4, 2, 2, 0, 2)),
               Error);
}

}  // namespace
}  // namespace lockstep::backend
