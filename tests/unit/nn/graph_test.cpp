// Models as graphs of layers: Add and Concatenate forward and backward, gradients through
// branches that meet again (finite differences), specs with names and inputs (and a chain
// spec written as before), the order backward reports layers in, and every malformed graph
// refused with a message naming the layer.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/model.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using test::expect_error_naming;
using testing::random_tensor;

const ForwardContext kEval{};

// A residual block as in ResNet: y = ReLU(x + Dense(Tanh(Dense(x)))), then a head that joins
// the block's output with the input again: Dense(Concatenate(y, x)).
nlohmann::json residual_spec() {
  return {{"name", "residual"},
          {"input_shape", {6}},
          {"layers",
           {{{"type", "Dense"}, {"units", 6}, {"name", "fc1"}},
            {{"type", "Tanh"}},
            {{"type", "Dense"}, {"units", 6}, {"name", "fc2"}},
            {{"type", "Add"}, {"name", "sum"}, {"inputs", {"input", "fc2"}}},
            {{"type", "Tanh"}, {"name", "block"}},
            {{"type", "Concatenate"}, {"inputs", {"block", "input"}}},
            {{"type", "Dense"}, {"units", 3}}}}};
}

// f = sum(model(x) * r): checks the input gradient and every parameter's against central
// differences.
void expect_model_gradients_match(Model& model, Tensor x, uint64_t seed) {
  const Tensor y = model.forward(x, kEval);
  const Tensor r = random_tensor(y.shape(), seed);
  const Tensor dx = model.backward(r).clone();
  std::vector<Tensor> grads;
  for (Parameter* p : model.parameters()) grads.push_back(p->grad.clone());
  const auto f = [&] { return test::weighted_sum(model.forward(x, kEval), r); };
  EXPECT_TRUE(
      testing::all_close(dx, testing::numerical_gradient(x, f), test::kGradRtol, test::kGradAtol))
      << "input gradient";
  const std::vector<Parameter*> params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(testing::all_close(grads[i], testing::numerical_gradient(params[i]->value, f),
                                   test::kGradRtol, test::kGradAtol))
        << "gradient of " << params[i]->name;
  }
}

TEST(AddTest, SumsItsInputsAndHandsTheGradientToEach) {
  Add add;
  const Tensor a = Tensor::from_vector({2, 2}, std::vector<float>{1, 2, 3, 4});
  const Tensor b = Tensor::from_vector({2, 2}, std::vector<float>{10, 20, 30, 40});
  const Tensor c = Tensor::from_vector({2, 2}, std::vector<float>{100, 200, 300, 400});
  EXPECT_EQ(add.forward_inputs({a, b, c}, kEval).to_vector(),
            (std::vector<float>{111, 222, 333, 444}));
  const Tensor dy = Tensor::from_vector({2, 2}, std::vector<float>{1, -1, 2, -2});
  const std::vector<Tensor> grads = add.backward_inputs(dy);
  ASSERT_EQ(grads.size(), 3u);
  for (const Tensor& g : grads) EXPECT_EQ(g.to_vector(), dy.to_vector());
  EXPECT_EQ(a.to_vector(), (std::vector<float>{1, 2, 3, 4})) << "an input was written to";
}

TEST(ConcatenateTest, JoinsChannelsOfEachSampleAndSplitsTheGradientBack) {
  Concatenate concatenate;
  // Two samples: a has 1 channel of 2x1, b has 2 channels of 2x1.
  const Tensor a = Tensor::from_vector({2, 1, 2, 1}, std::vector<float>{1, 2, 3, 4});
  const Tensor b =
      Tensor::from_vector({2, 2, 2, 1}, std::vector<float>{10, 20, 30, 40, 50, 60, 70, 80});
  const Tensor y = concatenate.forward_inputs({a, b}, kEval);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2, 1}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 10, 20, 30, 40, 3, 4, 50, 60, 70, 80}));
  const std::vector<Tensor> grads = concatenate.backward_inputs(y);
  ASSERT_EQ(grads.size(), 2u);
  EXPECT_EQ(grads[0].to_vector(), a.to_vector());
  EXPECT_EQ(grads[1].to_vector(), b.to_vector());
}

TEST(MergeLayerTest, ShapesMustFit) {
  expect_error_naming([] { Add().output_shape_of({{2, 3}, {3, 2}}); }, {"Add", "[2, 3]", "[3, 2]"});
  expect_error_naming(
      [] {
        Concatenate().output_shape_of({{2, 3, 3}, {2, 4, 3}});
      },
      {"Concatenate", "[2, 3, 3]", "[2, 4, 3]"});
  EXPECT_EQ(Concatenate().output_shape_of({{2, 3, 3}, {5, 3, 3}}), (Shape{7, 3, 3}));
  expect_error_naming([] { Add().output_shape({4}); }, {"Add", "several inputs"});
}

