// CPU layer normalization over the rows of [rows, cols]: each row's statistics in double (two
// passes), the normalised values and gradients in float with the rounding the CUDA kernels
// repeat, and the weight and bias gradients summed over rows in double (see backend.h).
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/op_checks.h"

namespace lockstep::backend::cpu {

void CpuBackend::layer_norm_forward(const float* x, const float* weight, const float* bias,
                                    float* y, float* mean, float* rstd, int64_t rows, int64_t cols,
                                    float eps) {
  check_layer_norm(rows, cols, weight, bias, "layer_norm_forward");
  check_layer_norm_eps(eps);
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    double sum = 0.0;
    for (int64_t j = 0; j < cols; ++j) sum += in[j];
    const double row_mean = sum / static_cast<double>(cols);
    double squares = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      const double d = static_cast<double>(in[j]) - row_mean;
      squares += d * d;
    }
    const double variance = squares / static_cast<double>(cols);
    const float m = static_cast<float>(row_mean);
    const float s = static_cast<float>(1.0 / std::sqrt(variance + static_cast<double>(eps)));
    mean[r] = m;
    rstd[r] = s;
    for (int64_t j = 0; j < cols; ++j) {
      const float normalized = (in[j] - m) * s;
      out[j] = weight == nullptr ? normalized : normalized * weight[j] + bias[j];
    }
  }
}

void CpuBackend::layer_norm_backward(const float* x, const float* dy, const float* weight,
                                     const float* mean, const float* rstd, float* dx,
                                     float* dweight, float* dbias, int64_t rows, int64_t cols) {
  check_layer_norm(rows, cols, dweight, dbias, "layer_norm_backward");
  const double inv_cols = 1.0 / static_cast<double>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    const float* grad_out = dy + r * cols;
    float* grad_in = dx + r * cols;
    const float m = mean[r], s = rstd[r];
    // g = dy * weight; dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      const float normalized = (in[j] - m) * s;
      const float g = weight == nullptr ? grad_out[j] : grad_out[j] * weight[j];
      sum_g += g;
      sum_g_xhat += static_cast<double>(g) * static_cast<double>(normalized);
    }
    const float mean_g = static_cast<float>(sum_g * inv_cols);
    const float mean_g_xhat = static_cast<float>(sum_g_xhat * inv_cols);
    for (int64_t j = 0; j < cols; ++j) {
      const float normalized = (in[j] - m) * s;
      const float g = weight == nullptr ? grad_out[j] : grad_out[j] * weight[j];
      grad_in[j] = s * ((g - mean_g) - normalized * mean_g_xhat);
    }
  }
  if (dweight == nullptr) return;
  // Column sums over the rows in row order, in double: one running sum per column.
  std::vector<double> weight_sums(static_cast<size_t>(cols), 0.0);
  std::vector<double> bias_sums(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    const float* grad_out = dy + r * cols;
    const float m = mean[r], s = rstd[r];
    for (int64_t j = 0; j < cols; ++j) {
      const float normalized = (in[j] - m) * s;
      weight_sums[static_cast<size_t>(j)] +=
          static_cast<double>(grad_out[j]) * static_cast<double>(normalized);
      bias_sums[static_cast<size_t>(j)] += grad_out[j];
    }
  }
  for (int64_t j = 0; j < cols; ++j) {
    dweight[j] = static_cast<float>(weight_sums[static_cast<size_t>(j)]);
    dbias[j] = static_cast<float>(bias_sums[static_cast<size_t>(j)]);
  }
}

}  // namespace lockstep::backend::cpu
