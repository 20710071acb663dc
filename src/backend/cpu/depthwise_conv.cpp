// CPU depthwise convolution (a Conv2d with groups = channels), direct loops over one output
// plane at a time; every output, input pixel and weight adds its terms in the fixed order that
// backend.h states and the CUDA kernels follow too.
#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/inside_range.h"
#include "backend/op_checks.h"

namespace lockstep::backend::cpu {

namespace {

// Calls visit(ky, kx, rows, cols) for every kernel offset in the order (ky, then kx), with the
// output rows and columns whose pixel for that offset lies inside the image.
template <typename Visit>
void for_each_offset(const ConvGeometry& g, int64_t out_h, int64_t out_w, Visit visit) {
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    const InsideRange rows = inside_range(ky, g.pad_h, g.stride_h, g.height, out_h);
    for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
      visit(ky, kx, rows, inside_range(kx, g.pad_w, g.stride_w, g.width, out_w));
    }
  }
}

}  // namespace

void CpuBackend::depthwise_conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g,
                                          int64_t multiplier, const float* weight,
                                          const float* bias, float* y) {
  check_depthwise_conv(g, batch, multiplier, "depthwise_conv2d_forward");
  const int64_t out_h = g.out_h(), out_w = g.out_w(), spatial = out_h * out_w;
  const int64_t plane = g.height * g.width, taps = g.kernel_h * g.kernel_w;
  const int64_t out_channels = g.channels * multiplier;
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t o = 0; o < out_channels; ++o) {
      const float* in = x + (n * g.channels + o / multiplier) * plane;
      const float* w = weight + o * taps;
      float* out = y + (n * out_channels + o) * spatial;
      // Each output adds its window's terms in the order (ky, kx), padding skipped.
      std::fill(out, out + spatial, 0.0f);
      for_each_offset(
          g, out_h, out_w, [&](int64_t ky, int64_t kx, InsideRange rows, InsideRange cols) {
            const float tap = w[ky * g.kernel_w + kx];
            for (int64_t oy = rows.first; oy < rows.last; ++oy) {
              const float* in_row = in + (oy * g.stride_h - g.pad_h + ky) * g.width - g.pad_w + kx;
              float* out_row = out + oy * out_w;
              for (int64_t ox = cols.first; ox < cols.last; ++ox) {
                out_row[ox] += tap * in_row[ox * g.stride_w];
              }
            }
          });
      if (bias != nullptr) {
        const float b = bias[o];
        for (int64_t s = 0; s < spatial; ++s) out[s] += b;
      }
    }
  }
}

void CpuBackend::depthwise_conv2d_backward(const float* x, const float* dy, int64_t batch,
                                           const ConvGeometry& g, int64_t multiplier,
                                           const float* weight, float* dweight, float* dx) {
  check_depthwise_conv(g, batch, multiplier, "depthwise_conv2d_backward");
  const int64_t out_h = g.out_h(), out_w = g.out_w(), spatial = out_h * out_w;
  const int64_t plane = g.height * g.width, taps = g.kernel_h * g.kernel_w;
  const int64_t out_channels = g.channels * multiplier;
  // Weight gradients are sums over every image and position: exact products, added in double
  // in the order (image, oy, ox), rounded to float once at the end.
  std::vector<double> sums(static_cast<size_t>(out_channels * taps), 0.0);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < g.channels; ++c) {
      const float* in = x + (n * g.channels + c) * plane;
      float* grad_in = dx + (n * g.channels + c) * plane;
      // A pixel receives its terms in the order (j, ky, kx): each offset of each filter
      // reaches a pixel from one output position at most.
      std::fill(grad_in, grad_in + plane, 0.0f);
      for (int64_t j = 0; j < multiplier; ++j) {
        const int64_t o = c * multiplier + j;
        const float* grad_out = dy + (n * out_channels + o) * spatial;
        const float* w = weight + o * taps;
        double* w_sums = sums.data() + o * taps;
        for_each_offset(
            g, out_h, out_w, [&](int64_t ky, int64_t kx, InsideRange rows, InsideRange cols) {
              const float tap = w[ky * g.kernel_w + kx];
              double sum = w_sums[ky * g.kernel_w + kx];
              for (int64_t oy = rows.first; oy < rows.last; ++oy) {
                const int64_t in_row = (oy * g.stride_h - g.pad_h + ky) * g.width - g.pad_w + kx;
                const float* grad_row = grad_out + oy * out_w;
                for (int64_t ox = cols.first; ox < cols.last; ++ox) {
                  const int64_t pixel = in_row + ox * g.stride_w;
                  sum += static_cast<double>(grad_row[ox]) * static_cast<double>(in[pixel]);
                  grad_in[pixel] += tap * grad_row[ox];
                }
              }
              w_sums[ky * g.kernel_w + kx] = sum;
            });
      }
    }
  }
  for (int64_t i = 0; i < out_channels * taps; ++i) {
    dweight[i] = static_cast<float>(sums[static_cast<size_t>(i)]);
  }
}

}  // namespace lockstep::backend::cpu
