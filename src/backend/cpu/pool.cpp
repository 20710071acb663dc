// CPU pooling over [batch, channels, height, width] with windows pool_h x pool_w moved by
// stride_h x stride_w (no padding); windows may overlap when the stride is below the pool.
// 2x2 windows with stride 2 (the built-in cnn's pooling) take a path that handles one output
// row at a time in loops the compiler vectorises; its arithmetic is the general path's, step
// for step, so both give the same bits.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cpu {

namespace {

// Index within `plane` [height, width] of the first maximum of window (oy, ox), scanning the
// window row by row (the order the CUDA kernel must follow too).
int64_t window_argmax(const float* plane, const PoolGeometry& g, int64_t oy, int64_t ox) {
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

// Calls visit(in_plane_offset, out_plane_offset, oy, ox) for every output element.
template <typename Visit>
void for_each_window(int64_t batch, const PoolGeometry& g, Visit visit) {
  const int64_t planes = batch * g.channels, out_h = g.out_h(), out_w = g.out_w();
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oy = 0; oy < out_h; ++oy) {
      for (int64_t ox = 0; ox < out_w; ++ox) {
        visit(p * g.height * g.width, (p * out_h + oy) * out_w + ox, oy, ox);
      }
    }
  }
}

// --- 2x2 windows, stride 2 ------------------------------------------------------------------
// Window (oy, ox) covers pixels a = top[2ox], b = top[2ox+1], c = bottom[2ox],
// d = bottom[2ox+1] of rows top = 2oy and bottom = 2oy+1: window_argmax's scan order.

bool is_2x2_stride_2(const PoolGeometry& g) {
  return g.pool_h == 2 && g.pool_w == 2 && g.stride_h == 2 && g.stride_w == 2;
}

// A later pixel replaces the running maximum only when strictly greater (first maximum wins).
float running_max(float best, float pixel) { return pixel > best ? pixel : best; }

// Calls visit(top, bottom, out_row) for every output row: the offsets of its two input rows
// and of the output row.
template <typename Visit>
void for_each_output_row_2x2(int64_t batch, const PoolGeometry& g, Visit visit) {
  const int64_t planes = batch * g.channels, out_h = g.out_h(), out_w = g.out_w();
  for (int64_t p = 0; p < planes; ++p) {
    const int64_t plane_in = p * g.height * g.width;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const int64_t top = plane_in + 2 * oy * g.width;
      visit(top, top + g.width, (p * out_h + oy) * out_w);
    }
  }
}

void max_pool_forward_2x2(const float* x, float* y, int64_t batch, const PoolGeometry& g) {
  const int64_t out_w = g.out_w();
  for_each_output_row_2x2(batch, g, [&](int64_t top, int64_t bottom, int64_t out_row) {
    const float* __restrict a = x + top;
    const float* __restrict c = x + bottom;
    float* __restrict out = y + out_row;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      float best = running_max(a[2 * ox], a[2 * ox + 1]);
      best = running_max(best, c[2 * ox]);
      out[ox] = running_max(best, c[2 * ox + 1]);
    }
  });
}

// Pixels no 2x2 window covers (the last row and column of an odd-sized plane) get no gradient.
void zero_uncovered_2x2(float* dx, int64_t batch, const PoolGeometry& g) {
  const int64_t covered_h = 2 * g.out_h(), covered_w = 2 * g.out_w();
  if (covered_h == g.height && covered_w == g.width) return;
  for (int64_t p = 0; p < batch * g.channels; ++p) {
    float* plane = dx + p * g.height * g.width;
    for (int64_t y = 0; y < g.height; ++y) {
      const int64_t from = y < covered_h ? covered_w : 0;
      std::fill(plane + y * g.width + from, plane + (y + 1) * g.width, 0.0f);
    }
  }
}

// The general path fills dx with 0 and adds each window's gradient to its maximum pixel: every
// pixel of a disjoint window receives 0 + dy (so -0 becomes +0) or stays 0. Writing those
// values directly gives the same bits without the fill.
void max_pool_backward_2x2(const float* x, const float* dy, float* dx, int64_t batch,
                           const PoolGeometry& g) {
  const int64_t out_w = g.out_w();
  for_each_output_row_2x2(batch, g, [&](int64_t top, int64_t bottom, int64_t out_row) {
    const float* __restrict xa = x + top;
    const float* __restrict xc = x + bottom;
    const float* __restrict gradient = dy + out_row;
    float* __restrict da = dx + top;
    float* __restrict dc = dx + bottom;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const float a = xa[2 * ox], b = xa[2 * ox + 1], c = xc[2 * ox], d = xc[2 * ox + 1];
      // Follow the scan: the gradient moves to a later pixel when it is strictly greater
      // than the running maximum. p_after_q is what pixel p holds once the scan has passed
      // pixel q. Selects only, so the loop has no branches.
      const float max_ab = running_max(a, b), max_abc = running_max(max_ab, c);
      const bool to_b = b > a, to_c = c > max_ab, to_d = d > max_abc;
      const float share = 0.0f + gradient[ox];
      const float a_after_b = to_b ? 0.0f : share, b_after_b = to_b ? share : 0.0f;
      const float a_after_c = to_c ? 0.0f : a_after_b, b_after_c = to_c ? 0.0f : b_after_b;
      const float c_after_c = to_c ? share : 0.0f;
      da[2 * ox] = to_d ? 0.0f : a_after_c;
      da[2 * ox + 1] = to_d ? 0.0f : b_after_c;
      dc[2 * ox] = to_d ? 0.0f : c_after_c;
      dc[2 * ox + 1] = to_d ? share : 0.0f;
    }
  });
  zero_uncovered_2x2(dx, batch, g);
}

