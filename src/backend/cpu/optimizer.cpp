// CPU fused optimizer updates: SGD (momentum, Nesterov, weight decay), Keras's RMSprop and
// PyTorch's Adam / AdamW, each one pass over the n parameters.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cpu {

namespace {

// The hyperparameters are copied into locals before each loop: read through the update struct,
// the compiler must assume a parameter write may change them and reloads them every element,
// which also keeps it from vectorising the loop. (RMSprop and Adam vectorise only when built
// with -fno-math-errno: otherwise each std::sqrt keeps a branch to libm, which would set errno
// for a negative input.)

void sgd_plain(float* __restrict param, const float* __restrict grad, int64_t n, float lr,
               float grad_scale, float weight_decay) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad_scale * grad[i] + weight_decay * param[i];
    param[i] -= lr * g;
  }
}

void sgd_momentum(float* __restrict param, const float* __restrict grad, float* __restrict velocity,
                  int64_t n, float lr, float grad_scale, float weight_decay, float momentum,
                  bool nesterov) {
  if (nesterov) {
    for (int64_t i = 0; i < n; ++i) {
      const float g = grad_scale * grad[i] + weight_decay * param[i];
      const float v = momentum * velocity[i] + g;
      velocity[i] = v;
      param[i] -= lr * (g + momentum * v);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float g = grad_scale * grad[i] + weight_decay * param[i];
      const float v = momentum * velocity[i] + g;
      velocity[i] = v;
      param[i] -= lr * v;
    }
  }
}

}  // namespace

void CpuBackend::sgd_update(float* param, const float* grad, float* velocity, int64_t n,
                            const SgdUpdate& u) {
  const bool has_momentum = u.momentum != 0.0f;
  LOCKSTEP_CHECK(!has_momentum || velocity != nullptr || n == 0,
                 "sgd_update: momentum " << u.momentum << " needs a velocity buffer");
  if (has_momentum) {
    sgd_momentum(param, grad, velocity, n, u.lr, u.grad_scale, u.weight_decay, u.momentum,
                 u.nesterov);
  } else {
    sgd_plain(param, grad, n, u.lr, u.grad_scale, u.weight_decay);
  }
}

void CpuBackend::rmsprop_update(float* __restrict param, const float* __restrict grad,
                                float* __restrict mean_square, int64_t n, const RmspropUpdate& u) {
  const float lr = u.lr, rho = u.rho, one_minus_rho = 1.0f - u.rho, epsilon = u.epsilon;
  const float grad_scale = u.grad_scale, weight_decay = u.weight_decay;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad_scale * grad[i] + weight_decay * param[i];
    const float ms = rho * mean_square[i] + one_minus_rho * g * g;
    mean_square[i] = ms;
    param[i] -= lr * g / (std::sqrt(ms) + epsilon);
  }
}

void CpuBackend::adam_update(float* __restrict param, const float* __restrict grad,
                             float* __restrict exp_avg, float* __restrict exp_avg_sq, int64_t n,
                             const AdamUpdate& u) {
  LOCKSTEP_CHECK(u.step >= 1, "adam_update: step must be at least 1, found " << u.step);
  // Bias corrections 1 - beta^t in double: in float, 1 - 0.999^t loses most of its digits.
  const double t = static_cast<double>(u.step);
  const float inv_correction1 = static_cast<float>(1.0 / (1.0 - std::pow(double{u.beta1}, t)));
  const float inv_sqrt_correction2 =
      static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(double{u.beta2}, t)));
  const float coupled_decay = u.decoupled_weight_decay ? 0.0f : u.weight_decay;
  const float param_keep = u.decoupled_weight_decay ? 1.0f - u.lr * u.weight_decay : 1.0f;
  const float lr = u.lr, epsilon = u.epsilon, grad_scale = u.grad_scale;
  const float beta1 = u.beta1, one_minus_beta1 = 1.0f - u.beta1;
  const float beta2 = u.beta2, one_minus_beta2 = 1.0f - u.beta2;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad_scale * grad[i] + coupled_decay * param[i];
    const float m = beta1 * exp_avg[i] + one_minus_beta1 * g;
    const float v = beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float m_hat = m * inv_correction1;
    const float v_hat_sqrt = std::sqrt(v) * inv_sqrt_correction2;
    param[i] = param[i] * param_keep - lr * m_hat / (v_hat_sqrt + epsilon);
  }
}

}  // namespace lockstep::backend::cpu
