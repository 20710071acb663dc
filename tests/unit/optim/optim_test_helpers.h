// Helpers for the optimizer tests: deterministic parameters and gradients, a driver that
// steps an optimizer over them, and checks on error messages. The reference rules computed
// in double live beside each optimizer's test.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/nn/parameter.h"
#include "lockstep/optim/optimizer.h"

namespace lockstep::optim::testing {

// Initial values of a parameter of n elements: mixed signs and magnitudes, exact in float.
inline std::vector<float> initial_values(int n) {
  std::vector<float> values(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    values[static_cast<size_t>(i)] = 0.75f - 0.375f * static_cast<float>(i);
  }
  return values;
}

// The raw (SUM-)gradient given at step t (from 1): changes sign and size across steps so
// that the moving averages see more than one value.
inline std::vector<float> gradient_at(int t, int n, float magnitude = 2.0f) {
  std::vector<float> values(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    values[static_cast<size_t>(i)] =
        magnitude * static_cast<float>(std::sin(1.3 * i + 0.7 * t + 0.2));
  }
  return values;
}

inline nn::Parameter make_parameter(const std::string& name, const Shape& shape) {
  const int n = static_cast<int>(shape_numel(shape));
  return {name, Tensor::from_vector(shape, initial_values(n)), Tensor::zeros(shape)};
}

// Steps `optimizer` over `parameter` for steps first..last, gradients from gradient_at.
inline void run_steps(Optimizer& optimizer, nn::Parameter& parameter, int first, int last,
                      float grad_scale, float magnitude = 2.0f) {
  for (int t = first; t <= last; ++t) {
    const std::vector<float> grad =
        gradient_at(t, static_cast<int>(parameter.value.numel()), magnitude);
    parameter.grad.copy_from(Tensor::from_vector(parameter.grad.shape(), grad));
    optimizer.step({&parameter}, grad_scale);
  }
}

inline Tensor to_tensor(const Shape& shape, const std::vector<double>& values) {
  std::vector<float> narrowed(values.begin(), values.end());
  return Tensor::from_vector(shape, narrowed);
}

inline bool bit_identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// Passes when `action` throws lockstep::Error whose message holds every one of `parts`.
inline ::testing::AssertionResult throws_mentioning(const std::function<void()>& action,
                                                    const std::vector<std::string>& parts) {
  try {
    action();
  } catch (const Error& error) {
    for (const std::string& part : parts) {
      if (error.message().find(part) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "message \"" << error.message() << "\" does not mention \"" << part << "\"";
      }
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no lockstep::Error was thrown";
}

}  // namespace lockstep::optim::testing
