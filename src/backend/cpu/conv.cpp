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

// One row of the column matrix, [out_w] long, for one (patch row, output y): its entries
// [first, first + count) read the image pixels input, input + stride_w, ...; the others read
// padding (count is 0 for a row in the vertical padding).
struct RowSpan {
  int64_t column_row, first, count, input;
};

// Calls visit(span) for every row of the column matrix, in memory order.
template <typename Visit>
void for_each_row(const ConvGeometry& g, Visit visit) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), stride = g.stride_w;
  for (int64_t ch = 0; ch < g.channels; ++ch) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        // Output columns [first, last) have input column x0 + ox * stride inside [0, width).
        const int64_t x0 = kx - g.pad_w;
        const int64_t first = std::min(x0 >= 0 ? 0 : (-x0 + stride - 1) / stride, out_w);
        const int64_t last = std::clamp(x0 >= g.width ? 0 : (g.width - 1 - x0) / stride + 1,
                                        first, out_w);
        const int64_t patch_row = (ch * g.kernel_h + ky) * g.kernel_w + kx;
        for (int64_t oy = 0; oy < out_h; ++oy) {
          const int64_t iy = oy * g.stride_h - g.pad_h + ky;
          const bool inside = iy >= 0 && iy < g.height && first < last;
          visit(RowSpan{(patch_row * out_h + oy) * out_w, first, inside ? last - first : 0,
                        inside ? (ch * g.height + iy) * g.width + x0 + first * stride : 0});
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
    const float* in = image + s.input;
    std::fill(out, out + s.first, 0.0f);
    if (stride == 1) {  // the common case: one contiguous copy
      std::copy(in, in + s.count, out + s.first);
    } else {
      for (int64_t i = 0; i < s.count; ++i) out[s.first + i] = in[i * stride];
    }
    std::fill(out + s.first + s.count, out + out_w, 0.0f);
  });
}

void CpuBackend::col2im(const float* columns, const ConvGeometry& g, float* image) {
  check_geometry(g, "col2im");
  std::fill(image, image + g.channels * g.height * g.width, 0.0f);
  const int64_t stride = g.stride_w;
  for_each_row(g, [&](const RowSpan& s) {
    const float* in = columns + s.column_row + s.first;
    float* out = image + s.input;
    if (stride == 1) {  // contiguous: the compiler vectorizes this form
      for (int64_t i = 0; i < s.count; ++i) out[i] += in[i];
    } else {
      for (int64_t i = 0; i < s.count; ++i) out[i * stride] += in[i];
    }
  });
}

}  // namespace lockstep::backend::cpu
