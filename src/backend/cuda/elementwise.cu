// CUDA elementwise ops: fill, scale, axpy, multiply, the double accumulators of the gradient
// buckets, activations and keyed dropout. Where the CPU twin is exact arithmetic (everything
// but the transcendental functions), products and sums are rounded one by one
// (__fmul_rn, __fadd_rn: no fused multiply-add), so the results are bitwise the CPU's.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"
#include "lockstep/base/philox.h"

namespace lockstep::backend::cuda {

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

// --- kernels --------------------------------------------------------------------------------

__global__ void fill_kernel(float* x, int64_t n, float value) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) x[i] = value;
}

__global__ void scale_kernel(float* x, int64_t n, float alpha) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) x[i] = __fmul_rn(x[i], alpha);
}

__global__ void axpy_kernel(int64_t n, float alpha, const float* x, float* y) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
  }
}

__global__ void multiply_kernel(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) y[i] = __fmul_rn(a[i], b[i]);
}

__global__ void accumulate_double_kernel(const float* x, double* sums, int64_t n) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    sums[i] = __dadd_rn(sums[i], static_cast<double>(x[i]));
  }
}

__global__ void fill_double_kernel(double* x, int64_t n, double value) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) x[i] = value;
}

__global__ void round_to_float_kernel(const double* sums, float* y, int64_t n) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) y[i] = __double2float_rn(sums[i]);
}

__device__ float sigmoid(float x) {
  // As on the CPU: exp of a non-positive number only, so neither branch overflows.
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

__device__ float gelu(float x) { return 0.5f * x * (1.0f + erff(x * kInvSqrt2)); }

// d/dx [x Phi(x)] = Phi(x) + x phi(x).
__device__ float gelu_derivative(float x) {
  const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
  const float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

__global__ void activation_forward_kernel(Activation kind, const float* x, float* y, int64_t n) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const float v = x[i];
    switch (kind) {
      case Activation::kRelu:  // NaN stays NaN, as on the CPU and in PyTorch
        y[i] = v <= 0.0f ? 0.0f : v;
        break;
      case Activation::kTanh:
        y[i] = tanhf(v);
        break;
      case Activation::kSigmoid:
        y[i] = sigmoid(v);
        break;
      case Activation::kGelu:
        y[i] = gelu(v);
        break;
    }
  }
}

__global__ void activation_backward_kernel(Activation kind, const float* x, const float* y,
                                           const float* dy, float* dx, int64_t n) {
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    switch (kind) {
      case Activation::kRelu:  // dy passes unless x <= 0, so also where x is NaN
        dx[i] = x[i] <= 0.0f ? 0.0f : dy[i];
        break;
      case Activation::kTanh:
        dx[i] = __fmul_rn(dy[i], __fsub_rn(1.0f, __fmul_rn(y[i], y[i])));
        break;
      case Activation::kSigmoid:
        dx[i] = __fmul_rn(__fmul_rn(dy[i], y[i]), __fsub_rn(1.0f, y[i]));
        break;
      case Activation::kGelu:
        dx[i] = __fmul_rn(dy[i], gelu_derivative(x[i]));
        break;
    }
  }
}

// Element (r, c) of [rows, cols] keeps with probability 1 - rate; the draw is the CPU's own
// philox::sample_uniform for (seed, stream, step, first_sample + r, c), so masks are bitwise
// the same on both devices.
__global__ void dropout_forward_kernel(const float* x, float* y, float* mask, int64_t rows,
                                       int64_t cols, float rate, float kept, DropoutKey key) {
  const int64_t n = rows * cols;
  for (int64_t i = grid_first(); i < n; i += grid_stride()) {
    const int64_t r = i / cols, c = i % cols;
    const uint64_t sample = static_cast<uint64_t>(key.first_sample + r);
    const float u =
        philox::sample_uniform(key.seed, key.stream, key.step, sample, static_cast<uint32_t>(c));
    const float m = u >= rate ? kept : 0.0f;
    mask[i] = m;
    y[i] = __fmul_rn(x[i], m);
  }
}

void check_activation(Activation kind, const char* what) {
  LOCKSTEP_CHECK(kind == Activation::kRelu || kind == Activation::kTanh ||
                     kind == Activation::kSigmoid || kind == Activation::kGelu,
                 what << ": unknown activation " << static_cast<int>(kind));
}

}  // namespace

// --- launchers ------------------------------------------------------------------------------

void CudaBackend::fill(float* x, int64_t n, float value) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  fill_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, n, value);
  LOCKSTEP_CUDA_CHECK_LAUNCH(fill_kernel);
}

void CudaBackend::scale(float* x, int64_t n, float alpha) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  scale_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, n, alpha);
  LOCKSTEP_CUDA_CHECK_LAUNCH(scale_kernel);
}

void CudaBackend::axpy(int64_t n, float alpha, const float* x, float* y) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  axpy_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(n, alpha, x, y);
  LOCKSTEP_CUDA_CHECK_LAUNCH(axpy_kernel);
}

void CudaBackend::multiply(const float* a, const float* b, float* y, int64_t n) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  multiply_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(a, b, y, n);
  LOCKSTEP_CUDA_CHECK_LAUNCH(multiply_kernel);
}

void CudaBackend::accumulate_double(const float* x, double* sums, int64_t n) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  accumulate_double_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, sums, n);
  LOCKSTEP_CUDA_CHECK_LAUNCH(accumulate_double_kernel);
}

void CudaBackend::fill_double(double* x, int64_t n, double value) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  fill_double_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, n, value);
  LOCKSTEP_CUDA_CHECK_LAUNCH(fill_double_kernel);
}

void CudaBackend::round_to_float(const double* sums, float* y, int64_t n) {
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  round_to_float_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(sums, y, n);
  LOCKSTEP_CUDA_CHECK_LAUNCH(round_to_float_kernel);
}

void CudaBackend::activation_forward(Activation kind, const float* x, float* y, int64_t n) {
  check_activation(kind, "activation_forward");
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  activation_forward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(kind, x, y, n);
  LOCKSTEP_CUDA_CHECK_LAUNCH(activation_forward_kernel);
}

void CudaBackend::activation_backward(Activation kind, const float* x, const float* y,
                                      const float* dy, float* dx, int64_t n) {
  check_activation(kind, "activation_backward");
  if (n <= 0) return;
  DeviceGuard guard(ordinal_);
  activation_backward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(kind, x, y, dy, dx, n);
  LOCKSTEP_CUDA_CHECK_LAUNCH(activation_backward_kernel);
}

void CudaBackend::dropout_forward(const float* x, float* y, float* mask, int64_t rows, int64_t cols,
                                  float rate, const DropoutKey& key) {
  check_dropout(rate, key, cols);  // the CPU's checks
  if (rows <= 0 || cols <= 0) return;
  const float kept = 1.0f / (1.0f - rate);  // computed once, on the host, as the CPU does
  DeviceGuard guard(ordinal_);
  dropout_forward_kernel<<<blocks_for(rows * cols), kThreads, 0, stream_>>>(x, y, mask, rows, cols,
                                                                            rate, kept, key);
  LOCKSTEP_CUDA_CHECK_LAUNCH(dropout_forward_kernel);
}

}  // namespace lockstep::backend::cuda
