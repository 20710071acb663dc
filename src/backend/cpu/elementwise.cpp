// CPU elementwise ops: fill, scale, axpy, multiply, activations and keyed dropout.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"
#include "lockstep/base/philox.h"

namespace lockstep::backend::cpu {

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

float sigmoid(float x) {
  // exp of a non-positive number only, so nothing overflows: e = exp(-|x|) is exp(-x) for
  // x >= 0 and exp(x) below. One exp and a select, no branch on the sign.
  const float e = std::exp(-std::fabs(x));
  return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2)); }

// d/dx [x Phi(x)] = Phi(x) + x phi(x).
float gelu_derivative(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
  const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

// Applies `f` elementwise; a template so the loop body inlines (no per-element dispatch).
template <typename F>
void map(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

}  // namespace

void CpuBackend::fill(float* x, int64_t n, float value) { std::fill(x, x + n, value); }

void CpuBackend::scale(float* x, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

void CpuBackend::axpy(int64_t n, float alpha, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void CpuBackend::multiply(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void CpuBackend::accumulate_double(const float* x, double* sums, int64_t n) {
  for (int64_t i = 0; i < n; ++i) sums[i] += x[i];
}

void CpuBackend::fill_double(double* x, int64_t n, double value) {
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

void CpuBackend::round_to_float(const double* sums, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(sums[i]);
}

void CpuBackend::activation_forward(Activation kind, const float* x, float* y, int64_t n) {
  switch (kind) {
    case Activation::kRelu:
      // As PyTorch's: NaN stays NaN (`v > 0 ? v : 0` would turn it into 0 and hide it).
      return map(x, y, n, [](float v) { return v <= 0.0f ? 0.0f : v; });
    case Activation::kTanh:
      return map(x, y, n, [](float v) { return std::tanh(v); });
    case Activation::kSigmoid:
      return map(x, y, n, sigmoid);
    case Activation::kGelu:
      return map(x, y, n, gelu);
  }
  LOCKSTEP_THROW("activation_forward: unknown activation " << static_cast<int>(kind));
}

void CpuBackend::activation_backward(Activation kind, const float* x, const float* y,
                                     const float* dy, float* dx, int64_t n) {
  switch (kind) {
    case Activation::kRelu:
      // dy is read whether or not it is used: a load under the condition would keep the loop
      // scalar, with a branch that mispredicts on every other sign change.
      // As PyTorch's threshold_backward: dy passes unless x <= 0, so also where x is NaN.
      for (int64_t i = 0; i < n; ++i) {
        const float gradient = dy[i];
        dx[i] = x[i] <= 0.0f ? 0.0f : gradient;
      }
      return;
    case Activation::kTanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      return;
    case Activation::kSigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
      return;
    case Activation::kGelu:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * gelu_derivative(x[i]);
      return;
  }
  LOCKSTEP_THROW("activation_backward: unknown activation " << static_cast<int>(kind));
}

void CpuBackend::dropout_forward(const float* x, float* y, float* mask, int64_t rows, int64_t cols,
                                 float rate, const DropoutKey& key) {
  check_dropout(rate, key, cols);
  const float kept = 1.0f / (1.0f - rate);
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t sample = static_cast<uint64_t>(key.first_sample + r);
    const int64_t base = r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float u =
          philox::sample_uniform(key.seed, key.stream, key.step, sample, static_cast<uint32_t>(c));
      mask[base + c] = u >= rate ? kept : 0.0f;
      y[base + c] = x[base + c] * mask[base + c];
    }
  }
}

}  // namespace lockstep::backend::cpu
