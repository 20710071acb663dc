// Model specs: build_model turns a JSON spec into a Model, a chain or a graph of layers
// (every field checked, errors naming the layer and field).
#include <cmath>
#include <functional>
#include <map>

#include "lockstep/base/error.h"
#include "lockstep/nn/initializers.h"
#include "lockstep/nn/layers.h"
#include "lockstep/nn/model.h"
#include "nn/spec_reader.h"

namespace lockstep::nn {

namespace {

using detail::LayerSpecReader;
using LayerFactory =
    std::function<std::unique_ptr<Layer>(LayerSpecReader& reader, const Shape& input_shape)>;

std::string kernel_initializer(LayerSpecReader& reader) {
  const std::string name = reader.string("kernel_initializer", "glorot_uniform");
  if (!is_initializer(name)) {
    reader.fail("kernel_initializer",
                "names no initializer: \"" + name +
                    "\"; expected glorot_uniform, he_uniform, he_normal or zeros");
  }
  return name;
}

std::unique_ptr<Layer> make_dense(LayerSpecReader& reader, const Shape& input_shape) {
  const int64_t units = reader.positive_int("units");
  const bool use_bias = reader.boolean("use_bias", true);
  const std::string initializer = kernel_initializer(reader);
  LOCKSTEP_CHECK(input_shape.size() == 1, reader.where()
                                              << ": input shape is " << to_string(input_shape)
                                              << ", expected [features]; add a Flatten before it");
  return std::make_unique<Dense>(input_shape[0], units, use_bias, initializer);
}

// "valid" (no padding), "same" (output size = input size; stride 1 and odd kernels only, so
// the padding is symmetric), or explicit amounts: an integer or [pad_h, pad_w].
std::array<int64_t, 2> conv_padding(LayerSpecReader& reader, std::array<int64_t, 2> kernel,
                                    std::array<int64_t, 2> strides) {
  const nlohmann::json* value = reader.raw("padding");
  if (value == nullptr || (value->is_string() && *value == "valid")) return {0, 0};
  if (value->is_string() && *value == "same") {
    if (strides[0] != 1 || strides[1] != 1) {
      reader.fail("padding", "\"same\" needs strides 1, found [" + std::to_string(strides[0]) +
                                 ", " + std::to_string(strides[1]) + "]");
    }
    if (kernel[0] % 2 == 0 || kernel[1] % 2 == 0) {
      reader.fail("padding", "\"same\" needs an odd kernel_size, found [" +
                                 std::to_string(kernel[0]) + ", " + std::to_string(kernel[1]) +
                                 "]");
    }
    return {(kernel[0] - 1) / 2, (kernel[1] - 1) / 2};
  }
  if (value->is_string()) {
    reader.fail("padding", "must be \"valid\", \"same\", an integer or [pad_h, pad_w], found " +
                               value->dump());
  }
  return reader.int_pair("padding", 0, std::nullopt);
}

// A convolution's kernel_size (required), strides (1 when absent) and padding.
ConvWindow conv_window(LayerSpecReader& reader) {
  const auto kernel = reader.int_pair("kernel_size", 1, std::nullopt);
  const auto strides = reader.int_pair("strides", 1, std::array<int64_t, 2>{1, 1});
  const auto padding = conv_padding(reader, kernel, strides);
  return {kernel[0], kernel[1], strides[0], strides[1], padding[0], padding[1]};
}

// The channels of an input shape [channels, height, width]; other shapes are errors.
int64_t image_channels(LayerSpecReader& reader, const Shape& input_shape) {
  LOCKSTEP_CHECK(input_shape.size() == 3, reader.where()
                                              << ": input shape is " << to_string(input_shape)
                                              << ", expected [channels, height, width]");
  return input_shape[0];
}

std::unique_ptr<Layer> make_conv2d(LayerSpecReader& reader, const Shape& input_shape) {
  const int64_t filters = reader.positive_int("filters");
  const ConvWindow window = conv_window(reader);
  const bool use_bias = reader.boolean("use_bias", true);
  const std::string initializer = kernel_initializer(reader);
  return std::make_unique<Conv2D>(image_channels(reader, input_shape), filters, window, use_bias,
                                  initializer);
}

template <typename Pool>
std::unique_ptr<Layer> make_pool(LayerSpecReader& reader, const Shape& /*input_shape*/) {
  const auto pool = reader.int_pair("pool_size", 1, std::array<int64_t, 2>{2, 2});
  const auto strides = reader.int_pair("strides", 1, pool);
  return std::make_unique<Pool>(pool[0], pool[1], strides[0], strides[1]);
}

std::unique_ptr<Layer> make_dropout(LayerSpecReader& reader, const Shape& /*input_shape*/) {
  const double rate = reader.number("rate");
  if (!(rate >= 0.0 && rate < 1.0)) {
    reader.fail("rate", "must be in [0, 1), found " + std::to_string(rate));
  }
  return std::make_unique<Dropout>(rate, static_cast<uint32_t>(reader.index()));
}

std::unique_ptr<Layer> make_activation(LayerSpecReader& reader, const Shape& /*input_shape*/) {
  backend::Activation kind{};
  activation_from_name(reader.type(), kind);
  return std::make_unique<ActivationLayer>(kind);
}

// depth_multiplier: a positive integer, 1 when absent (Keras's default).
int64_t depth_multiplier(LayerSpecReader& reader) {
  return reader.has("depth_multiplier") ? reader.positive_int("depth_multiplier") : 1;
}

std::unique_ptr<Layer> make_depthwise_conv2d(LayerSpecReader& reader, const Shape& input_shape) {
  const ConvWindow window = conv_window(reader);
  const int64_t multiplier = depth_multiplier(reader);
  const bool use_bias = reader.boolean("use_bias", true);
  const std::string initializer = kernel_initializer(reader);
  return std::make_unique<DepthwiseConv2D>(image_channels(reader, input_shape), window, multiplier,
                                           use_bias, initializer);
}

std::unique_ptr<Layer> make_separable_conv2d(LayerSpecReader& reader, const Shape& input_shape) {
  const int64_t filters = reader.positive_int("filters");
  const ConvWindow window = conv_window(reader);
  const int64_t multiplier = depth_multiplier(reader);
  const bool use_bias = reader.boolean("use_bias", true);
  const std::string initializer = kernel_initializer(reader);
  return std::make_unique<SeparableConv2D>(image_channels(reader, input_shape), filters, window,
                                           multiplier, use_bias, initializer);
}

std::unique_ptr<Layer> make_global_average_pooling2d(LayerSpecReader& reader,
                                                     const Shape& input_shape) {
  image_channels(reader, input_shape);
  return std::make_unique<GlobalAveragePooling2D>();
}

// LayerNorm normalises over the whole per-sample shape it receives.
std::unique_ptr<Layer> make_layer_norm(LayerSpecReader& reader, const Shape& input_shape) {
  double eps = 1e-5;
  if (const nlohmann::json* value = reader.raw("eps")) {
    eps = value->is_number() ? value->get<double>() : 0.0;
    if (!value->is_number() || !LayerNorm::valid_eps(eps)) {
      reader.fail("eps", "must be a positive number that a float can hold, found " + value->dump());
    }
  }
  const bool affine = reader.boolean("elementwise_affine", true);
  return std::make_unique<LayerNorm>(input_shape, eps, affine);
}

// BatchNorm over the channels of [C, H, W] or the features of [F]; momentum, eps and mode as
// the layer's constructor takes them.
std::unique_ptr<Layer> make_batch_norm(LayerSpecReader& reader, const Shape& input_shape) {
  const double momentum = reader.has("momentum") ? reader.number("momentum") : 0.1;
  if (!(momentum >= 0.0 && momentum <= 1.0)) {
    reader.fail("momentum", "must be in [0, 1], found " + std::to_string(momentum));
  }
  const double eps = reader.has("eps") ? reader.number("eps") : 1e-5;
  if (!LayerNorm::valid_eps(eps)) {
    reader.fail("eps",
                "must be a positive number that a float can hold, found " + std::to_string(eps));
  }
  const std::string mode_text = reader.string("mode", "sync");
  BatchNormMode mode = BatchNormMode::kSync;
  try {
    mode = parse_batch_norm_mode(mode_text);
  } catch (const Error&) {
    reader.fail("mode", "must be \"sync\" or \"ghost\", found \"" + mode_text + "\"");
  }
  if (input_shape.size() != 1 && input_shape.size() != 3) {
    LOCKSTEP_THROW(reader.where() << ": input shape is " << to_string(input_shape)
                                  << ", expected [features] or [channels, height, width]");
  }
  return std::make_unique<BatchNorm>(input_shape[0], momentum, eps, mode);
}

const std::map<std::string, LayerFactory>& layer_factories() {
  static const std::map<std::string, LayerFactory> kFactories = {
      {"Dense", make_dense},
      {"Conv2D", make_conv2d},
      {"MaxPool2D", make_pool<MaxPool2D>},
      {"AvgPool2D", make_pool<AvgPool2D>},
      {"Dropout", make_dropout},
      {"Flatten", [](LayerSpecReader&, const Shape&) { return std::make_unique<Flatten>(); }},
      {"ReLU", make_activation},
      {"Tanh", make_activation},
      {"Sigmoid", make_activation},
      {"GELU", make_activation},
      {"Add", [](LayerSpecReader&, const Shape&) { return std::make_unique<Add>(); }},
      {"Concatenate",
       [](LayerSpecReader&, const Shape&) { return std::make_unique<Concatenate>(); }},
      {"DepthwiseConv2D", make_depthwise_conv2d},
      {"SeparableConv2D", make_separable_conv2d},
      {"GlobalAveragePooling2D", make_global_average_pooling2d},
      {"LayerNorm", make_layer_norm},
      {"BatchNorm", make_batch_norm},
  };
  return kFactories;
}

std::string known_types() {
  std::string names;
  for (const auto& [name, factory] : layer_factories()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

Shape read_input_shape(const nlohmann::json& spec) {
  const auto field = spec.find("input_shape");
  LOCKSTEP_CHECK(field != spec.end(),
                 "model spec: field \"input_shape\" is missing; expected "
                 "a list of positive integers such as [1, 28, 28]");
  bool valid = field->is_array() && !field->empty();
  for (const nlohmann::json& extent : valid ? *field : nlohmann::json::array()) {
    valid = valid && extent.is_number_integer() && extent.get<int64_t>() > 0;
  }
  LOCKSTEP_CHECK(valid,
                 "model spec: field \"input_shape\" must be a non-empty list of "
                 "positive integers, found "
                     << field->dump());
  return field->get<Shape>();
}

void check_top_level(const nlohmann::json& spec) {
  LOCKSTEP_CHECK(spec.is_object(), "model spec: expected a JSON object, found " << spec.dump());
  for (const auto& [field, value] : spec.items()) {
    LOCKSTEP_CHECK(
        field == "name" || field == "input_shape" || field == "layers",
        "model spec: unknown field \"" << field << "\"; expected name, input_shape, layers");
  }
  const auto name = spec.find("name");
  LOCKSTEP_CHECK(name == spec.end() || name->is_string(),
                 "model spec: field \"name\" must be a string, found " << name->dump());
  const auto layers = spec.find("layers");
  LOCKSTEP_CHECK(layers != spec.end() && layers->is_array() && !layers->empty(),
                 "model spec: field \"layers\" must be a non-empty list of layer objects, found "
                     << (layers == spec.end() ? std::string("nothing") : layers->dump()));
}

// A layer entry's "name": absent (the layer is called by its index) or a string.
std::string read_name(LayerSpecReader& reader) {
  const nlohmann::json* name = reader.raw("name");
  if (name == nullptr) return "";
  if (!name->is_string() || name->get<std::string>().empty()) {
    reader.fail("name", "must be a non-empty string, found " + name->dump());
  }
  return name->get<std::string>();
}

// A layer entry's "inputs": absent (the previous layer), a name, or a list of names of earlier
// layers or "input".
std::vector<std::string> read_inputs(LayerSpecReader& reader) {
  const nlohmann::json* inputs = reader.raw("inputs");
  if (inputs == nullptr) return {};
  if (inputs->is_string()) return {inputs->get<std::string>()};
  bool valid = inputs->is_array() && !inputs->empty();
  for (const nlohmann::json& input : valid ? *inputs : nlohmann::json::array()) {
    valid = valid && input.is_string();
  }
  if (!valid) {
    reader.fail("inputs", "must be a layer name or a non-empty list of layer names (or \"" +
                              std::string(Model::kInput) + "\"), found " + inputs->dump());
  }
  return inputs->get<std::vector<std::string>>();
}

// Builds the layer of entry `index`, checked against the shapes it will receive, initialises
// it from `seed` and adds it to `model` with its name and inputs.
void add_layer(Model& model, const nlohmann::json& entry, size_t index, uint64_t seed) {
  LayerSpecReader reader(entry, index);
  const auto factory = layer_factories().find(reader.type());
  LOCKSTEP_CHECK(factory != layer_factories().end(),
                 reader.where() << ": unknown layer type \"" << reader.type() << "\"; expected "
                                << known_types());
  std::string name = read_name(reader);
  std::vector<std::string> inputs = read_inputs(reader);
  Shape input_shape;  // of the first input, which single-input layers are built for
  try {
    input_shape = inputs.empty() ? model.output_shape() : model.output_shape_of(inputs[0]);
  } catch (const Error& error) {
    reader.fail("inputs", error.message());
  }
  std::unique_ptr<Layer> layer = factory->second(reader, input_shape);
  reader.finish();
  if (dynamic_cast<MultiInputLayer*>(layer.get()) == nullptr) {
    try {
      layer->output_shape(input_shape);
    } catch (const Error& error) {
      LOCKSTEP_THROW(reader.where() << ": does not fit its input shape " << to_string(input_shape)
                                    << ": " << error.message());
    }
  }
  layer->initialize(seed, static_cast<uint32_t>(index));
  try {
    model.add(std::move(layer), std::move(inputs), std::move(name));
  } catch (const Error& error) {
    LOCKSTEP_THROW(reader.where() << ": " << error.message());
  }
}

}  // namespace

std::unique_ptr<Model> build_model(const nlohmann::json& spec, uint64_t seed) {
  check_top_level(spec);
  const Shape input_shape = read_input_shape(spec);
  auto model = std::make_unique<Model>(input_shape, spec.value("name", std::string("model")));
  const nlohmann::json& layers = spec.at("layers");
  for (size_t index = 0; index < layers.size(); ++index) {
    add_layer(*model, layers[index], index, seed);
  }
  // Every layer but the last must feed another: a model has one output.
  if (const std::optional<size_t> unused = model->first_unused_layer()) {
    LOCKSTEP_THROW("model spec: layers[" << *unused << "] (" << model->layer(*unused).type()
                                         << "): its output feeds no later layer; every layer but "
                                            "the last must (the model's output)");
  }
  return model;
}

}  // namespace lockstep::nn
