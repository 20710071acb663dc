// Specs of DepthwiseConv2D, SeparableConv2D, GlobalAveragePooling2D and LayerNorm: round
// trips, defaults, PyTorch names under the layer index, weights keyed by (seed, layer index),
// and malformed fields as errors naming the layer and field.
#include <gtest/gtest.h>

#include <cmath>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/model.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using nlohmann::json;
using test::expect_error_naming;

// Every field of the four layers, with values other than the defaults where there is a choice.
const json kAllFields = {{"name", "separable"},
                         {"input_shape", {3, 12, 10}},
                         {"layers",
                          {{{"type", "DepthwiseConv2D"},
                            {"kernel_size", {3, 2}},
                            {"strides", {2, 1}},
                            {"padding", {1, 0}},
                            {"depth_multiplier", 2},
                            {"use_bias", false},
                            {"kernel_initializer", "he_uniform"}},
                           {{"type", "LayerNorm"}, {"eps", 0.001}, {"elementwise_affine", false}},
                           {{"type", "SeparableConv2D"},
                            {"filters", 5},
                            {"kernel_size", 3},
                            {"padding", "same"},
                            {"depth_multiplier", 3},
                            {"kernel_initializer", "he_normal"}},
                           {{"type", "SeparableConv2D"},
                            {"filters", 4},
                            {"kernel_size", {2, 3}},
                            {"strides", 2},
                            {"use_bias", false}},
                           {{"type", "DepthwiseConv2D"}, {"kernel_size", 1}},
                           {{"type", "GlobalAveragePooling2D"}},
                           {{"type", "LayerNorm"}}}}};

TEST(NewLayerSpecTest, EveryFieldRoundTripsThroughSpec) {
  auto model = build_model(kAllFields, 1);
  const json spec = model->spec();
  auto rebuilt = build_model(spec, 2);
  EXPECT_EQ(rebuilt->spec(), spec) << spec.dump();
  EXPECT_EQ(model->output_shape(), (Shape{4}));
  ASSERT_EQ(rebuilt->parameters().size(), model->parameters().size());
  for (size_t i = 0; i < model->parameters().size(); ++i) {
    EXPECT_EQ(rebuilt->parameters()[i]->name, model->parameters()[i]->name);
    EXPECT_EQ(rebuilt->parameters()[i]->value.shape(), model->parameters()[i]->value.shape());
  }
  // The entries as written, with explicit padding and pairs for every size.
  EXPECT_EQ(spec["layers"][0], (json{{"type", "DepthwiseConv2D"},
                                     {"kernel_size", {3, 2}},
                                     {"strides", {2, 1}},
                                     {"padding", {1, 0}},
                                     {"depth_multiplier", 2},
                                     {"use_bias", false},
                                     {"kernel_initializer", "he_uniform"}}));
  EXPECT_EQ(spec["layers"][1],
            (json{{"type", "LayerNorm"}, {"eps", 0.001}, {"elementwise_affine", false}}));
  EXPECT_EQ(spec["layers"][2], (json{{"type", "SeparableConv2D"},
                                     {"filters", 5},
                                     {"kernel_size", {3, 3}},
                                     {"strides", {1, 1}},
                                     {"padding", {1, 1}},
                                     {"depth_multiplier", 3},
                                     {"use_bias", true},
                                     {"kernel_initializer", "he_normal"}}));
  EXPECT_EQ(spec["layers"][5], (json{{"type", "GlobalAveragePooling2D"}}));
}

TEST(NewLayerSpecTest, DefaultsAreKerasAndPyTorchs) {
  auto model = build_model({{"input_shape", {2, 5, 5}},
                            {"layers",
                             {{{"type", "DepthwiseConv2D"}, {"kernel_size", 3}},
                              {{"type", "SeparableConv2D"}, {"filters", 4}, {"kernel_size", 1}},
                              {{"type", "LayerNorm"}}}}},
                           0);
  const json spec = model->spec();
  EXPECT_EQ(spec["layers"][0], (json{{"type", "DepthwiseConv2D"},
                                     {"kernel_size", {3, 3}},
                                     {"strides", {1, 1}},
                                     {"padding", "valid"},
                                     {"depth_multiplier", 1},
                                     {"use_bias", true},
                                     {"kernel_initializer", "glorot_uniform"}}));
  EXPECT_EQ(spec["layers"][1]["depth_multiplier"], 1);
  EXPECT_EQ(spec["layers"][1]["use_bias"], true);
  EXPECT_EQ(spec["layers"][2],
            (json{{"type", "LayerNorm"}, {"eps", 1e-5}, {"elementwise_affine", true}}));
  EXPECT_EQ(model->output_shape(), (Shape{4, 3, 3}));
}

