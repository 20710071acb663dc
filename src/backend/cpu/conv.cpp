// CPU convolution helpers for one image: im2col unfolds [channels, height, width] into
// columns [channels*kernel_h*kernel_w, out_h*out_w]; col2im folds them back, summing overlaps.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "lockstep/core/error.h"

namespace lockstep::backend::cpu {

namespace {

void check_geometry(const ConvGeometry& g, const char* what) {
  LOCKSTEP_CHECK(g.channels >= 0 && g.height >= 0 && g.width >= 0 && g.kernel_h > 0 &&
                     g.kernel_w > 0 && g.stride_h > 0 && g.stride_w > 0 && g.pad_h >= 0 &&
                     g.pad_w >= 0 && g.height + 2 * g.pad_h >= g.kernel_h &&
                     g.width + 2 * g.pad_w >= g.kernel_w,
                 what << ": invalid geometry: image " << g.channels << "x" << g.height << "x"
                      << g.width << ", kernel " << g.kernel_h << "x" << g.kernel_w
                      << ", stride " << g.stride_h << "x" << g.stride_w << ", padding "
                      << g.pad_h << "x" << g.pad_w);
}

// One row of the column matrix, [out_w] long, for one (patch row, output y): entries
// [first, last) read image[image_row + x0 + ox * stride_w]; the others read padding.
// image_row < 0 when the whole row lies in the vertical padding.
struct RowSpan {
  int64_t column_row, image_row, x0, first, last;
};

// The output columns [first, last) whose input column x0 + ox*stride lies in [0, width).
void valid_range(int64_t x0, int64_t stride, int64_t width, int64_t out_w, RowSpan& span) {
  const int64_t first = x0 >= 0 ? 0 : (-x0 + stride - 1) / stride;
  const int64_t last = x0 >= width ? 0 : (width - 1 - x0) / stride + 1;
  span.first = std::min(first, out_w);
  span.last = std::clamp(last, span.first, out_w);
}

// Calls visit(span) for every row of the column matrix, in memory order.
template <typename Visit>
void for_each_row(const ConvGeometry& g, Visit visit) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  for (int64_t ch = 0; ch < g.channels; ++ch) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        RowSpan span{};
        span.x0 = kx - g.pad_w;
        valid_range(span.x0, g.stride_w, g.width, out_w, span);
        const int64_t patch_row = (ch * g.kernel_h + ky) * g.kernel_w + kx;
        for (int64_t oy = 0; oy < out_h; ++oy) {
          const int64_t iy = oy * g.stride_h - g.pad_h + ky;
          span.column_row = (patch_row * out_h + oy) * out_w;
          span.image_row = iy >= 0 && iy < g.height ? (ch * g.height + iy) * g.width : -1;
          visit(span);
        }
      }
    }
  }
}

}  // namespace

void CpuBackend::im2col(const float* image, const ConvGeometry& g, float* columns) {
  check_geometry(g, "im2col");
  const int64_t out_w = g.out_w(), stride = g.stride_w;
  for_each_row(g, [&](const RowSpan& s) {
    float* out = columns + s.column_row;
    if (s.image_row < 0) {
      std::fill(out, out + out_w, 0.0f);
      return;
    }
    const float* in = image + s.image_row;
    std::fill(out, out + s.first, 0.0f);
    for (int64_t ox = s.first; ox < s.last; ++ox) out[ox] = in[s.x0 + ox * stride];
    std::fill(out + s.last, out + out_w, 0.0f);
  });
}

void CpuBackend::col2im(const float* columns, const ConvGeometry& g, float* image) {
  check_geometry(g, "col2im");
  std::fill(image, image + g.channels * g.height * g.width, 0.0f);
  const int64_t stride = g.stride_w;
  for_each_row(g, [&](const RowSpan& s) {
    if (s.image_row < 0) return;
    const float* in = columns + s.column_row;
    float* out = image + s.image_row;
    for (int64_t ox = s.first; ox < s.last; ++ox) out[s.x0 + ox * stride] += in[ox];
  });
}

}  // namespace lockstep::backend::cpu
