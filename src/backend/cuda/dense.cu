// CUDA dense algebra: row-major GEMM through column-major cuBLAS, bias add and bias gradients
// for [rows, cols] and [batch, channels, spatial]. The bias gradients are sums in a fixed
// order without atomics, so they are bitwise reproducible from run to run.
#include <algorithm>
#include <limits>
#include <mutex>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cuda {

namespace {

// C[r, j] = beta * C[r, j] over [m, n] with row stride ldc; beta 0 writes zeros (so NaN in C
// does not survive), as BLAS does for k == 0.
__global__ void scale_matrix_kernel(float* c, int64_t m, int64_t n, int64_t ldc, float beta) {
  const int64_t total = m * n;
  for (int64_t i = grid_first(); i < total; i += grid_stride()) {
    float& value = c[(i / n) * ldc + i % n];
    value = beta == 0.0f ? 0.0f : __fmul_rn(beta, value);
  }
}

__global__ void add_bias_rows_kernel(float* y, const float* bias, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    y[i] = __fadd_rn(y[i], bias[i % cols]);
  }
}

// One thread per column sums its column in row order, in float, exactly as the CPU loop does
// (so the result is bitwise the CPU's); neighbouring threads read neighbouring columns of a
// row, so every load is coalesced.
__global__ void bias_grad_rows_kernel(const float* dy, float* dbias, int64_t rows, int64_t cols) {
  for (int64_t c = grid_first(); c < cols; c += grid_stride()) {
    float sum = 0.0f;
    for (int64_t r = 0; r < rows; ++r) sum = __fadd_rn(sum, dy[r * cols + c]);
    dbias[c] = sum;
  }
}

__global__ void add_bias_channels_kernel(float* y, const float* bias, int64_t batch,
                                         int64_t channels, int64_t spatial) {
  const int64_t n = batch * channels * spatial;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    y[i] = __fadd_rn(y[i], bias[(i / spatial) % channels]);
  }
}

// One block per channel (grid-stride over channels): the block's threads walk the channel's
// batch*spatial entries in a fixed interleaving, summing in double as the CPU does, then the
// block combines its partial sums in a fixed tree.
__global__ void bias_grad_channels_kernel(const float* dy, float* dbias, int64_t batch,
                                          int64_t channels, int64_t spatial) {
  const int64_t per_channel = batch * spatial;
  for (int64_t ch = blockIdx.x; ch < channels; ch += gridDim.x) {
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < per_channel; i += blockDim.x) {
      const int64_t b = i / spatial, s = i % spatial;
      sum += static_cast<double>(dy[(b * channels + ch) * spatial + s]);
    }
    sum = block_reduce(sum, SumOp{});
    if (threadIdx.x == 0) dbias[ch] = static_cast<float>(sum);
  }
}

}  // namespace

void CudaBackend::gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                       const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                       float* c, int64_t ldc) {
  const GemmInts g = check_gemm(trans_a, trans_b, m, n, k, lda, ldb, ldc, "cuBLAS");
  if (g.m == 0 || g.n == 0) return;
  DeviceGuard guard(ordinal_);
  if (g.k == 0) {
    scale_matrix_kernel<<<blocks_for(m * n), kThreads, 0, stream_>>>(c, m, n, ldc, beta);
    LOCKSTEP_CUDA_CHECK_LAUNCH(scale_matrix_kernel);
    return;
  }
  // A row-major [r, c] matrix with row stride ld is the column-major [c, r] matrix with
  // leading dimension ld, its transpose. So row-major C = op(A) op(B) is column-major
  // C^T = op(B)^T op(A)^T: swap the operands and m with n, and keep each transpose flag.
  const bool tf32 = allow_tf32();
  std::lock_guard lock(cublas_mutex_);
  LOCKSTEP_CUBLAS_CHECK(
      cublasSetMathMode(cublas_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  LOCKSTEP_CUBLAS_CHECK(cublasGemmEx(
      cublas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, g.n, g.m,
      g.k, &alpha, b, CUDA_R_32F, g.ldb, a, CUDA_R_32F, g.lda, &beta, c, CUDA_R_32F, g.ldc,
      tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::add_bias_rows(float* y, const float* bias, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  DeviceGuard guard(ordinal_);
  add_bias_rows_kernel<<<blocks_for(rows * cols), kThreads, 0, stream_>>>(y, bias, rows, cols);
  LOCKSTEP_CUDA_CHECK_LAUNCH(add_bias_rows_kernel);
}

void CudaBackend::bias_grad_rows(const float* dy, float* dbias, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  DeviceGuard guard(ordinal_);
  // rows == 0 still runs: it writes the zeros of an empty sum, as the CPU does.
  bias_grad_rows_kernel<<<blocks_for(cols), kThreads, 0, stream_>>>(dy, dbias, rows, cols);
  LOCKSTEP_CUDA_CHECK_LAUNCH(bias_grad_rows_kernel);
}

void CudaBackend::add_bias_channels(float* y, const float* bias, int64_t batch, int64_t channels,
                                    int64_t spatial) {
  if (batch <= 0 || channels <= 0 || spatial <= 0) return;
  DeviceGuard guard(ordinal_);
  add_bias_channels_kernel<<<blocks_for(batch * channels * spatial), kThreads, 0, stream_>>>(
      y, bias, batch, channels, spatial);
  LOCKSTEP_CUDA_CHECK_LAUNCH(add_bias_channels_kernel);
}

void CudaBackend::bias_grad_channels(const float* dy, float* dbias, int64_t batch, int64_t channels,
                                     int64_t spatial) {
  if (channels <= 0) return;
  DeviceGuard guard(ordinal_);
  // An empty batch or image still runs: it writes the zeros of an empty sum, as the CPU does.
  bias_grad_channels_kernel<<<row_blocks(channels), kThreads, 0, stream_>>>(dy, dbias, batch,
                                                                            channels, spatial);
  LOCKSTEP_CUDA_CHECK_LAUNCH(bias_grad_channels_kernel);
}

}  // namespace lockstep::backend::cuda
