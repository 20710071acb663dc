// Model: a directed acyclic graph of layers (Keras's functional API), built from and turned
// back into a JSON model spec. Each layer takes the outputs of earlier layers, or the model's
// input; a chain (every layer fed by the one before) is the common case and the default.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/nn/layer.h"

namespace lockstep::nn {

class Model {
 public:
  // The name that stands for the model's input in a layer's inputs.
  static constexpr const char* kInput = "input";

  // input_shape is per sample, batch excluded: [1, 28, 28] for Fashion-MNIST images.
  explicit Model(Shape input_shape, std::string name = "model");

  // Appends a layer fed by `inputs`: names of layers added before, or kInput. No inputs: the
  // layer added last (the model's input for the first layer), as in a chain. Layers of
  // several inputs (MultiInputLayer: Add, Concatenate) need at least two. `name` must be
  // unique, not kInput and not all digits; without one the layer is called by its index
  // ("3"). The shapes are checked here, and the layer's parameters are renamed
  // "<index>.<local name>" as in a PyTorch nn.Sequential. Returns the layer's name. The
  // model's output is the output of the layer added last; every other layer must feed some
  // later one (checked when the model runs).
  std::string add(std::unique_ptr<Layer> layer, std::vector<std::string> inputs = {},
                  std::string name = "");

  // x: [batch, ...input_shape()] -> [batch, ...output_shape()], as one pass. Layers run in
  // the order they were added.
  Tensor forward(const Tensor& x, const ForwardContext& context);
  // A training step's rows on this rank as consecutive passes (micro-batches), each
  // [rows, ...input_shape()], possibly none -> each pass's output. Layer-major: every pass runs
  // through a layer before any runs through the next, so that a StepLayer (BatchNorm) sees the
  // whole step. Pass p runs with context.pass = p and context.first_sample advanced by the rows
  // of the passes before it. A layer computes each pass on its own, so a row's result is the
  // one a pass-by-pass run gives.
  std::vector<Tensor> forward_passes(const std::vector<Tensor>& passes,
                                     const ForwardContext& context);

  // What the engine learns during backward, by layer index.
  struct BackwardHooks {
    // After one pass's backward through a layer: its grads hold that pass's share.
    std::function<void(size_t layer_index)> pass_grads_done;
    // After the layer's last pass: its grads are final; the engine starts reducing them.
    std::function<void(size_t layer_index)> layer_done;
  };
  // dy: gradient of the loss SUM w.r.t. the last forward's output; fills every grad and
  // returns the gradient w.r.t. the model's input. Layers run backward in reverse order;
  // where one output feeds several layers, their gradients are added in a fixed order (the
  // later consumer first). `on_layer_done`, when given, is called with a layer's index after
  // its backward, when that layer's grads are final.
  Tensor backward(const Tensor& dy,
                  const std::function<void(size_t layer_index)>& on_layer_done = {});
  // dys: the gradient w.r.t. each pass's output of the last forward_passes -> the gradient
  // w.r.t. each pass's input. Layers in reverse order, and within a layer the passes in
  // reverse order (each layer keeps its passes last in, first out).
  std::vector<Tensor> backward_passes(const std::vector<Tensor>& dys,
                                      const BackwardHooks& hooks = {});

  // Every parameter, in layer order ("0.weight", "0.bias", "2.weight", ...).
  std::vector<Parameter*> parameters();
  int64_t parameter_count();
  // Every buffer (state computed in training, not learned: BatchNorm's running statistics),
  // in layer order and named like the parameters ("1.running_mean").
  std::vector<Buffer*> buffers();

  // Moves every parameter and buffer to `device`, with fresh zero gradients there. Call it
  // before anything points the gradients elsewhere (fusion buffers): those views are replaced.
  void to(const Device& device);