// The general path's sum, (((0 + a) + b) + c) + d, times 1/4.
void avg_pool_forward_2x2(const float* x, float* y, int64_t batch, const PoolGeometry& g) {
  const int64_t out_w = g.out_w();
  for_each_output_row_2x2(batch, g, [&](int64_t top, int64_t bottom, int64_t out_row) {
    const float* __restrict a = x + top;
    const float* __restrict c = x + bottom;
    float* __restrict out = y + out_row;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      float sum = 0.0f + a[2 * ox];
      sum += a[2 * ox + 1];
      sum += c[2 * ox];
      sum += c[2 * ox + 1];
      out[ox] = sum * 0.25f;
    }
  });
}

// Every pixel of a disjoint window gets 0 + dy/4, the general path's fill and add.
void avg_pool_backward_2x2(const float* dy, float* dx, int64_t batch, const PoolGeometry& g) {
  const int64_t out_w = g.out_w();
  for_each_output_row_2x2(batch, g, [&](int64_t top, int64_t bottom, int64_t out_row) {
    const float* __restrict gradient = dy + out_row;
    float* __restrict da = dx + top;
    float* __restrict dc = dx + bottom;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const float share = 0.0f + gradient[ox] * 0.25f;
      da[2 * ox] = share;
      da[2 * ox + 1] = share;
      dc[2 * ox] = share;
      dc[2 * ox + 1] = share;
    }
  });
  zero_uncovered_2x2(dx, batch, g);
}

}  // namespace

void CpuBackend::max_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) {
  check_pool_geometry(g, batch, "max_pool_forward");
  if (is_2x2_stride_2(g)) return max_pool_forward_2x2(x, y, batch, g);
  for_each_window(batch, g, [&](int64_t in, int64_t out, int64_t oy, int64_t ox) {
    y[out] = x[in + window_argmax(x + in, g, oy, ox)];
  });
}

void CpuBackend::max_pool_backward(const float* x, const float* dy, float* dx, int64_t batch,
                                   const PoolGeometry& g) {
  check_pool_geometry(g, batch, "max_pool_backward");
  if (is_2x2_stride_2(g)) return max_pool_backward_2x2(x, dy, dx, batch, g);
  std::fill(dx, dx + batch * g.channels * g.height * g.width, 0.0f);
  for_each_window(batch, g, [&](int64_t in, int64_t out, int64_t oy, int64_t ox) {
    dx[in + window_argmax(x + in, g, oy, ox)] += dy[out];
  });
}

void CpuBackend::avg_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) {
  check_pool_geometry(g, batch, "avg_pool_forward");
  if (is_2x2_stride_2(g)) return avg_pool_forward_2x2(x, y, batch, g);
  const float inv_area = 1.0f / static_cast<float>(g.pool_h * g.pool_w);
  for_each_window(batch, g, [&](int64_t in, int64_t out, int64_t oy, int64_t ox) {
    const float* plane = x + in;
    float sum = 0.0f;
    for (int64_t yy = oy * g.stride_h; yy < oy * g.stride_h + g.pool_h; ++yy) {
      const float* row = plane + yy * g.width + ox * g.stride_w;
      for (int64_t kx = 0; kx < g.pool_w; ++kx) sum += row[kx];
    }
    y[out] = sum * inv_area;
  });
}

void CpuBackend::avg_pool_backward(const float* dy, float* dx, int64_t batch,
                                   const PoolGeometry& g) {
  check_pool_geometry(g, batch, "avg_pool_backward");
  if (is_2x2_stride_2(g)) return avg_pool_backward_2x2(dy, dx, batch, g);
  std::fill(dx, dx + batch * g.channels * g.height * g.width, 0.0f);
  const float inv_area = 1.0f / static_cast<float>(g.pool_h * g.pool_w);
  for_each_window(batch, g, [&](int64_t in, int64_t out, int64_t oy, int64_t ox) {
    const float share = dy[out] * inv_area;
    float* plane = dx + in;
    for (int64_t yy = oy * g.stride_h; yy < oy * g.stride_h + g.pool_h; ++yy) {
      float* row = plane + yy * g.width + ox * g.stride_w;
      for (int64_t kx = 0; kx < g.pool_w; ++kx) row[kx] += share;
    }
  });
}

}  // namespace lockstep::backend::cpu
