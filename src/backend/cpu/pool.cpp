// CPU pooling over [batch, channels, height, width] with windows pool_h x pool_w moved by
// stride_h x stride_w (no padding); windows may overlap when the stride is below the pool.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "lockstep/core/error.h"

namespace lockstep::backend::cpu {

namespace {

void check_geometry(const PoolGeometry& g, int64_t batch, const char* what) {
  LOCKSTEP_CHECK(batch >= 0 && g.channels >= 0 && g.pool_h > 0 && g.pool_w > 0 &&
                     g.stride_h > 0 && g.stride_w > 0 && g.height >= g.pool_h &&
                     g.width >= g.pool_w,
                 what << ": invalid geometry: batch " << batch << ", image " << g.channels
                      << "x" << g.height << "x" << g.width << ", pool " << g.pool_h << "x"
                      << g.pool_w << ", stride " << g.stride_h << "x" << g.stride_w);
}

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

}  // namespace

void CpuBackend::max_pool_forward(const float* x, float* y, int64_t batch,
                                  const PoolGeometry& g) {
  check_geometry(g, batch, "max_pool_forward");
  for_each_window(batch, g, [&](int64_t in, int64_t out, int64_t oy, int64_t ox) {
    y[out] = x[in + window_argmax(x + in, g, oy, ox)];
  });
}

void CpuBackend::max_pool_backward(const float* x, const float* dy, float* dx, int64_t batch,
                                   const PoolGeometry& g) {
  check_geometry(g, batch, "max_pool_backward");
  std::fill(dx, dx + batch * g.channels * g.height * g.width, 0.0f);
  for_each_window(batch, g, [&](int64_t in, int64_t out, int64_t oy, int64_t ox) {
    dx[in + window_argmax(x + in, g, oy, ox)] += dy[out];
  });
}

void CpuBackend::avg_pool_forward(const float* x, float* y, int64_t batch,
                                  const PoolGeometry& g) {
  check_geometry(g, batch, "avg_pool_forward");
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
  check_geometry(g, batch, "avg_pool_backward");
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
