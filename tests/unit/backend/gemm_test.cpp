// GEMM against a naive double-precision triple loop, all four transpose combinations, with
// padded leading dimensions; bias add and bias gradients against plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

std::vector<float> random_vector(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct GemmCase {
  int64_t m, n, k;
};

// C = alpha op(A) op(B) + beta C in double, reading A, B, C with their row strides.
std::vector<double> naive_gemm(bool ta, bool tb, const GemmCase& s, float alpha,
                               const std::vector<float>& a, int64_t lda,
                               const std::vector<float>& b, int64_t ldb, float beta,
                               const std::vector<float>& c, int64_t ldc) {
  std::vector<double> out(c.begin(), c.end());
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < s.k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
      }
      out[i * ldc + j] = alpha * sum + beta * static_cast<double>(c[i * ldc + j]);
    }
  }
  return out;
}

void check_gemm(bool ta, bool tb, const GemmCase& s, int64_t pad, float alpha, float beta,
                std::mt19937& rng) {
  // Stored shapes: A is [m,k] or [k,m]; B is [k,n] or [n,k]; each row padded by `pad`.
  const int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  const int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
  const std::vector<float> a = random_vector(static_cast<size_t>(a_rows * lda), rng);
  const std::vector<float> b = random_vector(static_cast<size_t>(b_rows * ldb), rng);
  std::vector<float> c = random_vector(static_cast<size_t>(s.m * ldc), rng);
  const std::vector<double> expected = naive_gemm(ta, tb, s, alpha, a, lda, b, ldb, beta, c, ldc);
  cpu().gemm(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  for (size_t i = 0; i < c.size(); ++i) {
    ASSERT_NEAR(c[i], expected[i], 1e-5 * (1.0 + static_cast<double>(s.k)))
        << "trans_a " << ta << " trans_b " << tb << " m " << s.m << " n " << s.n << " k " << s.k
        << " pad " << pad << " at " << i;
  }
}

TEST(Gemm, MatchesNaiveLoopForAllTransposesAndShapes) {
  std::mt19937 rng(1234);
  const std::vector<GemmCase> cases = {{1, 1, 1},  {1, 7, 3},   {5, 1, 4},    {3, 5, 1},
                                       {7, 9, 11}, {16, 8, 32}, {33, 17, 65}, {2, 64, 13}};
  for (const GemmCase& s : cases) {
    for (int t = 0; t < 4; ++t) {
      check_gemm(t & 1, t & 2, s, 0, 1.0f, 0.0f, rng);
      check_gemm(t & 1, t & 2, s, 3, 0.75f, -0.5f, rng);
    }
  }
}

TEST(Gemm, ZeroInnerDimensionScalesC) {
  std::vector<float> c = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  // k == 0: C = beta C; the empty A and B are never read.
  cpu().gemm(false, false, 2, 3, 0, 2.0f, nullptr, 1, nullptr, 3, 0.5f, c.data(), 3);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f}));
  c[0] = NAN;
  cpu().gemm(true, true, 2, 3, 0, 2.0f, nullptr, 2, nullptr, 1, 0.0f, c.data(), 3);
  EXPECT_EQ(c, std::vector<float>(6, 0.0f));  // beta 0 overwrites, NaN included
}

TEST(Gemm, EmptyOutputIsANoOp) {
  std::vector<float> c = {7.0f};
  cpu().gemm(false, false, 0, 1, 4, 1.0f, nullptr, 4, nullptr, 1, 0.0f, c.data(), 1);
  cpu().gemm(false, false, 1, 0, 4, 1.0f, nullptr, 4, nullptr, 1, 0.0f, c.data(), 1);
  EXPECT_EQ(c[0], 7.0f);
}

TEST(Gemm, RejectsExtentsBlasCannotTake) {
  std::vector<float> a(4), b(4), c(4);
  EXPECT_THROW(cpu().gemm(false, false, int64_t{1} << 31, 1, 1, 1.0f, a.data(), 1, b.data(), 1,
                          0.0f, c.data(), 1),
               Error);
  EXPECT_THROW(cpu().gemm(false, false, 2, 2, 2, 1.0f, a.data(), 1, b.data(), 2, 0.0f, c.data(), 2),
               Error);  // lda 1 < k 2
  EXPECT_THROW(cpu().gemm(false, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 1),
               Error);  // ldc 1 < n 2
  EXPECT_THROW(
      cpu().gemm(false, false, -1, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2), Error);
}

TEST(Bias, RowsAddAndGradient) {
  std::vector<float> y = {1, 2, 3, 4, 5, 6};  // [2, 3]
  const std::vector<float> bias = {10, 20, 30};
  cpu().add_bias_rows(y.data(), bias.data(), 2, 3);
  EXPECT_EQ(y, (std::vector<float>{11, 22, 33, 14, 25, 36}));
  std::vector<float> dbias = {-1, -1, -1};
  cpu().bias_grad_rows(y.data(), dbias.data(), 2, 3);
  EXPECT_EQ(dbias, (std::vector<float>{25, 47, 69}));
}

TEST(Bias, ChannelsAddAndGradient) {
  // y: [batch 2, channels 2, spatial 3]
  std::vector<float> y(12);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(i);
  const std::vector<float> bias = {100, 200};
  cpu().add_bias_channels(y.data(), bias.data(), 2, 2, 3);
  EXPECT_EQ(y, (std::vector<float>{100, 101, 102, 203, 204, 205, 106, 107, 108, 209, 210, 211}));
  std::vector<float> dbias = {-1, -1};
  cpu().bias_grad_channels(y.data(), dbias.data(), 2, 2, 3);
  EXPECT_EQ(dbias, (std::vector<float>{100 + 101 + 102 + 106 + 107 + 108,
                                       203 + 204 + 205 + 209 + 210 + 211}));
}

// The channel gradient sums in double over partial sums (lanes); on values whose sums are
// exact in double, any order gives the exact total, so the result must equal it whatever the
// plane size (lane tails of 1 to 7 elements included).
TEST(Bias, ChannelGradientIsTheExactSumForEveryPlaneSize) {
  const int64_t batch = 3, channels = 2;
  for (int64_t spatial : {1, 5, 8, 13, 64, 77, 576}) {
    std::vector<float> dy(static_cast<size_t>(batch * channels * spatial));
    for (size_t i = 0; i < dy.size(); ++i) {
      dy[i] = static_cast<float>(static_cast<int64_t>((i * 7919) % 1021) - 510) / 64.0f;
    }
    std::vector<float> dbias(channels, NAN);
    cpu().bias_grad_channels(dy.data(), dbias.data(), batch, channels, spatial);
    for (int64_t ch = 0; ch < channels; ++ch) {
      double exact = 0.0;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t s = 0; s < spatial; ++s)
          exact += dy[static_cast<size_t>((b * channels + ch) * spatial + s)];
      EXPECT_EQ(dbias[static_cast<size_t>(ch)], static_cast<float>(exact))
          << "spatial " << spatial << ", channel " << ch;
    }
  }
}

}  // namespace
}  // namespace lockstep::backend
