// Model: layers as a directed acyclic graph in the order they were added, shapes checked as
// layers are added, parameters named "<index>.<local name>" as in a PyTorch nn.Sequential.
// Forward releases each output once its last consumer has run; backward adds the gradients of
// an output that feeds several layers.
#include "lockstep/nn/model.h"

#include <algorithm>
#include <sstream>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

namespace {

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Model::Model(Shape input_shape, std::string name)
    : name_(std::move(name)), input_shape_(std::move(input_shape)) {
  LOCKSTEP_CHECK(!input_shape_.empty(), "Model '" << name_
                                                  << "': input_shape needs at least one "
                                                     "dimension, found []");
  for (int64_t extent : input_shape_) {
    LOCKSTEP_CHECK(extent > 0, "Model '" << name_ << "': input_shape " << to_string(input_shape_)
                                         << " must have positive extents");
  }
}

int Model::node_index(const std::string& name) const {
  if (name == kInput) return kModelInput;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].name == name) return static_cast<int>(i);
  }
  std::ostringstream known;
  known << kInput;
  for (const Node& node : nodes_) known << ", " << node.name;
  LOCKSTEP_THROW("Model '" << name_ << "': \"" << name << "\" names no layer; expected one of "
                           << known.str());
}

Shape Model::shape_of(int node) const {
  return node == kModelInput ? input_shape_ : nodes_[static_cast<size_t>(node)].output_shape;
}

std::string Model::add(std::unique_ptr<Layer> layer, std::vector<std::string> inputs,
                       std::string name) {
  LOCKSTEP_CHECK(layer != nullptr, "Model '" << name_ << "': cannot add a null layer");
  const size_t index = nodes_.size();
  const std::string where =
      "Model '" + name_ + "': layer " + std::to_string(index) + " (" + layer->type() + ")";
  Node node;
  node.named = !name.empty();
  if (node.named) {
    LOCKSTEP_CHECK(name != kInput && !all_digits(name),
                   where << ": the name \"" << name << "\" is reserved (\"" << kInput
                         << "\" and numbers name the model's input and unnamed layers)");
    for (const Node& other : nodes_) {
      LOCKSTEP_CHECK(other.name != name,
                     where << ": the name \"" << name << "\" is taken by an earlier layer");
    }
  }
  node.name = node.named ? std::move(name) : std::to_string(index);
  if (inputs.empty()) {
    node.inputs = {index == 0 ? kModelInput : static_cast<int>(index) - 1};
  } else {
    for (const std::string& input : inputs) node.inputs.push_back(node_index(input));
  }
  node.multi = dynamic_cast<MultiInputLayer*>(layer.get());
  std::vector<Shape> shapes;
  for (int input : node.inputs) shapes.push_back(shape_of(input));
  if (node.multi != nullptr) {
    LOCKSTEP_CHECK(
        shapes.size() >= 2,
        where << " combines several inputs; it needs at least 2, found " << shapes.size());
  } else {
    LOCKSTEP_CHECK(shapes.size() == 1, where << " takes one input, found " << shapes.size());
  }
  try {
    node.output_shape = node.multi != nullptr ? node.multi->output_shape_of(shapes)
                                              : layer->output_shape(shapes[0]);
  } catch (const Error& error) {
    std::ostringstream text;
    for (size_t i = 0; i < shapes.size(); ++i) text << (i ? ", " : "") << to_string(shapes[i]);
    LOCKSTEP_THROW(where << " does not fit its input shape" << (shapes.size() > 1 ? "s " : " ")
                         << text.str() << ": " << error.message());
  }
  for (Parameter* parameter : layer->parameters()) {
    parameter->name = std::to_string(index) + "." + parameter->name;
    parameters_.push_back(parameter);
  }
  for (int input : node.inputs) {
    if (input != kModelInput) ++nodes_[static_cast<size_t>(input)].consumers;
  }
  node.layer = std::move(layer);
  nodes_.push_back(std::move(node));
  return nodes_.back().name;
}

std::vector<std::string> Model::layer_inputs(size_t index) const {
  std::vector<std::string> names;
  for (int input : nodes_.at(index).inputs) {
    names.push_back(input == kModelInput ? kInput : nodes_[static_cast<size_t>(input)].name);
  }
  return names;
}

Shape Model::output_shape_of(const std::string& layer) const { return shape_of(node_index(layer)); }

Shape Model::output_shape() const {
  return nodes_.empty() ? input_shape_ : nodes_.back().output_shape;
}

std::optional<size_t> Model::first_unused_layer() const {
  for (size_t i = 0; i + 1 < nodes_.size(); ++i) {
    if (nodes_[i].consumers == 0) return i;
  }
  return std::nullopt;
}

// A layer whose output nothing uses would never run backward, and its grads would keep the
// last step's values: a model has one output, the last layer's.
void Model::check_complete() const {
  if (const std::optional<size_t> unused = first_unused_layer()) {
    const size_t i = *unused;
    LOCKSTEP_THROW("Model '" << name_ << "': the output of layer " << i << " (\"" << nodes_[i].name
                             << "\", " << nodes_[i].layer->type()
                             << ") feeds no later layer; every layer but the last must");
  }
}

