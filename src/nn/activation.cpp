// Activation layers: y = f(x) elementwise; backward dx = f'(x) dy from the kept x and y.
#include "lockstep/nn/activation.h"

#include <array>
#include <utility>

#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

namespace {

const std::array<std::pair<const char*, backend::Activation>, 4> kActivations = {{
    {"ReLU", backend::Activation::kRelu},
    {"Tanh", backend::Activation::kTanh},
    {"Sigmoid", backend::Activation::kSigmoid},
    {"GELU", backend::Activation::kGelu},
}};

}  // namespace

bool activation_from_name(const std::string& name, backend::Activation& kind) {
  for (const auto& [known, value] : kActivations) {
    if (name == known) {
      kind = value;
      return true;
    }
  }
  return false;
}

std::string ActivationLayer::type() const {
  for (const auto& [name, value] : kActivations) {
    if (value == kind_) return name;
  }
  LOCKSTEP_THROW("ActivationLayer: unknown activation kind " << static_cast<int>(kind_));
}

nlohmann::json ActivationLayer::config() const { return {{"type", type()}}; }

Tensor ActivationLayer::forward(const Tensor& x, const ForwardContext& context) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  backend::backend_for(x.device()).activation_forward(kind_, x.data(), y.data(), x.numel());
  saved_.push(context, {x, y});
  return y;
}

Tensor ActivationLayer::backward(const Tensor& dy) {
  const std::string name = type();
  const Saved saved = saved_.pop(name);
  detail::check_gradient(name.c_str(), dy, saved.output.shape(), saved.output.device());
  Tensor dx = Tensor::empty(dy.shape(), dy.device());
  backend::backend_for(dy.device())
      .activation_backward(kind_, saved.input.data(), saved.output.data(), dy.data(), dx.data(),
                           dy.numel());
  return dx;
}

}  // namespace lockstep::nn
