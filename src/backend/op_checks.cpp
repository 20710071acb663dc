// The backends' shared argument checks (op_checks.h).
#include "backend/op_checks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lockstep/base/error.h"

namespace lockstep::backend {

namespace {

// BLAS takes int extents: refuse anything that would be truncated.
int to_blas_int(int64_t value, const char* name, const char* library) {
  LOCKSTEP_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(),
                 "gemm: " << name << " = " << value << " does not fit the int of " << library);
  return static_cast<int>(value);
}

}  // namespace

void check_copy_rows(int64_t dst_stride, const float* dst, int64_t src_stride, const float* src,
                     int64_t rows, int64_t cols) {
  LOCKSTEP_CHECK(rows >= 0 && cols >= 0,
                 "copy_rows: rows " << rows << " and cols " << cols << " must not be negative");
  LOCKSTEP_CHECK(dst_stride >= cols && src_stride >= cols,
                 "copy_rows: strides " << dst_stride << " (dst) and " << src_stride
                                       << " (src) must be at least the " << cols << " columns");
  LOCKSTEP_CHECK(rows == 0 || cols == 0 || (dst != nullptr && src != nullptr),
                 "copy_rows: null buffer for " << rows << " rows of " << cols << " columns");
}

GemmInts check_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda,
                    int64_t ldb, int64_t ldc, const char* library) {
  const GemmInts g{to_blas_int(m, "m", library),     to_blas_int(n, "n", library),
                   to_blas_int(k, "k", library),     to_blas_int(lda, "lda", library),
                   to_blas_int(ldb, "ldb", library), to_blas_int(ldc, "ldc", library)};
  LOCKSTEP_CHECK(g.ldc >= std::max(g.n, 1), "gemm: ldc " << ldc << " is less than n " << n);
  LOCKSTEP_CHECK(g.lda >= std::max(trans_a ? g.m : g.k, 1),
                 "gemm: lda " << lda << " is less than the " << (trans_a ? m : k)
                              << " columns of A as stored");
  LOCKSTEP_CHECK(g.ldb >= std::max(trans_b ? g.k : g.n, 1),
                 "gemm: ldb " << ldb << " is less than the " << (trans_b ? k : n)
                              << " columns of B as stored");
  return g;
}

void check_pool_geometry(const PoolGeometry& g, int64_t batch, const char* what) {
  LOCKSTEP_CHECK(batch >= 0 && g.channels >= 0 && g.pool_h > 0 && g.pool_w > 0 && g.stride_h > 0 &&
                     g.stride_w > 0 && g.height >= g.pool_h && g.width >= g.pool_w,
                 what << ": invalid geometry: batch " << batch << ", image " << g.channels << "x"
                      << g.height << "x" << g.width << ", pool " << g.pool_h << "x" << g.pool_w
                      << ", stride " << g.stride_h << "x" << g.stride_w);
}

void check_conv_geometry(const ConvGeometry& g, const char* what) {
  LOCKSTEP_CHECK(
      g.channels >= 0 && g.height >= 0 && g.width >= 0 && g.kernel_h > 0 && g.kernel_w > 0 &&
          g.stride_h > 0 && g.stride_w > 0 && g.pad_h >= 0 && g.pad_w >= 0 &&
          g.height + 2 * g.pad_h >= g.kernel_h && g.width + 2 * g.pad_w >= g.kernel_w,
      what << ": invalid geometry: image " << g.channels << "x" << g.height << "x" << g.width
           << ", kernel " << g.kernel_h << "x" << g.kernel_w << ", stride " << g.stride_h << "x"
           << g.stride_w << ", padding " << g.pad_h << "x" << g.pad_w);
}

void check_dropout(float rate, const DropoutKey& key, int64_t cols) {
  LOCKSTEP_CHECK(rate >= 0.0f && rate < 1.0f, "dropout: rate must be in [0, 1), found " << rate);
  LOCKSTEP_CHECK(key.first_sample >= 0,
                 "dropout: first_sample must be a sample id >= 0, found " << key.first_sample);
  LOCKSTEP_CHECK(cols <= int64_t{UINT32_MAX} + 1,
                 "dropout: " << cols << " columns exceed the 2^32 elements a sample can key");
}

void check_classes(int64_t classes) {
  LOCKSTEP_CHECK(classes > 0, "softmax_cross_entropy: needs at least one class, found " << classes);
}

void throw_bad_label(int64_t row, float value, int64_t classes) {
  LOCKSTEP_THROW("softmax_cross_entropy: label of row "
                 << row << " is " << value << ", expected an integer class in [0, " << classes
                 << ")");
}

void check_depthwise_conv(const ConvGeometry& g, int64_t batch, int64_t multiplier,
                          const char* what) {
  check_conv_geometry(g, what);
  LOCKSTEP_CHECK(batch >= 0 && multiplier > 0, what << ": batch must be >= 0 and the multiplier "
                                                       "positive, found batch "
                                                    << batch << " and multiplier " << multiplier);
}

void check_layer_norm(int64_t rows, int64_t cols, const float* weight, const float* bias,
                      const char* what) {
  LOCKSTEP_CHECK(rows >= 0 && cols > 0, what << ": needs rows >= 0 and cols > 0, found rows "
                                             << rows << " and cols " << cols);
  LOCKSTEP_CHECK((weight == nullptr) == (bias == nullptr),
                 what << ": the weight and bias must both be given or both be null, found "
                      << (weight == nullptr ? "no weight" : "a weight") << " and "
                      << (bias == nullptr ? "no bias" : "a bias"));
}

void check_layer_norm_eps(float eps) {
  LOCKSTEP_CHECK(std::isfinite(eps) && eps > 0.0f,
                 "layer_norm_forward: eps must be a positive finite number, found " << eps);
}

void check_batch_norm(int64_t batch, int64_t channels, int64_t spatial, const char* what) {
  LOCKSTEP_CHECK(batch >= 0 && channels > 0 && spatial > 0,
                 what << ": needs batch >= 0, channels > 0 and spatial > 0, found batch " << batch
                      << ", channels " << channels << " and spatial " << spatial);
}

}  // namespace lockstep::backend
