// CUDA convolution helpers for one image: im2col unfolds [channels, height, width] into
// columns [channels*kernel_h*kernel_w, out_h*out_w] (one thread per column entry); col2im
// folds them back as a gather, one thread per pixel summing the entries that read it, so no
// two threads write one pixel (no atomics) and each pixel adds its terms in the CPU's order.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "lockstep/core/error.h"

namespace lockstep::backend::cuda {

namespace {

// The CPU's check, in its words.
void check_geometry(const ConvGeometry& g, const char* what) {
  LOCKSTEP_CHECK(
      g.channels >= 0 && g.height >= 0 && g.width >= 0 && g.kernel_h > 0 && g.kernel_w > 0 &&
          g.stride_h > 0 && g.stride_w > 0 && g.pad_h >= 0 && g.pad_w >= 0 &&
          g.height + 2 * g.pad_h >= g.kernel_h && g.width + 2 * g.pad_w >= g.kernel_w,
      what << ": invalid geometry: image " << g.channels << "x" << g.height << "x" << g.width
           << ", kernel " << g.kernel_h << "x" << g.kernel_w << ", stride " << g.stride_h << "x"
           << g.stride_w << ", padding " << g.pad_h << "x" << g.pad_w);
}

// columns[(ch*kh + ky)*kw + kx, oy*out_w + ox] = image[ch, oy*sh - ph + ky, ox*sw - pw + kx],
// or 0 where that pixel lies in the padding.
__global__ void im2col_kernel(const float* image, ConvGeometry g, int64_t out_h, int64_t out_w,
                              float* columns) {
  const int64_t spatial = out_h * out_w;
  const int64_t n = g.channels * g.kernel_h * g.kernel_w * spatial;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t patch_row = i / spatial, position = i % spatial;
    const int64_t oy = position / out_w, ox = position % out_w;
    const int64_t kx = patch_row % g.kernel_w;
    const int64_t ky = (patch_row / g.kernel_w) % g.kernel_h;
    const int64_t ch = patch_row / (g.kernel_w * g.kernel_h);
    const int64_t iy = oy * g.stride_h - g.pad_h + ky;
    const int64_t ix = ox * g.stride_w - g.pad_w + kx;
    const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
    columns[i] = inside ? image[(ch * g.height + iy) * g.width + ix] : 0.0f;
  }
}

// image[ch, iy, ix] = the sum of the column entries that read it: for each kernel offset
// (ky, kx), in the CPU's order (ky, then kx), the output position (oy, ox) with
// oy*sh - ph + ky == iy and ox*sw - pw + kx == ix, when it exists.
__global__ void col2im_kernel(const float* columns, ConvGeometry g, int64_t out_h, int64_t out_w,
                              float* image) {
  const int64_t spatial = out_h * out_w;
  const int64_t n = g.channels * g.height * g.width;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t ix = i % g.width, iy = (i / g.width) % g.height;
    const int64_t ch = i / (g.width * g.height);
    float sum = 0.0f;
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      const int64_t ty = iy + g.pad_h - ky;  // oy * stride_h
      if (ty < 0 || ty % g.stride_h != 0 || ty / g.stride_h >= out_h) continue;
      const int64_t oy = ty / g.stride_h;
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const int64_t tx = ix + g.pad_w - kx;  // ox * stride_w
        if (tx < 0 || tx % g.stride_w != 0 || tx / g.stride_w >= out_w) continue;
        const int64_t ox = tx / g.stride_w;
        const int64_t patch_row = (ch * g.kernel_h + ky) * g.kernel_w + kx;
        sum = __fadd_rn(sum, columns[patch_row * spatial + oy * out_w + ox]);
      }
    }
    image[i] = sum;
  }
}

}  // namespace

void CudaBackend::im2col(const float* image, const ConvGeometry& g, float* columns) {
  check_geometry(g, "im2col");
  const int64_t n = g.patch_size() * g.out_h() * g.out_w();
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  im2col_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(image, g, g.out_h(), g.out_w(), columns);
  LOCKSTEP_CUDA_CHECK_LAUNCH(im2col_kernel);
}

void CudaBackend::col2im(const float* columns, const ConvGeometry& g, float* image) {
  check_geometry(g, "col2im");
  const int64_t n = g.channels * g.height * g.width;
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  col2im_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(columns, g, g.out_h(), g.out_w(), image);
  LOCKSTEP_CUDA_CHECK_LAUNCH(col2im_kernel);
}

}  // namespace lockstep::backend::cuda