TEST(NewLayerSpecTest, ParametersHavePyTorchNamesAndLayoutsUnderTheLayerIndex) {
  auto model = build_model(kAllFields, 3);
  std::vector<std::pair<std::string, Shape>> named;
  for (Parameter* p : model->parameters()) named.emplace_back(p->name, p->value.shape());
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"0.weight", {6, 1, 3, 2}},             // DepthwiseConv2D, 3 channels x 2, no bias
      {"2.depthwise.weight", {18, 1, 3, 3}},  // SeparableConv2D: 6 channels x 3
      {"2.pointwise.weight", {5, 18, 1, 1}},
      {"2.pointwise.bias", {5}},
      {"3.depthwise.weight", {5, 1, 2, 3}},  // no bias
      {"3.pointwise.weight", {4, 5, 1, 1}},
      {"4.weight", {4, 1, 1, 1}},
      {"4.bias", {4}},
      {"6.weight", {4}},  // LayerNorm over the pooled [4]
      {"6.bias", {4}}};
  EXPECT_EQ(named, expected);
}

// Weights are keyed by (seed, layer index); a separable layer's two weights are drawn from
// different numbers (were they not, depthwise / limit would equal pointwise / limit).
TEST(NewLayerSpecTest, WeightsAreKeyedBySeedAndLayerAndTheTwoSeparableWeightsDiffer) {
  const json spec = {{"input_shape", {4, 6, 6}},
                     {"layers",
                      {{{"type", "SeparableConv2D"}, {"filters", 4}, {"kernel_size", 1}},
                       {{"type", "DepthwiseConv2D"}, {"kernel_size", 2}},
                       {{"type", "DepthwiseConv2D"}, {"kernel_size", 2}},
                       {{"type", "LayerNorm"}}}}};
  auto a = build_model(spec, 42), b = build_model(spec, 42), c = build_model(spec, 43);
  const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i]->value.to_vector(), pb[i]->value.to_vector()) << pa[i]->name;
    if (pa[i]->name.ends_with("weight") && !pa[i]->name.starts_with("3.")) {
      EXPECT_NE(pa[i]->value.to_vector(), pc[i]->value.to_vector()) << pa[i]->name;
    }
  }
  // Glorot limits: depthwise [4, 1, 1, 1] has fans 1 and 4, pointwise [4, 4, 1, 1] 4 and 4.
  const std::vector<float> depthwise = pa[0]->value.to_vector();
  const std::vector<float> pointwise = pa[1]->value.to_vector();
  const double depthwise_limit = std::sqrt(6.0 / 5.0), pointwise_limit = std::sqrt(6.0 / 8.0);
  int same = 0;
  for (size_t i = 0; i < depthwise.size(); ++i) {
    same += std::abs(depthwise[i] / depthwise_limit - pointwise[i] / pointwise_limit) < 1e-4;
  }
  EXPECT_EQ(same, 0);
  // Layers 1 and 2 are the same layer at different indices.
  EXPECT_EQ(pa[3]->name, "1.weight");
  EXPECT_EQ(pa[5]->name, "2.weight");
  EXPECT_NE(pa[3]->value.to_vector(), pa[5]->value.to_vector());
  EXPECT_EQ(pa[7]->name, "3.weight");
  EXPECT_EQ(pa[7]->value.to_vector(), std::vector<float>(4 * 4 * 4, 1.0f));  // LayerNorm: ones
  EXPECT_EQ(pa[8]->value.to_vector(), std::vector<float>(4 * 4 * 4, 0.0f));
}

// Expects building a model whose layers are `layers` over [2, 6, 6] to fail naming `parts`.
void expect_spec_error(const json& layers, std::initializer_list<std::string> parts) {
  const json spec = {{"name", "m"}, {"input_shape", {2, 6, 6}}, {"layers", layers}};
  expect_error_naming([&] { build_model(spec, 0); }, parts);
}

// The entry under test is layer 1, after a ReLU, so messages must carry the right index.
json after_relu(const json& entry) { return json::array({{{"type", "ReLU"}}, entry}); }

