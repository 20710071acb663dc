// Sequential: layers applied in order, shapes checked as layers are added, parameters named
// "<index>.<local name>" as in a PyTorch nn.Sequential.
#include "lockstep/nn/sequential.h"

#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

Sequential::Sequential(Shape input_shape, std::string name)
    : name_(std::move(name)), input_shape_(std::move(input_shape)) {
  LOCKSTEP_CHECK(!input_shape_.empty(), "Sequential '" << name_
                                                       << "': input_shape needs at least one "
                                                          "dimension, found []");
  for (int64_t extent : input_shape_) {
    LOCKSTEP_CHECK(extent > 0, "Sequential '" << name_ << "': input_shape "
                                              << to_string(input_shape_)
                                              << " must have positive extents");
  }
}

void Sequential::add(std::unique_ptr<Layer> layer) {
  LOCKSTEP_CHECK(layer != nullptr, "Sequential '" << name_ << "': cannot add a null layer");
  const Shape input = output_shape();
  const size_t index = layers_.size();
  try {
    layer->output_shape(input);
  } catch (const Error& error) {
    LOCKSTEP_THROW("Sequential '" << name_ << "': layer " << index << " (" << layer->type()
                                  << ") does not fit its input shape " << to_string(input) << ": "
                                  << error.message());
  }
  for (Parameter* parameter : layer->parameters()) {
    parameter->name = std::to_string(index) + "." + parameter->name;
    parameters_.push_back(parameter);
  }
  layer_input_shapes_.push_back(input);
  layers_.push_back(std::move(layer));
}

Shape Sequential::output_shape() const {
  if (layers_.empty()) return input_shape_;
  return layers_.back()->output_shape(layer_input_shapes_.back());
}

Tensor Sequential::forward(const Tensor& x, const ForwardContext& context) {
  LOCKSTEP_CHECK(x.dim() >= 1 && detail::per_sample(x.shape()) == input_shape_,
                 "Sequential '" << name_ << "': input has shape " << to_string(x.shape())
                                << ", expected " << detail::batched(input_shape_));
  Tensor activation = x;
  for (const std::unique_ptr<Layer>& layer : layers_) {
    activation = layer->forward(activation, context);
  }
  return activation;
}

Tensor Sequential::backward(const Tensor& dy,
                            const std::function<void(size_t layer_index)>& on_layer_done) {
  Tensor gradient = dy;
  for (size_t index = layers_.size(); index-- > 0;) {
    gradient = layers_[index]->backward(gradient);
    if (on_layer_done) on_layer_done(index);
  }
  return gradient;
}

std::vector<Parameter*> Sequential::parameters() { return parameters_; }

int64_t Sequential::parameter_count() {
  int64_t count = 0;
  for (const Parameter* parameter : parameters_) count += parameter->value.numel();
  return count;
}

void Sequential::to(const Device& device) {
  for (Parameter* parameter : parameters_) {
    parameter->value = parameter->value.to(device);
    parameter->grad = Tensor::zeros(parameter->value.shape(), device);
  }
}

nlohmann::json Sequential::spec() const {
  nlohmann::json layers = nlohmann::json::array();
  for (const std::unique_ptr<Layer>& layer : layers_) layers.push_back(layer->config());
  return {{"name", name_}, {"input_shape", input_shape_}, {"layers", layers}};
}

}  // namespace lockstep::nn
