// Max and average pooling against naive loops (overlapping and disjoint windows), backward by
// finite differences, and the first-maximum rule for ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
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
        for (int64_t i = 0; i < y.numel(); ++i)
          sum += static_cast<double>(dy.data()[i]) * y.data()[i];
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

// --- float-exact references --------------------------------------------------------------
// These follow the general path's arithmetic step for step (scan order, float sums from 0,
// gradients added into a zero-filled dx), so they must agree with every path bit for bit.

struct PoolReference {
  std::vector<float> max_y, max_dx, avg_y, avg_dx;
};

PoolReference float_reference(const std::vector<float>& x, const std::vector<float>& dy,
                              int64_t batch, const PoolGeometry& g) {
  const int64_t oh = g.out_h(), ow = g.out_w(), plane = g.height * g.width;
  PoolReference r;
  r.max_dx.assign(x.size(), 0.0f);
  r.avg_dx.assign(x.size(), 0.0f);
  const float inv_area = 1.0f / static_cast<float>(g.pool_h * g.pool_w);
  for (int64_t p = 0; p < batch * g.channels; ++p)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        const size_t out = static_cast<size_t>((p * oh + oy) * ow + ox);
        size_t best = static_cast<size_t>(p * plane + oy * g.stride_h * g.width + ox * g.stride_w);
        float sum = 0.0f;
        for (int64_t ky = 0; ky < g.pool_h; ++ky)
          for (int64_t kx = 0; kx < g.pool_w; ++kx) {
            const size_t i = static_cast<size_t>(p * plane + (oy * g.stride_h + ky) * g.width +
                                                 ox * g.stride_w + kx);
            if (x[i] > x[best]) best = i;
            sum += x[i];
          }
        r.max_y.push_back(x[best]);
        r.max_dx[best] += dy[out];
        r.avg_y.push_back(sum * inv_area);
        const float share = dy[out] * inv_area;
        for (int64_t ky = 0; ky < g.pool_h; ++ky)
          for (int64_t kx = 0; kx < g.pool_w; ++kx)
            r.avg_dx[static_cast<size_t>(p * plane + (oy * g.stride_h + ky) * g.width +
                                         ox * g.stride_w + kx)] += share;
      }
  return r;
}

std::vector<uint32_t> bits(const std::vector<float>& values) {
  std::vector<uint32_t> out(values.size());
  if (!values.empty()) std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
  return out;
}

// Values from a small set with signed zeros and NaN: windows full of ties, where only the
// first-maximum rule decides which pixel (and which zero's sign) wins.
std::vector<float> tie_heavy_values(size_t n, uint32_t seed) {
  const float choices[] = {-1.0f, -0.0f, 0.0f, 0.5f, 0.5f, 2.0f, NAN};
  std::mt19937 rng(seed);
  std::vector<float> values(n);
  for (float& v : values) v = choices[std::uniform_int_distribution<int>(0, 6)(rng)];
  return values;
}

// Runs every pooling op on `g` and compares all four results with the reference bit for bit;
// outputs start as NaN so an element a path forgets to write shows up.
void expect_pooling_matches_reference(const PoolGeometry& g, int64_t batch,
                                      const std::vector<float>& x, const std::vector<float>& dy) {
  const PoolReference r = float_reference(x, dy, batch, g);
  std::vector<float> y(dy.size(), NAN), dx(x.size(), NAN);
  const std::string where = "image " + std::to_string(g.height) + "x" + std::to_string(g.width) +
                            " pool " + std::to_string(g.pool_h) + "x" + std::to_string(g.pool_w) +
                            " stride " + std::to_string(g.stride_h) + "x" +
                            std::to_string(g.stride_w);
  cpu().max_pool_forward(x.data(), y.data(), batch, g);
  EXPECT_EQ(bits(y), bits(r.max_y)) << "max forward, " << where;
  cpu().max_pool_backward(x.data(), dy.data(), dx.data(), batch, g);
  EXPECT_EQ(bits(dx), bits(r.max_dx)) << "max backward, " << where;
  std::fill(y.begin(), y.end(), NAN);
  std::fill(dx.begin(), dx.end(), NAN);
  cpu().avg_pool_forward(x.data(), y.data(), batch, g);
  EXPECT_EQ(bits(y), bits(r.avg_y)) << "avg forward, " << where;
  cpu().avg_pool_backward(dy.data(), dx.data(), batch, g);
  EXPECT_EQ(bits(dx), bits(r.avg_dx)) << "avg backward, " << where;
}

// The 2x2 stride-2 path (the built-in cnn's pooling) gives the general path's bits: same
// first maximum among ties, -0 gradients arriving as +0 (0 + dy), zero gradient for the last
// row and column that odd sizes leave uncovered.
TEST(Pool, TwoByTwoStrideTwoPathMatchesFloatReferenceBitForBit) {
  const int64_t batch = 3;
  for (const auto& [h, w] : {std::pair<int64_t, int64_t>{24, 24},
                             {8, 8},
                             {5, 7},
                             {2, 3},
                             {7, 2},
                             {3, 3},
                             {2, 2},
                             {9, 16}}) {
    const PoolGeometry g = geometry(2, h, w, 2, 2, 2, 2);
    const size_t n = static_cast<size_t>(batch * g.channels * h * w);
    const size_t out = static_cast<size_t>(batch * g.channels * g.out_h() * g.out_w());
    std::vector<float> dy = testing::random_tensor({static_cast<int64_t>(out)}, 4).to_vector();
    dy[0] = -0.0f;
    std::vector<float> ties = tie_heavy_values(n, 7);
    // A window of -0s: the general path sums from 0 (0 + -0 = +0), so its average is +0.
    for (size_t i : {size_t{0}, size_t{1}, static_cast<size_t>(w), static_cast<size_t>(w) + 1}) {
      ties[i] = -0.0f;
    }
    expect_pooling_matches_reference(g, batch, ties, dy);
    expect_pooling_matches_reference(
        g, batch, testing::random_tensor({static_cast<int64_t>(n)}, 8).to_vector(), dy);
  }
}

// The same reference against geometries of the general path: it is the general path's
// arithmetic, so the test above compares the 2x2 path with the general one.
TEST(Pool, GeneralPathMatchesFloatReferenceBitForBit) {
  const int64_t batch = 2;
  for (const PoolGeometry& g :
       {geometry(2, 7, 6, 3, 3, 2, 2), geometry(1, 5, 8, 2, 3, 1, 2), geometry(2, 6, 6, 2, 2, 1, 1),
        geometry(1, 9, 9, 3, 3, 3, 3), geometry(2, 6, 7, 2, 2, 2, 3)}) {
    const size_t n = static_cast<size_t>(batch * g.channels * g.height * g.width);
    const size_t out = static_cast<size_t>(batch * g.channels * g.out_h() * g.out_w());
    const std::vector<float> dy =
        testing::random_tensor({static_cast<int64_t>(out)}, 5).to_vector();
    expect_pooling_matches_reference(g, batch, tie_heavy_values(n, 9), dy);
  }
}

TEST(Pool, RejectsInvalidGeometry) {
  std::vector<float> buffer(64);
  EXPECT_THROW(
      cpu().max_pool_forward(buffer.data(), buffer.data(), 1, geometry(1, 2, 2, 3, 3, 1, 1)),
      Error);
  EXPECT_THROW(
      cpu().avg_pool_forward(buffer.data(), buffer.data(), 1, geometry(1, 4, 4, 2, 2, 0, 2)),
      Error);
}

}  // namespace
}  // namespace lockstep::backend
