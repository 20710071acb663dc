// CPU convolution helpers for one image: im2col unfolds [channels, height, width] into
// columns [channels*kernel_h*kernel_w, out_h*out_w]; col2im folds them back, summing overlaps.
// A horizontal stride of 1 (every convolution of the built-in models) takes a path that treats
// each patch row as one rectangle of contiguous runs, its bounds worked out once instead of for
// every output row; other strides take the general path. Both visit the column rows in the same
// order, so col2im adds each pixel's contributions in the same order, whichever path runs.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/inside_range.h"
#include "backend/op_checks.h"

namespace lockstep::backend::cpu {

namespace {

// One row of the column matrix, [out_w] long, for one (patch row, output y): its entries
// [first, first + count) read the image pixels input, input + stride_w, ...; the others read
// padding (count is 0 for a row in the vertical padding).
struct RowSpan {
  int64_t column_row, first, count, input;
};

// Calls visit(span) for every row of the column matrix, in memory order (general path).
template <typename Visit>
void for_each_row(const ConvGeometry& g, Visit visit) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), stride = g.stride_w;
  for (int64_t ch = 0; ch < g.channels; ++ch) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const auto [first, last] = inside_range(kx, g.pad_w, stride, g.width, out_w);
        const int64_t x0 = kx - g.pad_w;
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

void im2col_general(const float* image, const ConvGeometry& g, float* columns) {
  const int64_t out_w = g.out_w(), stride = g.stride_w;
  for_each_row(g, [&](const RowSpan& s) {
    float* out = columns + s.column_row;
    const float* in = image + s.input;
    std::fill(out, out + s.first, 0.0f);
    for (int64_t i = 0; i < s.count; ++i) out[s.first + i] = in[i * stride];
    std::fill(out + s.first + s.count, out + out_w, 0.0f);
  });
}

void col2im_general(const float* columns, const ConvGeometry& g, float* image) {
  const int64_t stride = g.stride_w;
  for_each_row(g, [&](const RowSpan& s) {
    const float* in = columns + s.column_row + s.first;
    float* out = image + s.input;
    for (int64_t i = 0; i < s.count; ++i) out[i * stride] += in[i];
  });
}

// Row-by-row loops over a rectangle; __restrict lets the compiler vectorise the adds (it turns
// the copies and zero fills into memcpy/memset calls of one row each).
void zero_rows(float* __restrict out, int64_t stride, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * stride + c] = 0.0f;
  }
}

void copy_rows(const float* __restrict in, int64_t in_stride, float* __restrict out,
               int64_t out_stride, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * out_stride + c] = in[r * in_stride + c];
  }
}

void add_rows(const float* __restrict in, int64_t in_stride, float* __restrict out,
              int64_t out_stride, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * out_stride + c] += in[r * in_stride + c];
  }
}

// The part of patch row (ch, ky, kx) that reads the image, for a horizontal stride of 1: a
// rectangle of output rows [rows.first, rows.last) x columns [cols.first, cols.last), whose
// row oy reads image row oy * stride_h - pad_h + ky from column cols.first + kx - pad_w on.
struct PatchWindow {
  InsideRange rows, cols;
  int64_t image_offset;   // of the pixel read by output (rows.first, cols.first)
  int64_t column_offset;  // of output (rows.first, cols.first) in the columns
};

// Calls visit(patch_row_offset, window) for every patch row, in memory order.
template <typename Visit>
void for_each_patch_row(const ConvGeometry& g, Visit visit) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  for (int64_t ch = 0; ch < g.channels; ++ch) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      const InsideRange rows = inside_range(ky, g.pad_h, g.stride_h, g.height, out_h);
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        PatchWindow w{rows, inside_range(kx, g.pad_w, 1, g.width, out_w), 0, 0};
        if (w.cols.first == w.cols.last) w.rows.last = w.rows.first;  // nothing inside
        const int64_t patch_row = ((ch * g.kernel_h + ky) * g.kernel_w + kx) * out_h * out_w;
        w.column_offset = w.rows.first * out_w + w.cols.first;
        w.image_offset = (ch * g.height + w.rows.first * g.stride_h - g.pad_h + ky) * g.width +
                         w.cols.first + kx - g.pad_w;
        visit(patch_row, w);
      }
    }
  }
}

void im2col_unit_stride(const float* image, const ConvGeometry& g, float* columns) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), image_row = g.stride_h * g.width;
  for_each_patch_row(g, [&](int64_t patch_row, const PatchWindow& w) {
    float* out = columns + patch_row;
    const int64_t inside_rows = w.rows.last - w.rows.first;
    const int64_t inside_cols = w.cols.last - w.cols.first;
    zero_rows(out, out_w, w.rows.first, out_w);  // vertical padding above
    if (inside_rows > 0) {
      float* first_row = out + w.rows.first * out_w;
      zero_rows(first_row, out_w, inside_rows, w.cols.first);  // horizontal padding left
      copy_rows(image + w.image_offset, image_row, out + w.column_offset, out_w, inside_rows,
                inside_cols);
      zero_rows(first_row + w.cols.last, out_w, inside_rows, out_w - w.cols.last);  // right
    }
    zero_rows(out + w.rows.last * out_w, out_w, out_h - w.rows.last, out_w);  // padding below
  });
}

// Adds the same rectangles back in the same order as the general path.
void col2im_unit_stride(const float* columns, const ConvGeometry& g, float* image) {
  const int64_t out_w = g.out_w(), image_row = g.stride_h * g.width;
  for_each_patch_row(g, [&](int64_t patch_row, const PatchWindow& w) {
    if (w.rows.first == w.rows.last) return;  // the patch row reads only padding
    add_rows(columns + patch_row + w.column_offset, out_w, image + w.image_offset, image_row,
             w.rows.last - w.rows.first, w.cols.last - w.cols.first);
  });
}

}  // namespace

void CpuBackend::im2col(const float* image, const ConvGeometry& g, float* columns) {
  check_conv_geometry(g, "im2col");
  if (g.stride_w == 1) {
    im2col_unit_stride(image, g, columns);
  } else {
    im2col_general(image, g, columns);
  }
}

void CpuBackend::col2im(const float* columns, const ConvGeometry& g, float* image) {
  check_conv_geometry(g, "col2im");
  std::fill(image, image + g.channels * g.height * g.width, 0.0f);
  if (g.stride_w == 1) {
    col2im_unit_stride(columns, g, image);
  } else {
    col2im_general(columns, g, image);
  }
}

}  // namespace lockstep::backend::cpu
