// CUDA layer normalization over the rows of [rows, cols]: one block per row (double sums in a
// fixed tree, then the CPU's float arithmetic step for step), and one thread per column for
// the weight and bias gradients (the CPU's row-order double sums); no atomics.
#include <cmath>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/op_checks.h"

namespace lockstep::backend::cuda {

namespace {

// xhat = (x - mean) * rstd, rounded as the CPU rounds it.
__device__ float normalize(float x, float mean, float rstd) {
  return __fmul_rn(__fsub_rn(x, mean), rstd);
}

// dy * weight, or dy without an affine weight.
__device__ float scaled_gradient(const float* dy, const float* weight, int64_t j) {
  return weight == nullptr ? dy[j] : __fmul_rn(dy[j], weight[j]);
}

__global__ void layer_norm_forward_kernel(const float* x, const float* weight, const float* bias,
                                          float* y, float* mean, float* rstd, int64_t rows,
                                          int64_t cols, float eps) {
  const double count = static_cast<double>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += static_cast<double>(in[j]);
    const double row_mean = block_reduce(sum, SumOp{}) / count;
    double squares = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const double d = __dsub_rn(static_cast<double>(in[j]), row_mean);
      squares = __dadd_rn(squares, __dmul_rn(d, d));
    }
    const double variance = block_reduce(squares, SumOp{}) / count;
    const float m = static_cast<float>(row_mean);
    const float s = static_cast<float>(1.0 / sqrt(variance + static_cast<double>(eps)));
    if (threadIdx.x == 0) {
      mean[r] = m;
      rstd[r] = s;
    }
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float normalized = normalize(in[j], m, s);
      out[j] =
          weight == nullptr ? normalized : __fadd_rn(__fmul_rn(normalized, weight[j]), bias[j]);
    }
  }
}

// dx = rstd * ((g - mean(g)) - xhat * mean(g * xhat)) with g = dy * weight, per row.
__global__ void layer_norm_backward_input_kernel(const float* x, const float* dy,
                                                 const float* weight, const float* mean,
                                                 const float* rstd, float* dx, int64_t rows,
                                                 int64_t cols) {
  const double inv_cols = 1.0 / static_cast<double>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* in = x + r * cols;
    const float* grad_out = dy + r * cols;
    float* grad_in = dx + r * cols;
    const float m = mean[r], s = rstd[r];
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float g = scaled_gradient(grad_out, weight, j);
      sum_g += static_cast<double>(g);
      sum_g_xhat = __dadd_rn(sum_g_xhat, __dmul_rn(static_cast<double>(g),
                                                   static_cast<double>(normalize(in[j], m, s))));
    }
    const float mean_g = static_cast<float>(__dmul_rn(block_reduce(sum_g, SumOp{}), inv_cols));
    const float mean_g_xhat =
        static_cast<float>(__dmul_rn(block_reduce(sum_g_xhat, SumOp{}), inv_cols));
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float g = scaled_gradient(grad_out, weight, j);
      const float centered = __fsub_rn(g, mean_g);
      grad_in[j] =
          __fmul_rn(s, __fsub_rn(centered, __fmul_rn(normalize(in[j], m, s), mean_g_xhat)));
    }
  }
}

// dweight[j] = sum_r dy[r, j] * xhat[r, j] and dbias[j] = sum_r dy[r, j]: one thread per
// column, rows in order, in double; neighbouring threads read neighbouring columns.
__global__ void layer_norm_backward_weight_kernel(const float* x, const float* dy,
                                                  const float* mean, const float* rstd,
                                                  float* dweight, float* dbias, int64_t rows,
                                                  int64_t cols) {
  for (int64_t j = grid_first(); j < cols; j += grid_stride()) {
    double weight_sum = 0.0, bias_sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const float grad = dy[r * cols + j];
      const float normalized = normalize(x[r * cols + j], mean[r], rstd[r]);
      weight_sum = __dadd_rn(weight_sum,
                             __dmul_rn(static_cast<double>(grad), static_cast<double>(normalized)));
      bias_sum += static_cast<double>(grad);
    }
    dweight[j] = static_cast<float>(weight_sum);
    dbias[j] = static_cast<float>(bias_sum);
  }
}

}  // namespace

void CudaBackend::layer_norm_forward(const float* x, const float* weight, const float* bias,
                                     float* y, float* mean, float* rstd, int64_t rows, int64_t cols,
                                     float eps) {
  check_layer_norm(rows, cols, weight, bias, "layer_norm_forward");
  check_layer_norm_eps(eps);
  if (rows <= 0) return;
  DeviceGuard guard(ordinal_);
  layer_norm_forward_kernel<<<row_blocks(rows), threads_for_row(cols), 0, stream_>>>(
      x, weight, bias, y, mean, rstd, rows, cols, eps);
  LOCKSTEP_CUDA_CHECK_LAUNCH(layer_norm_forward_kernel);
}

void CudaBackend::layer_norm_backward(const float* x, const float* dy, const float* weight,
                                      const float* mean, const float* rstd, float* dx,
                                      float* dweight, float* dbias, int64_t rows, int64_t cols) {
  check_layer_norm(rows, cols, dweight, dbias, "layer_norm_backward");
  DeviceGuard guard(ordinal_);
  if (rows > 0) {
    layer_norm_backward_input_kernel<<<row_blocks(rows), threads_for_row(cols), 0, stream_>>>(
        x, dy, weight, mean, rstd, dx, rows, cols);
    LOCKSTEP_CUDA_CHECK_LAUNCH(layer_norm_backward_input_kernel);
  }
  if (dweight != nullptr) {
    // An empty batch still runs: it writes the zeros of an empty sum, as the CPU does.
    layer_norm_backward_weight_kernel<<<blocks_for(cols), kThreads, 0, stream_>>>(
        x, dy, mean, rstd, dweight, dbias, rows, cols);
    LOCKSTEP_CUDA_CHECK_LAUNCH(layer_norm_backward_weight_kernel);
  }
}

}  // namespace lockstep::backend::cuda
