// GlobalAveragePooling2D (Keras): [batch, channels, height, width] -> [batch, channels], the
// mean of each channel's plane (PyTorch's AdaptiveAvgPool2d(1) followed by a flatten).
#pragma once

#include <string>

#include "lockstep/backend/backend.h"
#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class GlobalAveragePooling2D final : public Layer {
 public:
  std::string type() const override { return "GlobalAveragePooling2D"; }
  nlohmann::json config() const override { return {{"type", type()}}; }
  // input_shape: [channels, height, width] -> [channels].
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;

 private:
  SavedPasses<ShapeOn> inputs_;  // [batch, channels, height, width] of each pass
};

}  // namespace lockstep::nn