// Property: backward through branches that split and meet again (an output feeding two
// layers, Add, Concatenate) gives the gradient of the whole function, for the input and every
// parameter.
TEST(GraphTest, GradientsThroughBranchesMatchFiniteDifferences) {
  auto model = build_model(residual_spec(), 5);
  ASSERT_EQ(model->output_shape(), (Shape{3}));
  expect_model_gradients_match(*model, random_tensor({4, 6}, 11), 12);
}

// Property: the graph computes what its spec says, checked against the same arithmetic
// written out with single layers.
TEST(GraphTest, ForwardIsTheComputationTheSpecDescribes) {
  auto model = build_model(residual_spec(), 5);
  const Tensor x = random_tensor({3, 6}, 2);
  std::vector<Parameter*> p = model->parameters();  // fc1, fc2, head: weight and bias each
  ASSERT_EQ(p.size(), 6u);
  Dense fc1(6, 6), fc2(6, 6), head(12, 3);
  Dense* dense[] = {&fc1, &fc2, &head};
  for (size_t i = 0; i < 3; ++i) {
    dense[i]->parameters()[0]->value.copy_from(p[2 * i]->value);
    dense[i]->parameters()[1]->value.copy_from(p[2 * i + 1]->value);
  }
  ActivationLayer tanh1(backend::Activation::kTanh), tanh2(backend::Activation::kTanh);
  Add add;
  Concatenate join;
  const Tensor inner = fc2.forward(tanh1.forward(fc1.forward(x, kEval), kEval), kEval);
  const Tensor block = tanh2.forward(add.forward_inputs({x, inner}, kEval), kEval);
  const Tensor expected = head.forward(join.forward_inputs({block, x}, kEval), kEval);
  EXPECT_EQ(model->forward(x, kEval).to_vector(), expected.to_vector());
}

// Property: today's chain specs (no names, no inputs) build the same model with the same
// parameter names, and write back as a chain spec is written (no "name", no "inputs"), so their
// checkpoints and fingerprints stay valid.
TEST(GraphTest, AChainSpecReadsAndWritesAsBefore) {
  auto model = build_model(builtin_spec("cnn"), 1);
  const nlohmann::json written = model->spec();
  for (const nlohmann::json& entry : written["layers"]) {
    EXPECT_FALSE(entry.contains("name") || entry.contains("inputs")) << entry.dump();
  }
  EXPECT_EQ(build_model(written, 1)->spec(), written);
  EXPECT_EQ(model->parameters().front()->name, "0.weight");
  EXPECT_EQ(model->parameters().back()->name, "9.bias");
  EXPECT_EQ(model->layer_inputs(0), (std::vector<std::string>{"input"}));
  EXPECT_EQ(model->layer_inputs(3), (std::vector<std::string>{"2"}));
}

// Property: a graph's spec names each named layer and every input that is not the previous
// layer, and rebuilds the same graph.
TEST(GraphTest, AGraphSpecRoundTrips) {
  const nlohmann::json spec = residual_spec();
  auto model = build_model(spec, 3);
  const nlohmann::json written = model->spec();
  for (size_t i = 0; i < spec["layers"].size(); ++i) {
    for (const char* field : {"name", "inputs"}) {
      EXPECT_EQ(written["layers"][i].contains(field), spec["layers"][i].contains(field));
      if (spec["layers"][i].contains(field)) {
        EXPECT_EQ(written["layers"][i][field], spec["layers"][i][field]);
      }
    }
  }
  auto again = build_model(written, 3);
  EXPECT_EQ(again->spec(), written);
  const Tensor x = random_tensor({2, 6}, 4);
  EXPECT_EQ(again->forward(x, kEval).to_vector(), model->forward(x, kEval).to_vector());
  EXPECT_EQ(model->layer_name(3), "sum");
  EXPECT_EQ(model->layer_name(1), "1");
  EXPECT_EQ(model->layer_inputs(5), (std::vector<std::string>{"block", "input"}));
}

// Property: backward reports every layer exactly once, after its backward, last layer first,
// so the engine may reduce a layer's grads as soon as it is reported.
TEST(GraphTest, BackwardReportsEachLayerOnceInReverseOrder) {
  auto model = build_model(residual_spec(), 5);
  const Tensor y = model->forward(random_tensor({2, 6}, 1), kEval);
  std::vector<size_t> reported;
  model->backward(random_tensor(y.shape(), 2), [&](size_t layer) { reported.push_back(layer); });
  EXPECT_EQ(reported, (std::vector<size_t>{6, 5, 4, 3, 2, 1, 0}));
}