TEST(NewLayerSpecTest, MalformedDepthwiseFieldsNameTheLayerAndField) {
  const json dw = {{"type", "DepthwiseConv2D"}, {"kernel_size", 3}};
  const auto with = [&](const char* field, const json& value) {
    json entry = dw;
    entry[field] = value;
    return after_relu(entry);
  };
  expect_spec_error(after_relu({{"type", "DepthwiseConv2D"}}),
                    {"layers[1]", "DepthwiseConv2D", "kernel_size", "missing"});
  expect_spec_error(with("depth_multiplier", 0),
                    {"layers[1]", "DepthwiseConv2D", "depth_multiplier", "0"});
  expect_spec_error(with("depth_multiplier", 1.5), {"layers[1]", "depth_multiplier", "1.5"});
  expect_spec_error(with("strides", {1, 0}), {"layers[1]", "strides", "[1,0]"});
  expect_spec_error(with("padding", "full"), {"layers[1]", "padding", "full"});
  expect_spec_error(with("padding", -1), {"layers[1]", "padding", "-1"});
  json strided_same = dw;
  strided_same["strides"] = 2;
  strided_same["padding"] = "same";
  expect_spec_error(after_relu(strided_same), {"layers[1]", "padding", "same", "strides"});
  expect_spec_error(with("use_bias", "yes"), {"layers[1]", "use_bias", "yes"});
  expect_spec_error(with("kernel_initializer", "ones"),
                    {"layers[1]", "kernel_initializer", "ones"});
  // Keras's DepthwiseConv2D has no filters: its output channels are in_ch * depth_multiplier.
  expect_spec_error(with("filters", 4),
                    {"layers[1]", "DepthwiseConv2D", "unknown field", "filters"});
  expect_spec_error(with("kernel_size", 7), {"layers[1]", "DepthwiseConv2D", "7x7", "[2, 6, 6]"});
  expect_spec_error(json::array({{{"type", "Flatten"}}, dw}),
                    {"layers[1]", "DepthwiseConv2D", "[72]", "[channels, height, width]"});
}

TEST(NewLayerSpecTest, MalformedSeparableFieldsNameTheLayerAndField) {
  const json sep = {{"type", "SeparableConv2D"}, {"filters", 3}, {"kernel_size", 3}};
  const auto with = [&](const char* field, const json& value) {
    json entry = sep;
    entry[field] = value;
    return after_relu(entry);
  };
  expect_spec_error(after_relu({{"type", "SeparableConv2D"}, {"kernel_size", 3}}),
                    {"layers[1]", "SeparableConv2D", "filters", "missing"});
  expect_spec_error(with("filters", 0), {"layers[1]", "SeparableConv2D", "filters", "0"});
  expect_spec_error(with("depth_multiplier", -2), {"layers[1]", "depth_multiplier", "-2"});
  expect_spec_error(with("kernel_size", {3, 0}), {"layers[1]", "kernel_size", "[3,0]"});
  expect_spec_error(with("use_bias", 0), {"layers[1]", "use_bias"});
  expect_spec_error(with("kernel_initializer", 3), {"layers[1]", "kernel_initializer", "3"});
  expect_spec_error(with("pointwise_initializer", "zeros"),
                    {"layers[1]", "unknown field", "pointwise_initializer"});
  expect_spec_error(with("kernel_size", 9), {"layers[1]", "SeparableConv2D", "9x9", "[2, 6, 6]"});
}

TEST(NewLayerSpecTest, MalformedPoolingAndLayerNormFieldsNameTheLayerAndField) {
  expect_spec_error(after_relu({{"type", "GlobalAveragePooling2D"}, {"keepdims", true}}),
                    {"layers[1]", "GlobalAveragePooling2D", "unknown field", "keepdims"});
  expect_spec_error(json::array({{{"type", "Flatten"}}, {{"type", "GlobalAveragePooling2D"}}}),
                    {"layers[1]", "GlobalAveragePooling2D", "[72]", "[channels, height, width]"});
  expect_spec_error(after_relu({{"type", "LayerNorm"}, {"eps", 0}}),
                    {"layers[1]", "LayerNorm", "eps", "0"});
  expect_spec_error(after_relu({{"type", "LayerNorm"}, {"eps", -1e-5}}),
                    {"layers[1]", "eps", "-1e-05"});
  expect_spec_error(after_relu({{"type", "LayerNorm"}, {"eps", 1e-300}}), {"layers[1]", "eps"});
  expect_spec_error(after_relu({{"type", "LayerNorm"}, {"eps", "small"}}),
                    {"layers[1]", "eps", "small"});
  expect_spec_error(after_relu({{"type", "LayerNorm"}, {"elementwise_affine", 1}}),
                    {"layers[1]", "LayerNorm", "elementwise_affine"});
  expect_spec_error(after_relu({{"type", "LayerNorm"}, {"normalized_shape", {6, 6}}}),
                    {"layers[1]", "LayerNorm", "unknown field", "normalized_shape"});
}

}  // namespace
}  // namespace lockstep::nn
