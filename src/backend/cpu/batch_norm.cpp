// CPU batch normalization over the channels of [batch, channels, spatial]: per-channel sums in
// double in the order (image, position), the normalised values and gradients in float with the
// rounding the CUDA kernels repeat (see backend.h).
#include "backend/cpu/cpu_backend.h"
#include "backend/op_checks.h"

namespace lockstep::backend::cpu {

namespace {

// The elements of channel c of image n: [spatial] floats.
const float* plane(const float* x, int64_t n, int64_t c, int64_t channels, int64_t spatial) {
  return x + (n * channels + c) * spatial;
}

}  // namespace

void CpuBackend::batch_norm_sums(const float* x, int64_t batch, int64_t channels, int64_t spatial,
                                 double* sums) {
  check_batch_norm(batch, channels, spatial, "batch_norm_sums");
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0, squares = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      const float* in = plane(x, n, c, channels, spatial);
      for (int64_t s = 0; s < spatial; ++s) {
        const double v = in[s];
        sum += v;
        squares += v * v;
      }
    }
    sums[c] = sum;
    sums[channels + c] = squares;
  }
}

void CpuBackend::batch_norm_forward(const float* x, const float* mean, const float* rstd,
                                    const float* weight, const float* bias, float* y, int64_t batch,
                                    int64_t channels, int64_t spatial) {
  check_batch_norm(batch, channels, spatial, "batch_norm_forward");
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* in = plane(x, n, c, channels, spatial);
      float* out = y + (n * channels + c) * spatial;
      const float m = mean[c], s = rstd[c], w = weight[c], b = bias[c];
      for (int64_t i = 0; i < spatial; ++i) out[i] = (in[i] - m) * s * w + b;
    }
  }
}

void CpuBackend::batch_norm_backward_sums(const float* x, const float* dy, const float* mean,
                                          const float* rstd, int64_t batch, int64_t channels,
                                          int64_t spatial, double* sums) {
  check_batch_norm(batch, channels, spatial, "batch_norm_backward_sums");
  for (int64_t c = 0; c < channels; ++c) {
    const float m = mean[c], s = rstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      const float* in = plane(x, n, c, channels, spatial);
      const float* grad = plane(dy, n, c, channels, spatial);
      for (int64_t i = 0; i < spatial; ++i) {
        const float xhat = (in[i] - m) * s;
        sum_dy += static_cast<double>(grad[i]);
        sum_dy_xhat += static_cast<double>(grad[i]) * static_cast<double>(xhat);
      }
    }
    sums[c] = sum_dy;
    sums[channels + c] = sum_dy_xhat;
  }
}

void CpuBackend::batch_norm_backward_input(const float* x, const float* dy, const float* mean,
                                           const float* rstd, const float* weight,
                                           const float* mean_dy, const float* mean_dy_xhat,
                                           float* dx, int64_t batch, int64_t channels,
                                           int64_t spatial) {
  check_batch_norm(batch, channels, spatial, "batch_norm_backward_input");
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* in = plane(x, n, c, channels, spatial);
      const float* grad = plane(dy, n, c, channels, spatial);
      float* out = dx + (n * channels + c) * spatial;
      const float m = mean[c], s = rstd[c], scale = weight[c] * rstd[c];
      const float a = mean_dy[c], k = mean_dy_xhat[c];
      for (int64_t i = 0; i < spatial; ++i) {
        const float xhat = (in[i] - m) * s;
        out[i] = scale * (grad[i] - a - xhat * k);
      }
    }
  }
}

}  // namespace lockstep::backend::cpu
