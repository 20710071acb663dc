// CUDA depthwise convolution: one thread per output (forward) and per input pixel (backward,
// a gather: no atomics), adding in the CPU's order with its rounding; one block per weight
// element for the weight gradient, a double sum in a fixed tree.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/op_checks.h"

namespace lockstep::backend::cuda {

namespace {

// Extents the kernels need (ConvGeometry's own helpers are host code).
struct DepthwiseShape {
  ConvGeometry g;
  int64_t out_h, out_w, multiplier;
};

DepthwiseShape depthwise_shape(const ConvGeometry& g, int64_t multiplier) {
  return DepthwiseShape{g, g.out_h(), g.out_w(), multiplier};
}

// y[n, o, oy, ox] = sum over (ky, kx) inside the image of w[o, ky, kx] * x[n, o / m, iy, ix],
// plus bias[o] unless bias is null.
__global__ void depthwise_forward_kernel(const float* x, const float* weight, const float* bias,
                                         float* y, int64_t batch, DepthwiseShape s) {
  const ConvGeometry& g = s.g;
  const int64_t spatial = s.out_h * s.out_w, out_channels = g.channels * s.multiplier;
  const int64_t n = batch * out_channels * spatial;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t position = i % spatial, o = (i / spatial) % out_channels;
    const int64_t image = i / (spatial * out_channels);
    const int64_t oy = position / s.out_w, ox = position % s.out_w;
    const float* in = x + (image * g.channels + o / s.multiplier) * g.height * g.width;
    const float* w = weight + o * g.kernel_h * g.kernel_w;
    float sum = 0.0f;
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      const int64_t iy = oy * g.stride_h - g.pad_h + ky;
      if (iy < 0 || iy >= g.height) continue;
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const int64_t ix = ox * g.stride_w - g.pad_w + kx;
        if (ix < 0 || ix >= g.width) continue;
        sum = __fadd_rn(sum, __fmul_rn(w[ky * g.kernel_w + kx], in[iy * g.width + ix]));
      }
    }
    y[i] = bias == nullptr ? sum : __fadd_rn(sum, bias[o]);
  }
}

// dx[n, c, iy, ix] = the sum over filters j of channel c and offsets (ky, kx), in that order, of
// w[c*m + j, ky, kx] * dy[n, c*m + j, oy, ox] for the output (oy, ox) that reads the pixel.
__global__ void depthwise_backward_input_kernel(const float* dy, const float* weight, float* dx,
                                                int64_t batch, DepthwiseShape s) {
  const ConvGeometry& g = s.g;
  const int64_t plane = g.height * g.width, spatial = s.out_h * s.out_w;
  const int64_t out_channels = g.channels * s.multiplier;
  const int64_t n = batch * g.channels * plane;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t pixel = i % plane, c = (i / plane) % g.channels;
    const int64_t image = i / (plane * g.channels);
    const int64_t iy = pixel / g.width, ix = pixel % g.width;
    float sum = 0.0f;
    for (int64_t j = 0; j < s.multiplier; ++j) {
      const int64_t o = c * s.multiplier + j;
      const float* grad_out = dy + (image * out_channels + o) * spatial;
      const float* w = weight + o * g.kernel_h * g.kernel_w;
      for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
        const int64_t ty = iy + g.pad_h - ky;  // oy * stride_h
        if (ty < 0 || ty % g.stride_h != 0 || ty / g.stride_h >= s.out_h) continue;
        const int64_t oy = ty / g.stride_h;
        for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
          const int64_t tx = ix + g.pad_w - kx;  // ox * stride_w
          if (tx < 0 || tx % g.stride_w != 0 || tx / g.stride_w >= s.out_w) continue;
          const int64_t ox = tx / g.stride_w;
          sum = __fadd_rn(sum, __fmul_rn(w[ky * g.kernel_w + kx], grad_out[oy * s.out_w + ox]));
        }
      }
    }
    dx[i] = sum;
  }
}

// One block per weight element (o, ky, kx), grid-stride over them: the block's threads walk
// the (image, oy, ox) positions in a fixed interleaving, adding exact products in double, and
// combine their partial sums in a fixed tree.
__global__ void depthwise_backward_weight_kernel(const float* x, const float* dy, float* dweight,
                                                 int64_t batch, DepthwiseShape s) {
  const ConvGeometry& g = s.g;
  const int64_t taps = g.kernel_h * g.kernel_w, spatial = s.out_h * s.out_w;
  const int64_t out_channels = g.channels * s.multiplier, plane = g.height * g.width;
  const int64_t positions = batch * spatial;
  for (int64_t e = blockIdx.x; e < out_channels * taps; e += gridDim.x) {
    const int64_t o = e / taps, ky = (e % taps) / g.kernel_w, kx = e % g.kernel_w;
    const int64_t c = o / s.multiplier;
    double sum = 0.0;
    for (int64_t p = threadIdx.x; p < positions; p += blockDim.x) {
      const int64_t image = p / spatial, position = p % spatial;
      const int64_t oy = position / s.out_w, ox = position % s.out_w;
      const int64_t iy = oy * g.stride_h - g.pad_h + ky, ix = ox * g.stride_w - g.pad_w + kx;
      if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) continue;
      const double grad = dy[(image * out_channels + o) * spatial + position];
      sum += grad * static_cast<double>(x[(image * g.channels + c) * plane + iy * g.width + ix]);
    }
    sum = block_reduce(sum, SumOp{});
    if (threadIdx.x == 0) dweight[e] = static_cast<float>(sum);
  }
}

}  // namespace

void CudaBackend::depthwise_conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g,
                                           int64_t multiplier, const float* weight,
                                           const float* bias, float* y) {
  check_depthwise_conv(g, batch, multiplier, "depthwise_conv2d_forward");
  const DepthwiseShape s = depthwise_shape(g, multiplier);
  const int64_t n = batch * g.channels * multiplier * s.out_h * s.out_w;
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  depthwise_forward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, weight, bias, y, batch, s);
  LOCKSTEP_CUDA_CHECK_LAUNCH(depthwise_forward_kernel);
}

void CudaBackend::depthwise_conv2d_backward(const float* x, const float* dy, int64_t batch,
                                            const ConvGeometry& g, int64_t multiplier,
                                            const float* weight, float* dweight, float* dx) {
  check_depthwise_conv(g, batch, multiplier, "depthwise_conv2d_backward");
  const DepthwiseShape s = depthwise_shape(g, multiplier);
  const int64_t weights = g.channels * multiplier * g.kernel_h * g.kernel_w;
  const int64_t pixels = batch * g.channels * g.height * g.width;
  DeviceGuard guard(ordinal_);
  if (weights > 0) {
    // An empty batch still runs: it writes the zeros of an empty sum, as the CPU does.
    depthwise_backward_weight_kernel<<<row_blocks(weights), kThreads, 0, stream_>>>(x, dy, dweight,
                                                                                    batch, s);
    LOCKSTEP_CUDA_CHECK_LAUNCH(depthwise_backward_weight_kernel);
  }
  if (pixels > 0) {
    depthwise_backward_input_kernel<<<blocks_for(pixels), kThreads, 0, stream_>>>(dy, weight, dx,
                                                                                  batch, s);
    LOCKSTEP_CUDA_CHECK_LAUNCH(depthwise_backward_input_kernel);
  }
}

}  // namespace lockstep::backend::cuda
