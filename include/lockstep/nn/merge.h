// Layers that combine the outputs of several layers of a Model: Add (elementwise sum, as in a
// residual block) and Concatenate (along the channels of [C, H, W], or the features of [F]).
#pragma once

#include <string>
#include <vector>

#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

// y = x0 + x1 + ..., all inputs of one shape. Backward hands dy to every input.
class Add final : public MultiInputLayer {
 public:
  std::string type() const override { return "Add"; }
  nlohmann::json config() const override { return {{"type", "Add"}}; }
  Shape output_shape_of(const std::vector<Shape>& input_shapes) const override;
  Tensor forward_inputs(const std::vector<Tensor>& inputs, const ForwardContext& context) override;
  std::vector<Tensor> backward_inputs(const Tensor& dy) override;

 private:
  struct Saved {
    ShapeOn output;  // with the batch
    size_t inputs = 0;
  };
  SavedPasses<Saved> saved_;  // of each pass
};

// Joins its inputs along the first per-sample axis: [C_i, H, W] -> [sum C_i, H, W] (channels of
// NCHW images, as torch.cat(dim=1)), [F_i] -> [sum F_i]; the other extents must agree.
class Concatenate final : public MultiInputLayer {
 public:
  std::string type() const override { return "Concatenate"; }
  nlohmann::json config() const override { return {{"type", "Concatenate"}}; }
  Shape output_shape_of(const std::vector<Shape>& input_shapes) const override;
  Tensor forward_inputs(const std::vector<Tensor>& inputs, const ForwardContext& context) override;
  std::vector<Tensor> backward_inputs(const Tensor& dy) override;

 private:
  struct Saved {
    std::vector<Shape> input_shapes;  // with the batch
    ShapeOn output;                   // with the batch
  };
  SavedPasses<Saved> saved_;  // of each pass
};

}  // namespace lockstep::nn
