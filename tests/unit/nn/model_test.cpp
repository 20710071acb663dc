// Model as a chain of layers: empty batches through a whole model, parameter naming, dropout
// streams from layer indices, and moving parameters between devices.
#include "lockstep/nn/model.h"

#include <gtest/gtest.h>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/loss.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

// A rank whose slice of the global batch is empty still runs the whole step: forward,
// loss, backward, with every gradient overwritten by zeros.
TEST(SequentialTest, EmptyBatchRunsThroughTheCnn) {
  auto model = build_model(builtin_spec("cnn"), 3);
  for (Parameter* p : model->parameters()) p->grad.fill(1.0f);
  const ForwardContext training{true, 1, 0, 0};
  const Tensor y = model->forward(Tensor::empty({0, 1, 28, 28}), training);
  EXPECT_EQ(y.shape(), (Shape{0, 10}));
  CrossEntropyLoss loss;
  Tensor grad;
  EXPECT_EQ(loss.forward_backward(y, Tensor::empty({0}), grad).sum, 0.0);
  EXPECT_EQ(model->backward(grad).shape(), (Shape{0, 1, 28, 28}));
  for (Parameter* p : model->parameters()) {
    EXPECT_TRUE(testing::all_close(p->grad, Tensor::zeros(p->grad.shape()), 0, 0)) << p->name;
  }
}

TEST(SequentialTest, ParametersAreNamedByLayerIndex) {
  Model model({1, 4, 4}, "named");
  model.add(std::make_unique<Conv2D>(1, 2, 3, 3));
  model.add(std::make_unique<ActivationLayer>(backend::Activation::kRelu));
  model.add(std::make_unique<Flatten>());
  model.add(std::make_unique<Dense>(8, 3, /*use_bias=*/false));
  std::vector<std::string> names;
  for (Parameter* p : model.parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "3.weight"}));
  EXPECT_EQ(model.parameter_count(), 2 * 9 + 2 + 8 * 3);
  EXPECT_EQ(model.output_shape(), (Shape{3}));
}

// Each Dropout's stream is its layer index, so two dropout layers draw different masks.
TEST(SequentialTest, DropoutStreamsAreLayerIndices) {
  auto model = build_model({{"input_shape", {32}},
                            {"layers",
                             {{{"type", "Dropout"}, {"rate", 0.5}},
                              {{"type", "Tanh"}},
                              {{"type", "Dropout"}, {"rate", 0.5}}}}},
                           0);
  auto& first = dynamic_cast<Dropout&>(model->layer(0));
  auto& second = dynamic_cast<Dropout&>(model->layer(2));
  EXPECT_EQ(first.stream(), 0u);
  EXPECT_EQ(second.stream(), 2u);
  const Tensor x = Tensor::full({4, 32}, 1.0f);
  const ForwardContext training{true, 9, 1, 0};
  EXPECT_NE(first.forward(x, training).to_vector(), second.forward(x, training).to_vector());
}

TEST(SequentialTest, ToDeviceKeepsValuesAndResetsGradients) {
  auto model = build_model(builtin_spec("mlp"), 4);
  std::vector<std::vector<float>> before;
  for (Parameter* p : model->parameters()) {
    before.push_back(p->value.to_vector());
    p->grad.fill(2.0f);
  }
  model->to(Device::cpu());
  const std::vector<Parameter*> params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i]->value.to_vector(), before[i]) << params[i]->name;
    EXPECT_EQ(params[i]->grad.shape(), params[i]->value.shape());
    EXPECT_TRUE(testing::all_close(params[i]->grad, Tensor::zeros(params[i]->grad.shape()), 0, 0));
  }
}

}  // namespace
}  // namespace lockstep::nn
