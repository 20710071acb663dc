// Model specs: built-in architectures, round trips through spec(), seeded weights, and errors
// for malformed specs that name the layer and field.
#include <gtest/gtest.h>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/model.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using nlohmann::json;
using test::expect_error_naming;

std::vector<std::string> layer_types(Model& model) {
  std::vector<std::string> types;
  for (size_t i = 0; i < model.size(); ++i) types.push_back(model.layer(i).type());
  return types;
}

// The spec of a model rebuilds the same architecture: same spec, same parameter names and
// shapes, same output shape.
void expect_round_trip(const json& original) {
  auto model = build_model(original, 1);
  const json spec = model->spec();
  auto rebuilt = build_model(spec, 2);
  EXPECT_EQ(rebuilt->spec(), spec) << spec.dump();
  EXPECT_EQ(rebuilt->output_shape(), model->output_shape());
  ASSERT_EQ(rebuilt->parameters().size(), model->parameters().size());
  for (size_t i = 0; i < model->parameters().size(); ++i) {
    EXPECT_EQ(rebuilt->parameters()[i]->name, model->parameters()[i]->name);
    EXPECT_EQ(rebuilt->parameters()[i]->value.shape(), model->parameters()[i]->value.shape());
  }
}

TEST(ModelSpecTest, MlpSpecRoundTrips) { expect_round_trip(builtin_spec("mlp")); }

TEST(ModelSpecTest, CnnSpecRoundTrips) { expect_round_trip(builtin_spec("cnn")); }

TEST(ModelSpecTest, EveryLayerKindAndFieldRoundTrips) {
  expect_round_trip(
      {{"name", "all"},
       {"input_shape", {3, 12, 10}},
       {"layers",
        {{{"type", "Conv2D"},
          {"filters", 4},
          {"kernel_size", {3, 2}},
          {"strides", {2, 1}},
          {"padding", {1, 0}},
          {"use_bias", false},
          {"kernel_initializer", "he_uniform"}},
         {{"type", "Sigmoid"}},
         {{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", 3}, {"padding", "same"}},
         {{"type", "AvgPool2D"}, {"pool_size", {2, 3}}, {"strides", 1}},
         {{"type", "MaxPool2D"}, {"pool_size", 2}},
         {{"type", "Flatten"}},
         {{"type", "Dropout"}, {"rate", 0.3}},
         {{"type", "Dense"}, {"units", 6}, {"kernel_initializer", "he_normal"}},
         {{"type", "Tanh"}},
         {{"type", "GELU"}},
         {{"type", "Dense"}, {"units", 3}, {"use_bias", false}},
         {{"type", "ReLU"}}}}});
}

TEST(ModelSpecTest, MlpHasTheDocumentedArchitecture) {
  auto model = build_model(builtin_spec("mlp"), 0);
  EXPECT_EQ(layer_types(*model),
            (std::vector<std::string>{"Flatten", "Dense", "ReLU", "Dense", "ReLU", "Dense"}));
  EXPECT_EQ(model->parameter_count(), 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  EXPECT_EQ(model->output_shape(), (Shape{10}));
  EXPECT_EQ(model->parameters()[0]->name, "1.weight");
  EXPECT_EQ(model->parameters()[0]->value.shape(), (Shape{256, 784}));
  EXPECT_EQ(model->parameters()[5]->name, "5.bias");
}

TEST(ModelSpecTest, CnnHasTheDocumentedShapes) {
  auto model = build_model(builtin_spec("cnn"), 0);
  EXPECT_EQ(model->output_shape(), (Shape{10}));
  EXPECT_EQ(layer_types(*model),
            (std::vector<std::string>{"Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D",
                                      "Flatten", "Dense", "ReLU", "Dense"}));
  // 28 -> conv 24 -> pool 12 -> conv 8 -> pool 4: the first Dense sees 64*4*4 = 1024.
  EXPECT_EQ(model->layer(0).output_shape({1, 28, 28}), (Shape{32, 24, 24}));
  EXPECT_EQ(model->layer(3).output_shape({32, 12, 12}), (Shape{64, 8, 8}));
  const std::vector<Parameter*> params = model->parameters();
  EXPECT_EQ(params[0]->value.shape(), (Shape{32, 1, 5, 5}));
  EXPECT_EQ(params[2]->value.shape(), (Shape{64, 32, 5, 5}));
  EXPECT_EQ(params[4]->name, "7.weight");
  EXPECT_EQ(params[4]->value.shape(), (Shape{128, 1024}));
  const Tensor y = model->forward(testing::random_tensor({2, 1, 28, 28}, 3), {});
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
}

TEST(ModelSpecTest, SameSeedGivesIdenticalWeightsAndOtherSeedsDiffer) {
  auto a = build_model(builtin_spec("cnn"), 42);
  auto b = build_model(builtin_spec("cnn"), 42);
  auto c = build_model(builtin_spec("cnn"), 43);
  const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i]->value.to_vector(), pb[i]->value.to_vector()) << pa[i]->name;
    if (pa[i]->name.ends_with("weight")) {
      EXPECT_NE(pa[i]->value.to_vector(), pc[i]->value.to_vector()) << pa[i]->name;
    }
  }
}

TEST(ModelSpecTest, LayersOfOneModelDrawDifferentWeights) {
  // Two identical Dense layers at different indices use different Philox streams.
  auto model = build_model(
      {{"input_shape", {8}},
       {"layers", {{{"type", "Dense"}, {"units", 8}}, {{"type", "Dense"}, {"units", 8}}}}},
      5);
  EXPECT_NE(model->parameters()[0]->value.to_vector(), model->parameters()[2]->value.to_vector());
  EXPECT_EQ(model->name(), "model");
}

