// CUDA batch normalization over the channels of [batch, channels, spatial]: one block per
// channel for the sums (double, each thread a strided slice in order, then the block's fixed
// tree), one thread per element for the normalisation and the input gradient, with the CPU's
// float rounding step for step; no atomics.
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

// Element i of the channel's batch * spatial elements: image i / spatial, position i % spatial.
__device__ int64_t channel_element(int64_t i, int64_t c, int64_t channels, int64_t spatial) {
  return ((i / spatial) * channels + c) * spatial + i % spatial;
}

__global__ void batch_norm_sums_kernel(const float* x, int64_t batch, int64_t channels,
                                       int64_t spatial, double* sums) {
  const int64_t count = batch * spatial;
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    double sum = 0.0, squares = 0.0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const double v = x[channel_element(i, c, channels, spatial)];
      sum = __dadd_rn(sum, v);
      squares = __dadd_rn(squares, __dmul_rn(v, v));
    }
    sum = block_reduce(sum, SumOp{});
    squares = block_reduce(squares, SumOp{});
    if (threadIdx.x == 0) {
      sums[c] = sum;
      sums[channels + c] = squares;
    }
  }
}

__global__ void batch_norm_forward_kernel(const float* x, const float* mean, const float* rstd,
                                          const float* weight, const float* bias, float* y,
                                          int64_t n, int64_t channels, int64_t spatial) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t c = (i / spatial) % channels;
    y[i] = __fadd_rn(__fmul_rn(normalize(x[i], mean[c], rstd[c]), weight[c]), bias[c]);
  }
}

__global__ void batch_norm_backward_sums_kernel(const float* x, const float* dy, const float* mean,
                                                const float* rstd, int64_t batch, int64_t channels,
                                                int64_t spatial, double* sums) {
  const int64_t count = batch * spatial;
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    const float m = mean[c], s = rstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const int64_t at = channel_element(i, c, channels, spatial);
      const double grad = dy[at];
      sum_dy = __dadd_rn(sum_dy, grad);
      sum_dy_xhat =
          __dadd_rn(sum_dy_xhat, __dmul_rn(grad, static_cast<double>(normalize(x[at], m, s))));
    }
    sum_dy = block_reduce(sum_dy, SumOp{});
    sum_dy_xhat = block_reduce(sum_dy_xhat, SumOp{});
    if (threadIdx.x == 0) {
      sums[c] = sum_dy;
      sums[channels + c] = sum_dy_xhat;
    }
  }
}

__global__ void batch_norm_backward_input_kernel(const float* x, const float* dy, const float* mean,
                                                 const float* rstd, const float* weight,
                                                 const float* mean_dy, const float* mean_dy_xhat,
                                                 float* dx, int64_t n, int64_t channels,
                                                 int64_t spatial) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t c = (i / spatial) % channels;
    const float xhat = normalize(x[i], mean[c], rstd[c]);
    const float scale = __fmul_rn(weight[c], rstd[c]);
    const float centered =
        __fsub_rn(__fsub_rn(dy[i], mean_dy[c]), __fmul_rn(xhat, mean_dy_xhat[c]));
    dx[i] = __fmul_rn(scale, centered);
  }
}

}  // namespace

void CudaBackend::batch_norm_sums(const float* x, int64_t batch, int64_t channels, int64_t spatial,
                                  double* sums) {
  check_batch_norm(batch, channels, spatial, "batch_norm_sums");
  DeviceGuard guard(ordinal_);
  // An empty batch still runs: it writes the zeros of an empty sum, as the CPU does.
  batch_norm_sums_kernel<<<row_blocks(channels), threads_for_row(batch * spatial), 0, stream_>>>(
      x, batch, channels, spatial, sums);
  LOCKSTEP_CUDA_CHECK_LAUNCH(batch_norm_sums_kernel);
}

void CudaBackend::batch_norm_forward(const float* x, const float* mean, const float* rstd,
                                     const float* weight, const float* bias, float* y,
                                     int64_t batch, int64_t channels, int64_t spatial) {
  check_batch_norm(batch, channels, spatial, "batch_norm_forward");
  const int64_t n = batch * channels * spatial;
  if (n == 0) return;
  DeviceGuard guard(ordinal_);
  batch_norm_forward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, mean, rstd, weight, bias, y,
                                                                     n, channels, spatial);
  LOCKSTEP_CUDA_CHECK_LAUNCH(batch_norm_forward_kernel);
}

void CudaBackend::batch_norm_backward_sums(const float* x, const float* dy, const float* mean,
                                           const float* rstd, int64_t batch, int64_t channels,
                                           int64_t spatial, double* sums) {
  check_batch_norm(batch, channels, spatial, "batch_norm_backward_sums");
  DeviceGuard guard(ordinal_);
  batch_norm_backward_sums_kernel<<<row_blocks(channels), threads_for_row(batch * spatial), 0,
                                    stream_>>>(x, dy, mean, rstd, batch, channels, spatial, sums);
  LOCKSTEP_CUDA_CHECK_LAUNCH(batch_norm_backward_sums_kernel);
}

void CudaBackend::batch_norm_backward_input(const float* x, const float* dy, const float* mean,
                                            const float* rstd, const float* weight,
                                            const float* mean_dy, const float* mean_dy_xhat,
                                            float* dx, int64_t batch, int64_t channels,
                                            int64_t spatial) {
  check_batch_norm(batch, channels, spatial, "batch_norm_backward_input");
  const int64_t n = batch * channels * spatial;
  if (n == 0) return;
  DeviceGuard guard(ordinal_);
  batch_norm_backward_input_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(
      x, dy, mean, rstd, weight, mean_dy, mean_dy_xhat, dx, n, channels, spatial);
  LOCKSTEP_CUDA_CHECK_LAUNCH(batch_norm_backward_input_kernel);
}

}  // namespace lockstep::backend::cuda