// Property: a graph can be built in C++ as in a spec, with names returned for wiring.
TEST(GraphTest, BuildsInCode) {
  Model model({4}, "in_code");
  const std::string trunk = model.add(std::make_unique<Dense>(4, 4));
  model.add(std::make_unique<ActivationLayer>(backend::Activation::kRelu));
  const std::string branch = model.add(std::make_unique<Dense>(4, 4), {}, "branch");
  model.add(std::make_unique<Add>(), {trunk, branch});
  EXPECT_EQ(trunk, "0");
  EXPECT_EQ(branch, "branch");
  EXPECT_EQ(model.spec()["layers"][3]["inputs"], (nlohmann::json{"0", "branch"}));
  EXPECT_EQ(model.forward(random_tensor({5, 4}, 1), kEval).shape(), (Shape{5, 4}));
}

nlohmann::json with_layers(nlohmann::json layers) {
  return {{"name", "g"}, {"input_shape", {4}}, {"layers", std::move(layers)}};
}

TEST(GraphTest, MalformedGraphsAreRefusedNamingTheLayer) {
  using nlohmann::json;
  const json dense = {{"type", "Dense"}, {"units", 4}};
  expect_error_naming(
      [&] {
        build_model(with_layers({dense, {{"type", "Add"}, {"inputs", {"0", "nope"}}}}), 1);
      },
      {"layers[1] (Add)", "\"nope\" names no layer", "input, 0"});
  expect_error_naming(
      [&] {
        build_model(with_layers({{{"type", "Dense"}, {"units", 4}, {"inputs", {"1"}}}}), 1);
      },
      {"layers[0] (Dense)", "\"1\" names no layer"});
  expect_error_naming(
      [&] {
        build_model(with_layers({{{"type", "Dense"}, {"units", 4}, {"name", "a"}},
                                 {{"type", "Dense"}, {"units", 4}, {"name", "a"}}}),
                    1);
      },
      {"layers[1] (Dense)", "\"a\" is taken"});
  expect_error_naming(
      [&] {
        build_model(with_layers({{{"type", "Dense"}, {"units", 4}, {"name", "input"}}}), 1);
      },
      {"layers[0] (Dense)", "reserved"});
  expect_error_naming(
      [&] {
        build_model(with_layers({{{"type", "Dense"}, {"units", 4}, {"name", "7"}}}), 1);
      },
      {"layers[0] (Dense)", "reserved"});
  expect_error_naming(
      [&] {
        build_model(with_layers({dense, {{"type", "Add"}}}), 1);
      },
      {"layers[1] (Add)", "at least 2"});
  expect_error_naming(
      [&] {
        build_model(
            with_layers({dense, {{"type", "Dense"}, {"units", 4}, {"inputs", {"0", "input"}}}}), 1);
      },
      {"layers[1] (Dense)", "takes one input, found 2"});
  expect_error_naming(
      [&] {
        build_model(with_layers({dense,
                                 {{"type", "Dense"}, {"units", 3}},
                                 {{"type", "Add"}, {"inputs", {"0", "1"}}}}),
                    1);
      },
      {"layers[2] (Add)", "[4]", "[3]"});
  expect_error_naming(
      [&] {
        build_model(with_layers({dense, {{"type", "Dense"}, {"units", 4}, {"inputs", {"input"}}}}),
                    1);
      },
      {"layers[0] (Dense)", "feeds no later layer"});
  expect_error_naming(
      [&] {
        build_model(with_layers({{{"type", "ReLU"}, {"inputs", 3}}}), 1);
      },
      {"layers[0] (ReLU)", "inputs", "3"});
  expect_error_naming(
      [&] {
        build_model(with_layers({{{"type", "ReLU"}, {"name", ""}}}), 1);
      },
      {"layers[0] (ReLU)", "name"});
}

// Property: a model built in code with an unused layer refuses to run rather than leave that
// layer's grads stale.
TEST(GraphTest, ALayerFeedingNothingIsRefusedWhenTheModelRuns) {
  Model model({4}, "dangling");
  model.add(std::make_unique<Dense>(4, 4), {}, "unused");
  model.add(std::make_unique<Dense>(4, 2), {Model::kInput});
  expect_error_naming(
      [&] {
        model.forward(random_tensor({1, 4}, 1), kEval);
      },
      {"layer 0", "\"unused\"", "feeds no later layer"});
}

}  // namespace
}  // namespace lockstep::nn
