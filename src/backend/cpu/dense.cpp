// CPU dense algebra: GEMM through OpenBLAS's CBLAS, and bias add / bias gradient for
// [rows, cols] and [batch, channels, spatial] layouts.
#include <cblas.h>

#include <algorithm>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cpu {

namespace {

// A sum in double over a channel's planes, spread over kLanes partial sums: element s of a
// plane goes to lane s % kLanes. One running sum would make each addition wait for the one
// before it; independent lanes overlap and vectorise. The order is fixed by the plane size
// alone, so a channel's sum depends only on the values of the call.
class ChannelSum {
 public:
  void add(const float* plane, int64_t n) {
    int64_t s = 0;
    for (; s + kLanes <= n; s += kLanes) {
      for (int64_t lane = 0; lane < kLanes; ++lane) lanes_[lane] += plane[s + lane];
    }
    for (int64_t lane = 0; s < n; ++s, ++lane) lanes_[lane] += plane[s];
  }
  double total() const {
    double pairs[kLanes / 2];
    for (int64_t i = 0; i < kLanes / 2; ++i) pairs[i] = lanes_[2 * i] + lanes_[2 * i + 1];
    return (pairs[0] + pairs[1]) + (pairs[2] + pairs[3]);
  }

 private:
  static constexpr int64_t kLanes = 8;
  double lanes_[kLanes] = {};
};

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                      float* c, int64_t ldc) {
  const GemmInts g = check_gemm(trans_a, trans_b, m, n, k, lda, ldb, ldc, "CBLAS");
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) {
    // C = beta * C; beta 0 overwrites (so NaN in C does not survive), as BLAS does.
    for (int64_t r = 0; r < m; ++r) {
      float* row = c + r * ldc;
      for (int64_t j = 0; j < n; ++j) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, g.m, g.n, g.k, alpha, a, g.lda, b, g.ldb, beta,
              c, g.ldc);
}

void CpuBackend::add_bias_rows(float* y, const float* bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * cols;
    for (int64_t j = 0; j < cols; ++j) row[j] += bias[j];
  }
}

void CpuBackend::bias_grad_rows(const float* dy, float* dbias, int64_t rows, int64_t cols) {
  std::fill(dbias, dbias + cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = dy + r * cols;
    for (int64_t j = 0; j < cols; ++j) dbias[j] += row[j];
  }
}

void CpuBackend::add_bias_channels(float* y, const float* bias, int64_t batch, int64_t channels,
                                   int64_t spatial) {
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t ch = 0; ch < channels; ++ch) {
      float* plane = y + (b * channels + ch) * spatial;
      const float value = bias[ch];
      for (int64_t s = 0; s < spatial; ++s) plane[s] += value;
    }
  }
}

void CpuBackend::bias_grad_channels(const float* dy, float* dbias, int64_t batch, int64_t channels,
                                    int64_t spatial) {
  // Each channel's sum is accumulated in double: a channel can gather batch*spatial terms.
  for (int64_t ch = 0; ch < channels; ++ch) {
    ChannelSum sum;
    for (int64_t b = 0; b < batch; ++b) sum.add(dy + (b * channels + ch) * spatial, spatial);
    dbias[ch] = static_cast<float>(sum.total());
  }
}

}  // namespace lockstep::backend::cpu
