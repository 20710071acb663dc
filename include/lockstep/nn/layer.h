// Layer: one node of a Model, with forward, backward, its parameters and buffers;
// MultiInputLayer for the layers that combine several inputs (Add, Concatenate), StepLayer for
// those whose rows depend on every row of the step (BatchNorm).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lockstep/base/shape.h"
#include "lockstep/nn/buffer.h"
#include "lockstep/nn/parameter.h"
#include "lockstep/nn/step_partials.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::nn {

// What a forward pass needs beyond its input: the mode, the key of per-sample noise, which pass
// of the step it is and how the step's passes are totalled.
struct ForwardContext {
  bool training = false;  // train mode (Dropout active) or eval mode (Dropout is identity)
  uint64_t seed = 0;      // run seed
  uint64_t step = 0;      // training step (optimizer updates taken so far)
  // Row i of the input is sample first_sample + i of the step's global batch; ranks pass
  // their partition offset, so a sample's noise does not depend on which rank runs it.
  int64_t first_sample = 0;
  // Which pass (micro-batch) of this rank's part of the step this forward runs, from 0. A
  // layer keeps what backward needs per pass: a Model runs every pass through one layer before
  // the next, and backward takes them in the reverse order (SavedPasses).
  int pass = 0;
  // Gathers per-pass sums of every pass of the step on every rank (BatchNorm's batch
  // statistics). Null: this process's passes are the whole step (LocalStepPartials).
  StepPartials* partials = nullptr;
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
  // dy: gradient of the loss SUM w.r.t. the output of the last forward not yet run backward
  // (passes are taken last in, first out). Overwrites each parameter's grad and returns the
  // gradient w.r.t. that forward's input (which may be a view of dy). dy is read only: in a
  // graph it may also feed another layer's backward.
  virtual Tensor backward(const Tensor& dy) = 0;

  // The trainable parameters, with names local to the layer ("weight", "bias").
  virtual std::vector<Parameter*> parameters() { return {}; }
  // State that is not trained but belongs to the model (BatchNorm's running statistics),
  // saved with the weights, with names local to the layer.
  virtual std::vector<Buffer*> buffers() { return {}; }

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

// A layer whose output for one row depends on every row of the training step (BatchNorm with
// batch statistics). A Model hands it all the passes of the step at once, also none (a rank
// without rows of this step must still join the gathers); the one-pass forms run it on a single
// pass that is the whole step.
class StepLayer : public Layer {
 public:
  // xs: the step's passes in order, each [rows, ...input_shape]; context.pass is ignored (the
  // passes are numbered by their position). Returns the output of each pass.
  virtual std::vector<Tensor> forward_passes(const std::vector<Tensor>& xs,
                                             const ForwardContext& context) = 0;
  // dys: the gradient w.r.t. each pass's output of the last forward_passes. After writing the
  // parameters' grads of pass p (and before those of the next), calls `pass_grads_done(p)`, so
  // that the engine can add each pass's grads as it adds every other layer's. Returns the
  // gradient w.r.t. each pass's input.
  virtual std::vector<Tensor> backward_passes(
      const std::vector<Tensor>& dys, const std::function<void(int pass)>& pass_grads_done) = 0;

  Tensor forward(const Tensor& x, const ForwardContext& context) final;
  Tensor backward(const Tensor& dy) final;
};

}  // namespace lockstep::nn
