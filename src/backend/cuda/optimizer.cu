// CUDA fused optimizer updates: SGD (momentum, Nesterov, weight decay), Keras's RMSprop and
// PyTorch's Adam / AdamW, one thread per parameter. Each formula is the CPU's
// (src/backend/cpu/optimizer.cpp), term for term: the constants derived from the
// hyperparameters are computed on the host by the same code, and every product, sum, quotient
// and root is rounded on its own (the _rn intrinsics: no fused multiply-add), so an update is
// bitwise the CPU's.
#include <cmath>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "lockstep/base/error.h"

namespace lockstep::backend::cuda {

namespace {

__device__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ float sub(float a, float b) { return __fsub_rn(a, b); }
__device__ float quotient(float a, float b) { return __fdiv_rn(a, b); }
__device__ float root(float a) { return __fsqrt_rn(a); }

// g = s*grad + wd*p; v = momentum*v + g; p -= lr * (nesterov ? g + momentum*v : v)
__global__ void sgd_kernel(float* param, const float* grad, float* velocity, int64_t n, SgdUpdate u,
                           bool has_momentum) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const float g = add(mul(u.grad_scale, grad[i]), mul(u.weight_decay, param[i]));
    float step = g;
    if (has_momentum) {
      const float v = add(mul(u.momentum, velocity[i]), g);
      velocity[i] = v;
      step = u.nesterov ? add(g, mul(u.momentum, v)) : v;
    }
    param[i] = sub(param[i], mul(u.lr, step));
  }
}

// g = s*grad + wd*p; ms = rho*ms + (1-rho) g^2; p -= lr g / (sqrt(ms) + eps)
__global__ void rmsprop_kernel(float* param, const float* grad, float* mean_square, int64_t n,
                               RmspropUpdate u, float one_minus_rho) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const float g = add(mul(u.grad_scale, grad[i]), mul(u.weight_decay, param[i]));
    const float ms = add(mul(u.rho, mean_square[i]), mul(mul(one_minus_rho, g), g));
    mean_square[i] = ms;
    param[i] = sub(param[i], quotient(mul(u.lr, g), add(root(ms), u.epsilon)));
  }
}

// Host-computed constants of one Adam step, exactly as the CPU computes them.
struct AdamConstants {
  float inv_correction1, inv_sqrt_correction2, coupled_decay, param_keep;
  float one_minus_beta1, one_minus_beta2;
};

__global__ void adam_kernel(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                            int64_t n, AdamUpdate u, AdamConstants c) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const float g = add(mul(u.grad_scale, grad[i]), mul(c.coupled_decay, param[i]));
    const float m = add(mul(u.beta1, exp_avg[i]), mul(c.one_minus_beta1, g));
    const float v = add(mul(u.beta2, exp_avg_sq[i]), mul(mul(c.one_minus_beta2, g), g));
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float m_hat = mul(m, c.inv_correction1);
    const float v_hat_sqrt = mul(root(v), c.inv_sqrt_correction2);
    param[i] =
        sub(mul(param[i], c.param_keep), quotient(mul(u.lr, m_hat), add(v_hat_sqrt, u.epsilon)));
  }
}

}  // namespace

void CudaBackend::sgd_update(float* param, const float* grad, float* velocity, int64_t n,
                             const SgdUpdate& u) {
  const bool has_momentum = u.momentum != 0.0f;
  LOCKSTEP_CHECK(!has_momentum || velocity != nullptr || n == 0,
                 "sgd_update: momentum " << u.momentum << " needs a velocity buffer");
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(param, grad, velocity, n, u, has_momentum);
  LOCKSTEP_CUDA_CHECK_LAUNCH(sgd_kernel);
}

void CudaBackend::rmsprop_update(float* param, const float* grad, float* mean_square, int64_t n,
                                 const RmspropUpdate& u) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  rmsprop_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(param, grad, mean_square, n, u,
                                                          1.0f - u.rho);
  LOCKSTEP_CUDA_CHECK_LAUNCH(rmsprop_kernel);
}

void CudaBackend::adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                              int64_t n, const AdamUpdate& u) {
  LOCKSTEP_CHECK(u.step >= 1, "adam_update: step must be at least 1, found " << u.step);
  if (n <= 0) return;
  // Bias corrections 1 - beta^t in double: in float, 1 - 0.999^t loses most of its digits.
  const double t = static_cast<double>(u.step);
  AdamConstants c{};
  c.inv_correction1 = static_cast<float>(1.0 / (1.0 - std::pow(double{u.beta1}, t)));
  c.inv_sqrt_correction2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(double{u.beta2}, t)));
  c.coupled_decay = u.decoupled_weight_decay ? 0.0f : u.weight_decay;
  c.param_keep = u.decoupled_weight_decay ? 1.0f - u.lr * u.weight_decay : 1.0f;
  c.one_minus_beta1 = 1.0f - u.beta1;
  c.one_minus_beta2 = 1.0f - u.beta2;
  DeviceGuard guard(ordinal_);
  adam_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(param, grad, exp_avg, exp_avg_sq, n, u, c);
  LOCKSTEP_CUDA_CHECK_LAUNCH(adam_kernel);
}

}  // namespace lockstep::backend::cuda
