// Elementwise activation layers: ReLU, Tanh, Sigmoid and GELU (exact erf form), one class
// parameterised by the backend's activation kind.
#pragma once

#include <string>

#include "lockstep/backend/backend.h"
#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class ActivationLayer final : public Layer {
 public:
  explicit ActivationLayer(backend::Activation kind) : kind_(kind) {}

  // "ReLU", "Tanh", "Sigmoid" or "GELU".
  std::string type() const override;
  nlohmann::json config() const override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;

  backend::Activation kind() const { return kind_; }

 private:
  backend::Activation kind_;
  struct Saved {
    Tensor input;   // x
    Tensor output;  // f(x)
  };
  SavedPasses<Saved> saved_;  // of each pass
};

// The activation kind named by a spec type ("ReLU", ...); false when it names none.
bool activation_from_name(const std::string& name, backend::Activation& kind);

}  // namespace lockstep::nn
