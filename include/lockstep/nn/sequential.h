// Sequential: a stack of layers, built from and turned back into a JSON model spec.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lockstep/nn/layer.h"

namespace lockstep::nn {

class Sequential {
 public:
  // input_shape is per sample, batch excluded: [1, 28, 28] for Fashion-MNIST images.
  explicit Sequential(Shape input_shape, std::string name = "model");

  // Appends a layer; its input shape is the previous layer's output shape (checked here),
  // and its parameters are renamed "<index>.<local name>" as in a PyTorch nn.Sequential.
  void add(std::unique_ptr<Layer> layer);

  // x: [batch, ...input_shape()] -> [batch, ...output_shape()].
  Tensor forward(const Tensor& x, const ForwardContext& context);
  // dy: gradient of the loss SUM w.r.t. the last forward's output; fills every grad.
  // `on_layer_done`, when given, is called with a layer's index after its backward (last
  // layer first), when that layer's grads are final: the engine starts reducing them there.
  Tensor backward(const Tensor& dy,
                  const std::function<void(size_t layer_index)>& on_layer_done = {});

  // Every parameter, in layer order ("0.weight", "0.bias", "2.weight", ...).
  std::vector<Parameter*> parameters();
  int64_t parameter_count();

  // Moves every parameter to `device`, with fresh zero gradients there. Call it before
  // anything points the gradients elsewhere (fusion buffers): those views are replaced.
  void to(const Device& device);

  const std::string& name() const { return name_; }
  const Shape& input_shape() const { return input_shape_; }
  Shape output_shape() const;
  size_t size() const { return layers_.size(); }
  Layer& layer(size_t index) { return *layers_.at(index); }

  // The model spec that build_model turns back into this architecture.
  nlohmann::json spec() const;

 private:
  std::string name_;
  Shape input_shape_;
  std::vector<Shape> layer_input_shapes_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Parameter*> parameters_;
};

// Builds a model from a spec:
//   {"name": "mlp", "input_shape": [1, 28, 28],
//    "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 256}, {"type": "ReLU"}, ...]}
// Weights are initialised from `seed` (each layer's initializer, keyed by its index), so the
// same spec and seed give the same weights on every rank. Throws lockstep::Error naming the
// layer and field for anything malformed.
std::unique_ptr<Sequential> build_model(const nlohmann::json& spec, uint64_t seed);

// The built-in specs by name: "mlp" (784-256-ReLU-256-ReLU-10) and "cnn" (conv 5x5x32, ReLU,
// maxpool 2, conv 5x5x64, ReLU, maxpool 2, dense 128, ReLU, dense 10), both on [1, 28, 28].
nlohmann::json builtin_spec(const std::string& name);

}  // namespace lockstep::nn