Tensor Model::forward(const Tensor& x, const ForwardContext& context) {
  LOCKSTEP_CHECK(x.dim() >= 1 && detail::per_sample(x.shape()) == input_shape_,
                 "Model '" << name_ << "': input has shape " << to_string(x.shape())
                           << ", expected " << detail::batched(input_shape_));
  check_complete();
  if (nodes_.empty()) return x;
  // The last layer that reads each output, so that it can be let go right after.
  std::vector<size_t> last_use(nodes_.size(), 0);
  for (size_t j = 0; j < nodes_.size(); ++j) {
    for (int input : nodes_[j].inputs) {
      if (input != kModelInput) last_use[static_cast<size_t>(input)] = j;
    }
  }
  outputs_.assign(nodes_.size(), Tensor());
  const auto value = [&](int input) {
    return input == kModelInput ? x : outputs_[static_cast<size_t>(input)];
  };
  for (size_t j = 0; j < nodes_.size(); ++j) {
    Node& node = nodes_[j];
    if (node.multi != nullptr) {
      std::vector<Tensor> inputs;
      for (int input : node.inputs) inputs.push_back(value(input));
      outputs_[j] = node.multi->forward_inputs(inputs, context);
    } else {
      outputs_[j] = node.layer->forward(value(node.inputs[0]), context);
    }
    for (int input : node.inputs) {
      if (input != kModelInput && last_use[static_cast<size_t>(input)] == j) {
        outputs_[static_cast<size_t>(input)] = Tensor();
      }
    }
  }
  Tensor output = std::move(outputs_.back());
  outputs_.clear();
  return output;
}

void Model::add_gradient(int node, const Tensor& gradient) {
  GradientSum& slot = node == kModelInput ? input_grad_ : grads_[static_cast<size_t>(node)];
  if (!slot.sum.defined()) {
    slot = {gradient, false};
    return;
  }
  LOCKSTEP_CHECK(slot.sum.shape() == gradient.shape(),
                 "Model '" << name_ << "': gradients of shapes " << to_string(slot.sum.shape())
                           << " and " << to_string(gradient.shape()) << " meet at one output");
  if (!slot.owned) slot = {slot.sum.clone(), true};
  backend::backend_for(slot.sum.device())
      .axpy(slot.sum.numel(), 1.0f, gradient.data(), slot.sum.data());
}

Tensor Model::backward(const Tensor& dy,
                       const std::function<void(size_t layer_index)>& on_layer_done) {
  if (nodes_.empty()) return dy;
  grads_.assign(nodes_.size(), GradientSum());
  input_grad_ = GradientSum();
  grads_.back() = {dy, false};
  for (size_t j = nodes_.size(); j-- > 0;) {
    Node& node = nodes_[j];
    const Tensor gradient = std::move(grads_[j].sum);
    LOCKSTEP_CHECK(gradient.defined(),
                   "Model '" << name_ << "': layer " << j << " got no gradient in backward");
    if (node.multi != nullptr) {
      const std::vector<Tensor> input_grads = node.multi->backward_inputs(gradient);
      LOCKSTEP_CHECK(input_grads.size() == node.inputs.size(),
                     "Model '" << name_ << "': layer " << j << " (" << node.layer->type()
                               << ") returned " << input_grads.size() << " input gradients for "
                               << node.inputs.size() << " inputs");
      for (size_t i = 0; i < node.inputs.size(); ++i) add_gradient(node.inputs[i], input_grads[i]);
    } else {
      add_gradient(node.inputs[0], node.layer->backward(gradient));
    }
    if (on_layer_done) on_layer_done(j);
  }
  grads_.clear();
  return std::move(input_grad_.sum);
}

std::vector<Parameter*> Model::parameters() { return parameters_; }

int64_t Model::parameter_count() {
  int64_t count = 0;
  for (const Parameter* parameter : parameters_) count += parameter->value.numel();
  return count;
}

void Model::to(const Device& device) {
  for (Parameter* parameter : parameters_) {
    parameter->value = parameter->value.to(device);
    parameter->grad = Tensor::zeros(parameter->value.shape(), device);
  }
}

nlohmann::json Model::spec() const {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t j = 0; j < nodes_.size(); ++j) {
    const Node& node = nodes_[j];
    nlohmann::json entry = node.layer->config();
    if (node.named) entry["name"] = node.name;
    const bool chained = node.inputs.size() == 1 &&
                         node.inputs[0] == (j == 0 ? kModelInput : static_cast<int>(j) - 1);
    if (!chained) entry["inputs"] = layer_inputs(j);
    layers.push_back(std::move(entry));
  }
  return {{"name", name_}, {"input_shape", input_shape_}, {"layers", layers}};
}

}  // namespace lockstep::nn
