// CUDA pooling over [batch, channels, height, width] (windows pool_h x pool_w moved by
// stride_h x stride_w, no padding). Forward: one thread per output. Backward: one thread per
// input pixel gathering from the windows that cover it, in the CPU's window order, so no
// atomics are needed and each pixel's sum is bitwise the CPU's.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cuda {

namespace {

// Extents the kernels need (PoolGeometry's own helpers are host code).
struct PoolShape {
  PoolGeometry g;
  int64_t out_h, out_w;
};

PoolShape pool_shape(const PoolGeometry& g) { return PoolShape{g, g.out_h(), g.out_w()}; }

// Index within `plane` [height, width] of the first maximum of window (oy, ox), scanning the
// window row by row with the CPU's comparison (a NaN never replaces the current best).
__device__ int64_t window_argmax(const float* plane, const PoolGeometry& g, int64_t oy,
                                 int64_t ox) {
  const int64_t y0 = oy * g.stride_h, x0 = ox * g.stride_w;
  int64_t best = y0 * g.width + x0;
  for (int64_t y = y0; y < y0 + g.pool_h; ++y) {
    const int64_t row = y * g.width;
    for (int64_t x = x0; x < x0 + g.pool_w; ++x) {
      best = plane[row + x] > plane[best] ? row + x : best;
    }
  }
  return best;
}

// The windows covering input row iy are oy in [first, last] (empty when first > last): window
// oy covers rows [oy*stride, oy*stride + pool).
struct Cover {
  int64_t first, last;
};

__device__ Cover covering_windows(int64_t i, int64_t pool, int64_t stride, int64_t out) {
  const int64_t first = i < pool ? 0 : (i - pool) / stride + 1;
  const int64_t last = i / stride < out - 1 ? i / stride : out - 1;
  return Cover{first, last};
}

__global__ void max_pool_forward_kernel(const float* x, float* y, int64_t planes, PoolShape s) {
  const int64_t spatial = s.out_h * s.out_w, plane_size = s.g.height * s.g.width;
  const int64_t n = planes * spatial;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t p = i / spatial, oy = (i % spatial) / s.out_w, ox = i % s.out_w;
    const float* plane = x + p * plane_size;
    y[i] = plane[window_argmax(plane, s.g, oy, ox)];
  }
}

// dx[pixel] = the sum of dy over the windows whose first maximum is this pixel, windows taken
// in the CPU's order (oy, then ox).
__global__ void max_pool_backward_kernel(const float* x, const float* dy, float* dx, int64_t planes,
                                         PoolShape s) {
  const PoolGeometry& g = s.g;
  const int64_t plane_size = g.height * g.width, spatial = s.out_h * s.out_w;
  const int64_t n = planes * plane_size;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t p = i / plane_size, pixel = i % plane_size;
    const int64_t iy = pixel / g.width, ix = pixel % g.width;
    const float* plane = x + p * plane_size;
    const float* dy_plane = dy + p * spatial;
    const Cover rows = covering_windows(iy, g.pool_h, g.stride_h, s.out_h);
    const Cover cols = covering_windows(ix, g.pool_w, g.stride_w, s.out_w);
    float sum = 0.0f;
    for (int64_t oy = rows.first; oy <= rows.last; ++oy) {
      for (int64_t ox = cols.first; ox <= cols.last; ++ox) {
        if (window_argmax(plane, g, oy, ox) == pixel) {
          sum = __fadd_rn(sum, dy_plane[oy * s.out_w + ox]);
        }
      }
    }
    dx[i] = sum;
  }
}

__global__ void avg_pool_forward_kernel(const float* x, float* y, int64_t planes, PoolShape s,
                                        float inv_area) {
  const PoolGeometry& g = s.g;
  const int64_t spatial = s.out_h * s.out_w, plane_size = g.height * g.width;
  const int64_t n = planes * spatial;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t p = i / spatial, oy = (i % spatial) / s.out_w, ox = i % s.out_w;
    const float* plane = x + p * plane_size;
    float sum = 0.0f;
    for (int64_t yy = oy * g.stride_h; yy < oy * g.stride_h + g.pool_h; ++yy) {
      const float* row = plane + yy * g.width + ox * g.stride_w;
      for (int64_t kx = 0; kx < g.pool_w; ++kx) sum = __fadd_rn(sum, row[kx]);
    }
    y[i] = __fmul_rn(sum, inv_area);
  }
}

// dx[pixel] = the sum over the windows covering it of dy * inv_area, in the CPU's order.
__global__ void avg_pool_backward_kernel(const float* dy, float* dx, int64_t planes, PoolShape s,
                                         float inv_area) {
  const PoolGeometry& g = s.g;
  const int64_t plane_size = g.height * g.width, spatial = s.out_h * s.out_w;
  const int64_t n = planes * plane_size;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t p = i / plane_size, pixel = i % plane_size;
    const int64_t iy = pixel / g.width, ix = pixel % g.width;
    const float* dy_plane = dy + p * spatial;
    const Cover rows = covering_windows(iy, g.pool_h, g.stride_h, s.out_h);
    const Cover cols = covering_windows(ix, g.pool_w, g.stride_w, s.out_w);
    float sum = 0.0f;
    for (int64_t oy = rows.first; oy <= rows.last; ++oy) {
      for (int64_t ox = cols.first; ox <= cols.last; ++ox) {
        sum = __fadd_rn(sum, __fmul_rn(dy_plane[oy * s.out_w + ox], inv_area));
      }
    }
    dx[i] = sum;
  }
}

}  // namespace

void CudaBackend::max_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) {
  check_pool_geometry(g, batch, "max_pool_forward");
  const PoolShape s = pool_shape(g);
  const int64_t planes = batch * g.channels, n = planes * s.out_h * s.out_w;
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  max_pool_forward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, y, planes, s);
  LOCKSTEP_CUDA_CHECK_LAUNCH(max_pool_forward_kernel);
}

void CudaBackend::max_pool_backward(const float* x, const float* dy, float* dx, int64_t batch,
                                    const PoolGeometry& g) {
  check_pool_geometry(g, batch, "max_pool_backward");
  const PoolShape s = pool_shape(g);
  const int64_t planes = batch * g.channels, n = planes * g.height * g.width;
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  max_pool_backward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, dy, dx, planes, s);
  LOCKSTEP_CUDA_CHECK_LAUNCH(max_pool_backward_kernel);
}

void CudaBackend::avg_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) {
  check_pool_geometry(g, batch, "avg_pool_forward");
  const PoolShape s = pool_shape(g);
  const int64_t planes = batch * g.channels, n = planes * s.out_h * s.out_w;
  if (n <= 0) return;
  const float inv_area = 1.0f / static_cast<float>(g.pool_h * g.pool_w);
  DeviceGuard guard(ordinal_);
  avg_pool_forward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, y, planes, s, inv_area);
  LOCKSTEP_CUDA_CHECK_LAUNCH(avg_pool_forward_kernel);
}

void CudaBackend::avg_pool_backward(const float* dy, float* dx, int64_t batch,
                                    const PoolGeometry& g) {
  check_pool_geometry(g, batch, "avg_pool_backward");
  const PoolShape s = pool_shape(g);
  const int64_t planes = batch * g.channels, n = planes * g.height * g.width;
  if (n <= 0) return;
  const float inv_area = 1.0f / static_cast<float>(g.pool_h * g.pool_w);
  DeviceGuard guard(ordinal_);
  avg_pool_backward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(dy, dx, planes, s, inv_area);
  LOCKSTEP_CUDA_CHECK_LAUNCH(avg_pool_backward_kernel);
}

}  // namespace lockstep::backend::cuda
