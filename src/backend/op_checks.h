// Argument checks every backend runs before its kernels, shared so that the CPU and CUDA
// backends refuse the same calls with the same words.
#pragma once

#include <cstdint>

#include "lockstep/backend/backend.h"

namespace lockstep::backend {

// gemm's extents and strides as int (CBLAS and cuBLAS take int).
struct GemmInts {
  int m, n, k, lda, ldb, ldc;
};

// Checks gemm's arguments: every extent fits `library`'s int ("CBLAS", "cuBLAS"), and each row
// stride covers the columns as stored (A is [m,k] or [k,m] transposed, B [k,n] or [n,k]).
GemmInts check_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda,
                    int64_t ldb, int64_t ldc, const char* library);

// Checks a pooling call's geometry; `what` names the op in the message.
void check_pool_geometry(const PoolGeometry& g, int64_t batch, const char* what);

// Checks a convolution's geometry (the kernel fits the padded image); `what` names the op.
void check_conv_geometry(const ConvGeometry& g, const char* what);

// Checks dropout's arguments: rate in [0, 1), first_sample >= 0, and at most 2^32 columns
// (the elements a sample's counter can key).
void check_dropout(float rate, const DropoutKey& key, int64_t cols);

// copy_rows' extents: rows and cols >= 0, each stride at least cols, pointers set when there
// is anything to copy.
void check_copy_rows(int64_t dst_stride, const float* dst, int64_t src_stride, const float* src,
                     int64_t rows, int64_t cols);

// softmax_cross_entropy needs at least one class.
void check_classes(int64_t classes);
// The error for row `row` whose label `value` is not an integer class in [0, classes).
[[noreturn]] void throw_bad_label(int64_t row, float value, int64_t classes);

// Checks a depthwise convolution: the geometry as check_conv_geometry, batch >= 0 and a
// positive channel multiplier; `what` names the op.
void check_depthwise_conv(const ConvGeometry& g, int64_t batch, int64_t multiplier,
                          const char* what);

// Checks a layer normalization over [rows, cols]: rows >= 0, cols > 0, and the affine pair
// (weight and bias, or their gradients) both given or both null; `what` names the op.
void check_layer_norm(int64_t rows, int64_t cols, const float* weight, const float* bias,
                      const char* what);
// eps must be a positive finite number.
void check_layer_norm_eps(float eps);

// Throws unless batch >= 0, channels > 0 and spatial > 0 (`what` names the op).
void check_batch_norm(int64_t batch, int64_t channels, int64_t spatial, const char* what);

}  // namespace lockstep::backend