  const std::string& name() const { return name_; }
  const Shape& input_shape() const { return input_shape_; }
  Shape output_shape() const;
  // The per-sample output shape of the layer called `layer`, or the input shape for kInput;
  // throws lockstep::Error naming the layers there are when none is called so.
  Shape output_shape_of(const std::string& layer) const;
  size_t size() const { return nodes_.size(); }
  Layer& layer(size_t index) { return *nodes_.at(index).layer; }
  // The name of layer `index` (its index as text when it was given none).
  const std::string& layer_name(size_t index) const { return nodes_.at(index).name; }
  // The names of what feeds layer `index`: layer names or kInput.
  std::vector<std::string> layer_inputs(size_t index) const;
  // The first layer other than the last whose output feeds no later layer (such a model
  // refuses to run: that layer would never run backward), or none.
  std::optional<size_t> first_unused_layer() const;

  // The model spec that build_model turns back into this architecture. A chain of unnamed
  // layers gives entries without "name" and "inputs", as a spec of a chain is written.
  nlohmann::json spec() const;

 private:
  static constexpr int kModelInput = -1;  // a node's input that is the model's input

  struct Node {
    std::unique_ptr<Layer> layer;
    MultiInputLayer* multi = nullptr;  // the same layer when it takes several inputs
    StepLayer* step = nullptr;         // the same layer when it couples the step's passes
    std::string name;
    bool named = false;       // given a name (else called by its index)
    std::vector<int> inputs;  // node indices, or kModelInput
    Shape output_shape;
    int consumers = 0;  // later nodes fed by this one
  };

  // The gradient w.r.t. one output during backward. It may alias a tensor a layer returned
  // (which nothing writes into again in this backward) until a second gradient arrives: then
  // it becomes a copy of this model's own, and the second is added into it.
  struct GradientSum {
    Tensor sum;
    bool owned = false;
  };

  int node_index(const std::string& name) const;
  Shape shape_of(int node) const;
  void check_complete() const;
  // Adds `gradient` into the sum of `node` (kModelInput: the model input's) for `pass`.
  void add_gradient(int node, size_t pass, const Tensor& gradient);
  // Runs node `j` forward on every pass (contexts: one per pass; a StepLayer gets the step's
  // context also when there is no pass); outputs_[j] gets the results.
  void forward_node(size_t j, const std::vector<Tensor>& passes, const ForwardContext& step_context,
                    const std::vector<ForwardContext>& contexts);
  // Runs node `j` backward on every pass, adding the gradients into its inputs' sums.
  void backward_node(size_t j, const BackwardHooks& hooks);

  std::string name_;
  Shape input_shape_;
  std::vector<Node> nodes_;
  std::vector<Parameter*> parameters_;
  std::vector<Buffer*> buffers_;
  // During forward, per node and pass: the outputs some later layer still reads.
  std::vector<std::vector<Tensor>> outputs_;
  // During backward, per node and pass: the gradient w.r.t. its output; then the model input's.
  std::vector<std::vector<GradientSum>> grads_;
  std::vector<GradientSum> input_grads_;
};

// Builds a model from a spec:
//   {"name": "mlp", "input_shape": [1, 28, 28],
//    "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 256}, {"type": "ReLU"}, ...]}
// A layer entry may have "name" (unique) and "inputs" (a list of earlier layers' names or
// "input"; absent: the previous layer), as in the C++ Model::add. Weights are initialised from
// `seed` (each layer's initializer, keyed by its index), so the same spec and seed give the
// same weights on every rank. Throws lockstep::Error naming the layer and field for anything
// malformed.
std::unique_ptr<Model> build_model(const nlohmann::json& spec, uint64_t seed);

// The built-in specs by name, all on [1, 28, 28]: "mlp" (784-256-ReLU-256-ReLU-10), "cnn"
// (conv 5x5x32, ReLU, maxpool 2, conv 5x5x64, ReLU, maxpool 2, dense 128, ReLU, dense 10),
// "resnet20" (He et al.'s CIFAR ResNet-20: three stages of three basic residual blocks of 16,
// 32 and 64 channels with BatchNorm) and "xception" (a small Xception: separable convolutions
// with BatchNorm and residual connections; docs/models.md draws both).
nlohmann::json builtin_spec(const std::string& name);
// The names builtin_spec knows, in the order above.
const std::vector<std::string>& builtin_model_names();

}  // namespace lockstep::nn
