// Helpers for the nn tests: the finite-difference check of a layer's backward, and a check
// that a call throws lockstep::Error with a message naming given things.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/nn/layer.h"
#include "support/test_support.h"

namespace lockstep::nn::test {

// sum(y * r) in double: with r fixed, its gradient w.r.t. y is r, so backward(r) must give
// the gradient of this scalar.
inline double weighted_sum(const Tensor& y, const Tensor& r) {
  const std::vector<float> a = y.to_vector(), b = r.to_vector();
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

// Tolerances for float32 layers against central differences with h = 1e-2: f is a sum of
// O(100) float32 outputs of magnitude ~1, so its rounding error is ~1e-6 and becomes ~1e-4
// after division by 2h; smooth activations add a truncation error h^2 f'''/6 ~ 2e-5. Linear
// layers have no truncation error at all. atol 1e-3 and rtol 1e-2 keep a 10x margin while a
// wrong index or a missing term (errors of order 1e-1 and more) still fails.
constexpr double kGradRtol = 1e-2;
constexpr double kGradAtol = 1e-3;

// Checks the input gradient and every parameter gradient of `layer` at `x` against central
// finite differences of f = sum(forward(x) * r) for a fixed random r.
inline void expect_gradients_match(Layer& layer, Tensor x, const ForwardContext& context,
                                   uint64_t seed = 99) {
  const Tensor y = layer.forward(x, context);
  const Tensor r = testing::random_tensor(y.shape(), seed);
  const Tensor dx = layer.backward(r).clone();
  std::vector<Tensor> grads;
  for (Parameter* p : layer.parameters()) grads.push_back(p->grad.clone());

  const auto f = [&] { return weighted_sum(layer.forward(x, context), r); };
  EXPECT_TRUE(testing::all_close(dx, testing::numerical_gradient(x, f), kGradRtol, kGradAtol))
      << layer.type() << ": input gradient";
  const std::vector<Parameter*> params = layer.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(testing::all_close(grads[i], testing::numerical_gradient(params[i]->value, f),
                                   kGradRtol, kGradAtol))
        << layer.type() << ": gradient of " << params[i]->name;
  }
}

// Expects `call` to throw lockstep::Error whose message contains every one of `parts`.
inline void expect_error_naming(const std::function<void()>& call,
                                std::initializer_list<std::string> parts) {
  try {
    call();
    ADD_FAILURE() << "expected lockstep::Error";
  } catch (const Error& error) {
    const std::string message = error.message();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message \"" << message << "\" does not name \"" << part << "\"";
    }
  }
}

}  // namespace lockstep::nn::test