TEST(ModelSpecTest, BiasesStartAtZeroAndZerosInitializerGivesZeros) {
  auto model = build_model(
      {{"input_shape", {4}},
       {"layers", {{{"type", "Dense"}, {"units", 3}, {"kernel_initializer", "zeros"}}}}},
      9);
  for (Parameter* p : model->parameters()) {
    EXPECT_TRUE(testing::all_close(p->value, Tensor::zeros(p->value.shape()))) << p->name;
  }
}

TEST(ModelSpecTest, SamePaddingKeepsTheImageSize) {
  auto model = build_model(
      {{"input_shape", {2, 9, 7}},
       {"layers",
        {{{"type", "Conv2D"}, {"filters", 3}, {"kernel_size", {5, 3}}, {"padding", "same"}}}}},
      0);
  EXPECT_EQ(model->output_shape(), (Shape{3, 9, 7}));
}

// Expects building a model whose layers are `layers` over [1, 6, 6] to fail naming `parts`.
void expect_spec_error(const json& layers, std::initializer_list<std::string> parts) {
  const json spec = {{"name", "m"}, {"input_shape", {1, 6, 6}}, {"layers", layers}};
  expect_error_naming([&] { build_model(spec, 0); }, parts);
}

// The entry under test is layer 1, after a ReLU, so messages must carry the right index.
json after_relu(const json& entry) { return json::array({{{"type", "ReLU"}}, entry}); }

TEST(ModelSpecTest, MalformedLayersNameTheLayerAndField) {
  expect_spec_error(after_relu({{"type", "Flatten"}, {"units", 3}}),
                    {"layers[1]", "Flatten", "unknown field", "units"});
  expect_spec_error(after_relu({{"type", "Conv2D"}, {"kernel_size", 3}}),
                    {"layers[1]", "Conv2D", "filters", "missing"});
  expect_spec_error(after_relu({{"type", "Conv2D"}, {"filters", -2}, {"kernel_size", 3}}),
                    {"layers[1]", "Conv2D", "filters", "-2"});
  expect_spec_error(after_relu({{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", 7}}),
                    {"layers[1]", "Conv2D", "7x7", "[1, 6, 6]"});
  expect_spec_error(after_relu({{"type", "Convolution"}}),
                    {"layers[1]", "unknown layer type", "Convolution", "Conv2D"});
  expect_spec_error(after_relu({{"type", "Dense"}, {"units", 4}}),
                    {"layers[1]", "Dense", "[1, 6, 6]", "Flatten"});
  expect_spec_error(after_relu({{"type", "Conv2D"},
                                {"filters", 2},
                                {"kernel_size", 3},
                                {"strides", 2},
                                {"padding", "same"}}),
                    {"layers[1]", "padding", "same", "strides"});
  expect_spec_error(after_relu({{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", {3, 0}}}),
                    {"layers[1]", "kernel_size", "[3,0]"});
  expect_spec_error(after_relu({{"type", "Dropout"}, {"rate", 1.0}}),
                    {"layers[1]", "Dropout", "rate"});
  expect_spec_error(after_relu({{"type", "MaxPool2D"}, {"pool_size", 7}}),
                    {"layers[1]", "MaxPool2D", "7x7", "[1, 6, 6]"});
  expect_spec_error(after_relu({{"units", 3}}), {"layers[1]", "type"});
}

TEST(ModelSpecTest, MalformedDenseFieldsNameTheField) {
  const auto dense_after_flatten = [](const json& dense) {
    return json::array({{{"type", "Flatten"}}, dense});
  };
  expect_spec_error(dense_after_flatten({{"type", "Dense"}}),
                    {"layers[1]", "Dense", "units", "missing"});
  expect_spec_error(dense_after_flatten({{"type", "Dense"}, {"units", 2.5}}),
                    {"layers[1]", "units", "2.5"});
  expect_spec_error(dense_after_flatten({{"type", "Dense"}, {"units", "8"}}),
                    {"layers[1]", "units"});
  expect_spec_error(dense_after_flatten({{"type", "Dense"}, {"units", 2}, {"use_bias", 1}}),
                    {"layers[1]", "use_bias"});
  expect_spec_error(
      dense_after_flatten({{"type", "Dense"}, {"units", 2}, {"kernel_initializer", "ones"}}),
      {"layers[1]", "kernel_initializer", "ones"});
}

TEST(ModelSpecTest, MalformedTopLevelFieldsAreErrors) {
  const auto expect_model_error = [](const json& spec, std::initializer_list<std::string> parts) {
    expect_error_naming([&] { build_model(spec, 0); }, parts);
  };
  const json relu = json::array({{{"type", "ReLU"}}});
  expect_model_error(json::array(), {"model spec", "object"});
  expect_model_error({{"layers", relu}}, {"input_shape", "missing"});
  expect_model_error({{"input_shape", {1, 0}}, {"layers", relu}}, {"input_shape", "[1,0]"});
  expect_model_error({{"input_shape", {4}}, {"layers", json::array()}}, {"layers", "non-empty"});
  expect_model_error({{"input_shape", {4}}, {"layers", relu}, {"optimizer", "sgd"}},
                     {"unknown field", "optimizer"});
  expect_model_error({{"name", 3}, {"input_shape", {4}}, {"layers", relu}}, {"name", "string"});
  expect_error_naming([] { builtin_spec("resnet"); }, {"resnet", "mlp", "cnn"});
}

}  // namespace
}  // namespace lockstep::nn
