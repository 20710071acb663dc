// CUDA convolution: im2col unfolds `images` consecutive images [channels, height, width] into
// columns [channels*kernel_h*kernel_w, images*out_h*out_w] (image n's positions at n*out_h*out_w,
// one thread per column entry); col2im folds them back as a gather, one thread per pixel
// summing the entries that read it, so no two threads write one pixel (no atomics) and each
// pixel adds its terms in the CPU's order. conv2d_forward/backward unfold many images at once,
// so that each GEMM covers them all; the GEMM's [filters, images, spatial] layout is swapped
// to and from the tensors' [images, filters, spatial] around it.
#include <algorithm>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/op_checks.h"

namespace lockstep::backend::cuda {

namespace {

// columns[(ch*kh + ky)*kw + kx, n*spatial + oy*out_w + ox] =
// images[n, ch, oy*sh - ph + ky, ox*sw - pw + kx], or 0 where that pixel lies in the padding.
__global__ void im2col_kernel(const float* images, int64_t count, ConvGeometry g, int64_t out_h,
                              int64_t out_w, float* columns) {
  const int64_t spatial = out_h * out_w, row = count * spatial;
  const int64_t image_size = g.channels * g.height * g.width;
  const int64_t n = g.channels * g.kernel_h * g.kernel_w * row;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t patch_row = i / row, image = (i % row) / spatial, position = i % spatial;
    const int64_t oy = position / out_w, ox = position % out_w;
    const int64_t kx = patch_row % g.kernel_w;
    const int64_t ky = (patch_row / g.kernel_w) % g.kernel_h;
    const int64_t ch = patch_row / (g.kernel_w * g.kernel_h);
    const int64_t iy = oy * g.stride_h - g.pad_h + ky;
    const int64_t ix = ox * g.stride_w - g.pad_w + kx;
    const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
    columns[i] = inside ? images[image * image_size + (ch * g.height + iy) * g.width + ix] : 0.0f;
  }
}

// images[n, ch, iy, ix] = the sum of the column entries that read it: for each kernel offset
// (ky, kx), in the CPU's order (ky, then kx), the output position (oy, ox) with
// oy*sh - ph + ky == iy and ox*sw - pw + kx == ix, when it exists.
__global__ void col2im_kernel(const float* columns, int64_t count, ConvGeometry g, int64_t out_h,
                              int64_t out_w, float* images) {
  const int64_t spatial = out_h * out_w, row = count * spatial;
  const int64_t image_size = g.channels * g.height * g.width;
  const int64_t n = count * image_size;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t image = i / image_size, pixel = i % image_size;
    const int64_t ix = pixel % g.width, iy = (pixel / g.width) % g.height;
    const int64_t ch = pixel / (g.width * g.height);
    const float* image_columns = columns + image * spatial;
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
        sum = __fadd_rn(sum, image_columns[patch_row * row + oy * out_w + ox]);
      }
    }
    images[i] = sum;
  }
}

// y[j, i, k] = x[i, j, k] for x [a, b, inner]: between the tensors' [images, filters, spatial]
// and the GEMM's [filters, images, spatial].
__global__ void swap_leading_axes_kernel(const float* x, int64_t a, int64_t b, int64_t inner,
                                         float* y) {
  const int64_t n = a * b * inner;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t k = i % inner, j = (i / inner) % b, first = i / (inner * b);
    y[(j * a + first) * inner + k] = x[i];
  }
}

}  // namespace

void CudaBackend::im2col(const float* image, const ConvGeometry& g, float* columns) {
  check_conv_geometry(g, "im2col");
  unfold(image, 1, g, columns);
}

void CudaBackend::col2im(const float* columns, const ConvGeometry& g, float* image) {
  check_conv_geometry(g, "col2im");
  fold(columns, 1, g, image);
}

void CudaBackend::unfold(const float* images, int64_t count, const ConvGeometry& g,
                         float* columns) {
  const int64_t n = g.patch_size() * count * g.out_h() * g.out_w();
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  im2col_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(images, count, g, g.out_h(), g.out_w(),
                                                         columns);
  LOCKSTEP_CUDA_CHECK_LAUNCH(im2col_kernel);
}

void CudaBackend::fold(const float* columns, int64_t count, const ConvGeometry& g, float* images) {
  const int64_t n = count * g.channels * g.height * g.width;
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  col2im_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(columns, count, g, g.out_h(), g.out_w(),
                                                         images);
  LOCKSTEP_CUDA_CHECK_LAUNCH(col2im_kernel);
}

