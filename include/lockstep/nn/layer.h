// Layer: one node of a Model, with forward, backward and its parameters; MultiInputLayer for
// the layers that combine several inputs (Add, Concatenate).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lockstep/base/shape.h"
#include "lockstep/nn/parameter.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::nn {

// What a forward pass needs beyond its input: the mode and the key of per-sample noise.
struct ForwardContext {
  bool training = false;  // train mode (Dropout active) or eval mode (Dropout is identity)
  uint64_t seed = 0;      // run seed
  uint64_t step = 0;      // training step (optimizer updates taken so far)
  // Row i of the input is sample first_sample + i of the step's global batch; ranks pass
  // their partition offset, so a sample's noise does not depend on which rank runs it.
  int64_t first_sample = 0;
};

class Layer {
 public:
  virtual ~Layer() = default;

  // The spec name of the layer kind: "Dense", "Conv2D", "ReLU", ...
  virtual std::string type() const = 0;
  // The layer's entry in a model spec: {"type": ..., config fields ...}.
  virtual nlohmann::json config() const = 0;
  // Per-sample output shape for a per-sample input shape (batch dimension excluded);
  // throws lockstep::Error when the input shape does not fit the layer.
  virtual Shape output_shape(const Shape& input_shape) const = 0;

  // x: [batch, ...input_shape] -> [batch, ...output_shape]. Keeps what backward needs.
  virtual Tensor forward(const Tensor& x, const ForwardContext& context) = 0;
  // dy: gradient of the loss SUM w.r.t. the last forward's output. Overwrites each
  // parameter's grad and returns the gradient w.r.t. that forward's input (which may be a
  // view of dy). dy is read only: in a graph it may also feed another layer's backward.
  virtual Tensor backward(const Tensor& dy) = 0;

  // The trainable parameters, with names local to the layer ("weight", "bias").
  virtual std::vector<Parameter*> parameters() { return {}; }

  // Re-draws the parameters from the layer's initializers, keyed by the model seed and the
  // layer's index (`stream`), so every rank builds identical weights. Biases become zero.
  virtual void initialize(uint64_t /*seed*/, uint32_t /*stream*/) {}
};

// A layer of two or more inputs. A Model calls the forms below for it; the one-input forms of
// Layer throw, naming the layer.
class MultiInputLayer : public Layer {
 public:
  // Per-sample output shape for the per-sample shapes of its inputs, in order; throws
  // lockstep::Error when they do not fit the layer.
  virtual Shape output_shape_of(const std::vector<Shape>& input_shapes) const = 0;
  // inputs[i]: [batch, ...input_shapes[i]] -> [batch, ...output_shape]. Keeps what backward
  // needs.
  virtual Tensor forward_inputs(const std::vector<Tensor>& inputs,
                                const ForwardContext& context) = 0;
  // dy: gradient of the loss SUM w.r.t. the last forward's output -> the gradient w.r.t.
  // each of that forward's inputs, in order. The tensors returned may alias dy or each other:
  // callers copy before adding into them.
  virtual std::vector<Tensor> backward_inputs(const Tensor& dy) = 0;

  Shape output_shape(const Shape& input_shape) const final;
  Tensor forward(const Tensor& x, const ForwardContext& context) final;
  Tensor backward(const Tensor& dy) final;
};

}  // namespace lockstep::nn
