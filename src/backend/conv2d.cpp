// Backend's default batched convolution: one image at a time, im2col into a workspace of one
// image's columns and one GEMM with the weight. It is the CPU's (an image's columns stay in
// cache) and the reference the CUDA backend's several-images-per-GEMM version is tested
// against.
#include <cstddef>

#include "lockstep/backend/backend.h"

namespace lockstep::backend {

namespace {

size_t workspace_bytes(int64_t floats) { return static_cast<size_t>(floats) * sizeof(float); }

}  // namespace

void Backend::conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g, int64_t filters,
                             const float* weight, const float* bias, float* y) {
  const int64_t patch = g.patch_size(), spatial = g.out_h() * g.out_w();
  const int64_t image_size = g.channels * g.height * g.width;
  if (batch == 0) return;
  const Scratch columns(*this, workspace_bytes(patch * spatial));
  for (int64_t n = 0; n < batch; ++n) {
    float* y_n = y + n * filters * spatial;
    im2col(x + n * image_size, g, columns.floats());
    // y_n [filters, spatial] = W [filters, patch] * columns [patch, spatial]
    gemm(false, false, filters, spatial, patch, 1.0f, weight, patch, columns.floats(), spatial,
         0.0f, y_n, spatial);
    // The bias goes in while y_n is still in cache (same sums as one pass over the batch).
    if (bias != nullptr) add_bias_channels(y_n, bias, 1, filters, spatial);
  }
}

void Backend::conv2d_backward(const float* x, const float* dy, int64_t batch, const ConvGeometry& g,
                              int64_t filters, const float* weight, float* dweight, float* dx) {
  const int64_t patch = g.patch_size(), spatial = g.out_h() * g.out_w();
  const int64_t image_size = g.channels * g.height * g.width;
  if (batch == 0) {
    fill(dweight, filters * patch, 0.0f);  // no image writes the (overwritten) gradient
    return;
  }
  const Scratch columns(*this, workspace_bytes(patch * spatial));
  const Scratch grad_columns(*this, workspace_bytes(patch * spatial));
  for (int64_t n = 0; n < batch; ++n) {
    const float* dy_n = dy + n * filters * spatial;
    // The columns are recomputed rather than kept from forward: one image of workspace
    // instead of a whole batch.
    im2col(x + n * image_size, g, columns.floats());
    // dW [filters, patch] (+)= dy_n [filters, spatial] * columns^T [spatial, patch]
    gemm(false, true, filters, patch, spatial, 1.0f, dy_n, spatial, columns.floats(), spatial,
         n == 0 ? 0.0f : 1.0f, dweight, patch);
    // dcolumns [patch, spatial] = W^T [patch, filters] * dy_n [filters, spatial]
    gemm(true, false, patch, spatial, filters, 1.0f, weight, patch, dy_n, spatial, 0.0f,
         grad_columns.floats(), spatial);
    col2im(grad_columns.floats(), g, dx + n * image_size);
  }
}

}  // namespace lockstep::backend