void CudaBackend::swap_leading_axes(const float* x, int64_t a, int64_t b, int64_t inner, float* y) {
  const int64_t n = a * b * inner;
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  swap_leading_axes_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, a, b, inner, y);
  LOCKSTEP_CUDA_CHECK_LAUNCH(swap_leading_axes_kernel);
}

int64_t CudaBackend::conv_images_per_pass(const ConvGeometry& g, int64_t batch) {
  const int64_t per_image = std::max<int64_t>(g.patch_size() * g.out_h() * g.out_w(), 1);
  return std::clamp<int64_t>(kConvColumnFloats / per_image, 1, std::max<int64_t>(batch, 1));
}

void CudaBackend::conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g,
                                 int64_t filters, const float* weight, const float* bias,
                                 float* y) {
  check_conv_geometry(g, "conv2d_forward");
  const int64_t patch = g.patch_size(), spatial = g.out_h() * g.out_w();
  const int64_t image_size = g.channels * g.height * g.width;
  if (batch <= 0) return;
  const int64_t per_pass = conv_images_per_pass(g, batch);
  const Scratch columns(*this, static_cast<size_t>(patch * per_pass * spatial) * sizeof(float));
  const Scratch gemm_out(*this, static_cast<size_t>(filters * per_pass * spatial) * sizeof(float));
  float* cols = columns.floats();
  float* product = gemm_out.floats();
  for (int64_t first = 0; first < batch; first += per_pass) {
    const int64_t count = std::min(per_pass, batch - first);
    const int64_t width = count * spatial;
    float* y_pass = y + first * filters * spatial;
    unfold(x + first * image_size, count, g, cols);
    // [filters, count*spatial] = W [filters, patch] * columns [patch, count*spatial]; one
    // image's product is already in the tensor's layout.
    float* target = count == 1 ? y_pass : product;
    gemm(false, false, filters, width, patch, 1.0f, weight, patch, cols, width, 0.0f, target,
         width);
    if (count > 1) swap_leading_axes(product, filters, count, spatial, y_pass);
  }
  if (bias != nullptr) add_bias_channels(y, bias, batch, filters, spatial);
}

void CudaBackend::conv2d_backward(const float* x, const float* dy, int64_t batch,
                                  const ConvGeometry& g, int64_t filters, const float* weight,
                                  float* dweight, float* dx) {
  check_conv_geometry(g, "conv2d_backward");
  const int64_t patch = g.patch_size(), spatial = g.out_h() * g.out_w();
  const int64_t image_size = g.channels * g.height * g.width;
  if (batch <= 0) {
    fill(dweight, filters * patch, 0.0f);  // no image writes the (overwritten) gradient
    return;
  }
  const int64_t per_pass = conv_images_per_pass(g, batch);
  const size_t column_bytes = static_cast<size_t>(patch * per_pass * spatial) * sizeof(float);
  const Scratch columns(*this, column_bytes);
  const Scratch grad_columns(*this, column_bytes);
  const Scratch swapped(*this, static_cast<size_t>(filters * per_pass * spatial) * sizeof(float));
  float* cols = columns.floats();
  float* grad_cols = grad_columns.floats();
  for (int64_t first = 0; first < batch; first += per_pass) {
    const int64_t count = std::min(per_pass, batch - first);
    const int64_t width = count * spatial;
    const float* dy_pass = dy + first * filters * spatial;
    // dy in the GEMM's layout [filters, count*spatial]; one image's already is.
    const float* grad = dy_pass;
    if (count > 1) {
      swap_leading_axes(dy_pass, count, filters, spatial, swapped.floats());
      grad = swapped.floats();
    }
    unfold(x + first * image_size, count, g, cols);
    // dW [filters, patch] (+)= dy [filters, width] * columns^T [width, patch]
    gemm(false, true, filters, patch, width, 1.0f, grad, width, cols, width,
         first == 0 ? 0.0f : 1.0f, dweight, patch);
    // dcolumns [patch, width] = W^T [patch, filters] * dy [filters, width]
    gemm(true, false, patch, width, filters, 1.0f, weight, patch, grad, width, 0.0f, grad_cols,
         width);
    fold(grad_cols, count, g, dx + first * image_size);
  }
}

}  // namespace lockstep::backend::cuda
