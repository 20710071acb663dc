// Flatten: [batch, d1, d2, ...] -> [batch, d1*d2*...] as a view of the same storage.
#pragma once

#include <string>

#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class Flatten final : public Layer {
 public:
  std::string type() const override { return "Flatten"; }
  nlohmann::json config() const override { return {{"type", type()}}; }
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;

 private:
  SavedPasses<Shape> input_shapes_;  // [batch, ...] of each pass
};

}  // namespace lockstep::nn
