// Model: layers as a directed acyclic graph in the order they were added, shapes checked as
// layers are added, parameters and buffers named "<index>.<local name>" as in a PyTorch
// nn.Sequential. Forward and backward run layer by layer over all the passes of a step;
// forward releases each output once its last consumer has run; backward adds the gradients of
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
  node.step = dynamic_cast<StepLayer*>(layer.get());
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
  for (Buffer* buffer : layer->buffers()) {
    buffer->name = std::to_string(index) + "." + buffer->name;
    buffers_.push_back(buffer);
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
  return forward_passes({x}, context).at(0);
}

std::vector<Tensor> Model::forward_passes(const std::vector<Tensor>& passes,
                                          const ForwardContext& context) {
  std::vector<ForwardContext> contexts;
  int64_t first_sample = context.first_sample;
  for (const Tensor& x : passes) {
    LOCKSTEP_CHECK(x.dim() >= 1 && detail::per_sample(x.shape()) == input_shape_,
                   "Model '" << name_ << "': input has shape " << to_string(x.shape())
                             << ", expected " << detail::batched(input_shape_));
    ForwardContext pass_context = context;
    pass_context.pass = static_cast<int>(contexts.size());
    pass_context.first_sample = first_sample;
    contexts.push_back(pass_context);
    first_sample += x.size(0);
  }
  check_complete();
  if (nodes_.empty()) return passes;
  // The last layer that reads each output, so that it can be let go right after.
  std::vector<size_t> last_use(nodes_.size(), 0);
  for (size_t j = 0; j < nodes_.size(); ++j) {
    for (int input : nodes_[j].inputs) {
      if (input != kModelInput) last_use[static_cast<size_t>(input)] = j;
    }
  }
  outputs_.assign(nodes_.size(), {});
  for (size_t j = 0; j < nodes_.size(); ++j) {
    forward_node(j, passes, context, contexts);
    for (int input : nodes_[j].inputs) {
      if (input != kModelInput && last_use[static_cast<size_t>(input)] == j) {
        outputs_[static_cast<size_t>(input)].clear();
      }
    }
  }
  std::vector<Tensor> outputs = std::move(outputs_.back());
  outputs_.clear();
  return outputs;
}

void Model::forward_node(size_t j, const std::vector<Tensor>& passes,
                         const ForwardContext& step_context,
                         const std::vector<ForwardContext>& contexts) {
  Node& node = nodes_[j];
  const auto input = [&](int from, size_t pass) -> const Tensor& {
    return from == kModelInput ? passes[pass] : outputs_[static_cast<size_t>(from)][pass];
  };
  std::vector<Tensor>& outputs = outputs_[j];
  if (node.step != nullptr) {
    std::vector<Tensor> xs;
    for (size_t p = 0; p < passes.size(); ++p) xs.push_back(input(node.inputs[0], p));
    outputs = node.step->forward_passes(xs, contexts.empty() ? step_context : contexts[0]);
    LOCKSTEP_CHECK(outputs.size() == passes.size(), "Model '" << name_ << "': layer " << j << " ("
                                                              << node.layer->type() << ") returned "
                                                              << outputs.size() << " outputs for "
                                                              << passes.size() << " passes");
    return;
  }
  for (size_t p = 0; p < passes.size(); ++p) {
    if (node.multi != nullptr) {
      std::vector<Tensor> inputs;
      for (int from : node.inputs) inputs.push_back(input(from, p));
      outputs.push_back(node.multi->forward_inputs(inputs, contexts[p]));
    } else {
      outputs.push_back(node.layer->forward(input(node.inputs[0], p), contexts[p]));
    }
  }
}

void Model::add_gradient(int node, size_t pass, const Tensor& gradient) {
  GradientSum& slot =
      node == kModelInput ? input_grads_[pass] : grads_[static_cast<size_t>(node)][pass];
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
  return backward_passes({dy}, {.pass_grads_done = {}, .layer_done = on_layer_done}).at(0);
}

std::vector<Tensor> Model::backward_passes(const std::vector<Tensor>& dys,
                                           const BackwardHooks& hooks) {
  if (nodes_.empty()) return dys;
  grads_.assign(nodes_.size(), std::vector<GradientSum>(dys.size()));
  input_grads_.assign(dys.size(), GradientSum());
  for (size_t p = 0; p < dys.size(); ++p) grads_.back()[p] = {dys[p], false};
  for (size_t j = nodes_.size(); j-- > 0;) {
    backward_node(j, hooks);
    grads_[j].clear();
    if (hooks.layer_done) hooks.layer_done(j);
  }
  grads_.clear();
  std::vector<Tensor> input_grads;
  for (GradientSum& slot : input_grads_) input_grads.push_back(std::move(slot.sum));
  input_grads_.clear();
  return input_grads;
}

void Model::backward_node(size_t j, const BackwardHooks& hooks) {
  Node& node = nodes_[j];
  const size_t passes = grads_[j].size();
  std::vector<Tensor> gradients;
  for (size_t p = 0; p < passes; ++p) {
    gradients.push_back(std::move(grads_[j][p].sum));
    LOCKSTEP_CHECK(gradients.back().defined(),
                   "Model '" << name_ << "': layer " << j << " got no gradient in backward");
  }
  const auto pass_done = [&] {
    if (hooks.pass_grads_done) hooks.pass_grads_done(j);
  };
  if (node.step != nullptr) {
    const std::vector<Tensor> input_grads =
        node.step->backward_passes(gradients, [&](int /*pass*/) { pass_done(); });
    LOCKSTEP_CHECK(input_grads.size() == passes,
                   "Model '" << name_ << "': layer " << j << " (" << node.layer->type()
                             << ") returned " << input_grads.size() << " input gradients for "
                             << passes << " passes");
    for (size_t p = 0; p < passes; ++p) add_gradient(node.inputs[0], p, input_grads[p]);
    return;
  }
  // Last in, first out: each layer keeps its passes as a stack.
  for (size_t p = passes; p-- > 0;) {
    if (node.multi != nullptr) {
      const std::vector<Tensor> input_grads = node.multi->backward_inputs(gradients[p]);
      LOCKSTEP_CHECK(input_grads.size() == node.inputs.size(),
                     "Model '" << name_ << "': layer " << j << " (" << node.layer->type()
                               << ") returned " << input_grads.size() << " input gradients for "
                               << node.inputs.size() << " inputs");
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        add_gradient(node.inputs[i], p, input_grads[i]);
      }
    } else {
      add_gradient(node.inputs[0], p, node.layer->backward(gradients[p]));
    }
    pass_done();
  }
}

std::vector<Parameter*> Model::parameters() { return parameters_; }

std::vector<Buffer*> Model::buffers() { return buffers_; }

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
  for (Buffer* buffer : buffers_) buffer->value = buffer->value.to(device);
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
