// CPU fused optimizer updates: SGD (momentum, Nesterov, weight decay), Keras's RMSprop and
// PyTorch's Adam / AdamW, each one pass over the n parameters.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "lockstep/core/error.h"

namespace lockstep::backend::cpu {

void CpuBackend::sgd_update(float* param, const float* grad, float* velocity, int64_t n,
                            const SgdUpdate& u) {
  const bool has_momentum = u.momentum != 0.0f;
  LOCKSTEP_CHECK(!has_momentum || velocity != nullptr || n == 0,
                 "sgd_update: momentum " << u.momentum << " needs a velocity buffer");
  for (int64_t i = 0; i < n; ++i) {
    const float g = u.grad_scale * grad[i] + u.weight_decay * param[i];
    float step = g;
    if (has_momentum) {
      velocity[i] = u.momentum * velocity[i] + g;
      step = u.nesterov ? g + u.momentum * velocity[i] : velocity[i];
    }
    param[i] -= u.lr * step;
  }
}

void CpuBackend::rmsprop_update(float* param, const float* grad, float* mean_square, int64_t n,
                                const RmspropUpdate& u) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = u.grad_scale * grad[i] + u.weight_decay * param[i];
    mean_square[i] = u.rho * mean_square[i] + (1.0f - u.rho) * g * g;
    param[i] -= u.lr * g / (std::sqrt(mean_square[i]) + u.epsilon);
  }
}

void CpuBackend::adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                             int64_t n, const AdamUpdate& u) {
  LOCKSTEP_CHECK(u.step >= 1, "adam_update: step must be at least 1, found " << u.step);
  // Bias corrections 1 - beta^t in double: in float, 1 - 0.999^t loses most of its digits.
  const double t = static_cast<double>(u.step);
  const float inv_correction1 = static_cast<float>(1.0 / (1.0 - std::pow(double{u.beta1}, t)));
  const float inv_sqrt_correction2 =
      static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(double{u.beta2}, t)));
  const float coupled_decay = u.decoupled_weight_decay ? 0.0f : u.weight_decay;
  const float param_keep = u.decoupled_weight_decay ? 1.0f - u.lr * u.weight_decay : 1.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = u.grad_scale * grad[i] + coupled_decay * param[i];
    exp_avg[i] = u.beta1 * exp_avg[i] + (1.0f - u.beta1) * g;
    exp_avg_sq[i] = u.beta2 * exp_avg_sq[i] + (1.0f - u.beta2) * g * g;
    const float m_hat = exp_avg[i] * inv_correction1;
    const float v_hat_sqrt = std::sqrt(exp_avg_sq[i]) * inv_sqrt_correction2;
    param[i] = param[i] * param_keep - u.lr * m_hat / (v_hat_sqrt + u.epsilon);
  }
}

}  // namespace lockstep::backend::cpu
