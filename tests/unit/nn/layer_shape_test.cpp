// Shape errors: every layer and the model reject inputs and gradients of the wrong shape
// with a lockstep::Error naming the layer and both shapes.
#include <gtest/gtest.h>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/model.h"
#include "nn_test_helpers.h"

namespace lockstep::nn {
namespace {

using test::expect_error_naming;

const ForwardContext kEval{};

TEST(LayerShapeTest, DenseRejectsWrongFeatureCount) {
  Dense dense(4, 2);
  expect_error_naming(
      [&] {
        dense.forward(Tensor::zeros({2, 3}), kEval);
      },
      {"Dense", "[2, 3]", "[batch, 4]"});
  expect_error_naming(
      [&] {
        dense.forward(Tensor::zeros({2, 2, 2}), kEval);
      },
      {"Dense", "[2, 2, 2]", "[batch, 4]"});
}

TEST(LayerShapeTest, Conv2DRejectsWrongChannelsAndRank) {
  Conv2D conv(3, 2, 3, 3);
  expect_error_naming(
      [&] {
        conv.forward(Tensor::zeros({2, 1, 8, 8}), kEval);
      },
      {"Conv2D", "[2, 1, 8, 8]", "[batch, 3, height, width]"});
  expect_error_naming(
      [&] {
        conv.forward(Tensor::zeros({2, 3, 8}), kEval);
      },
      {"Conv2D", "[2, 3, 8]"});
}

TEST(LayerShapeTest, Conv2DRejectsKernelLargerThanPaddedInput) {
  Conv2D conv(1, 2, 5, 5, 1, 1, 1, 1);
  expect_error_naming(
      [&] {
        conv.forward(Tensor::zeros({1, 1, 2, 8}), kEval);
      },
      {"Conv2D", "5x5", "[1, 2, 8]"});
}

TEST(LayerShapeTest, PoolsRejectInputsSmallerThanTheWindow) {
  MaxPool2D max_pool(3, 3);
  AvgPool2D avg_pool(2, 2);
  expect_error_naming(
      [&] {
        max_pool.forward(Tensor::zeros({1, 2, 2, 5}), kEval);
      },
      {"MaxPool2D", "3x3", "[2, 2, 5]"});
  expect_error_naming(
      [&] {
        avg_pool.forward(Tensor::zeros({4, 4}), kEval);
      },
      {"AvgPool2D", "[4, 4]"});
}

TEST(LayerShapeTest, BackwardRejectsGradientOfTheWrongShape) {
  Dense dense(3, 4);
  dense.forward(Tensor::zeros({2, 3}), kEval);
  expect_error_naming(
      [&] {
        dense.backward(Tensor::zeros({2, 5}));
      },
      {"Dense", "[2, 5]", "[2, 4]"});
  Conv2D conv(1, 2, 3, 3);
  conv.forward(Tensor::zeros({1, 1, 5, 5}), kEval);
  expect_error_naming(
      [&] {
        conv.backward(Tensor::zeros({1, 2, 4, 4}));
      },
      {"Conv2D", "[1, 2, 4, 4]", "[1, 2, 3, 3]"});
  ActivationLayer relu(backend::Activation::kRelu);
  relu.forward(Tensor::zeros({2, 3}), kEval);
  expect_error_naming([&] { relu.backward(Tensor::zeros({3, 2})); }, {"ReLU", "[3, 2]", "[2, 3]"});
  Flatten flatten;
  flatten.forward(Tensor::zeros({2, 3, 2}), kEval);
  expect_error_naming(
      [&] {
        flatten.backward(Tensor::zeros({2, 5}));
      },
      {"Flatten", "[2, 5]", "[2, 6]"});
}

TEST(LayerShapeTest, BackwardBeforeForwardIsAnError) {
  Dense dense(3, 4);
  MaxPool2D pool(2, 2);
  Dropout dropout(0.5, 0);
  expect_error_naming([&] { dense.backward(Tensor::zeros({1, 4})); }, {"Dense", "before forward"});
  expect_error_naming(
      [&] {
        pool.backward(Tensor::zeros({1, 1, 1, 1}));
      },
      {"MaxPool2D", "before forward"});
  expect_error_naming(
      [&] {
        dropout.backward(Tensor::zeros({1, 4}));
      },
      {"Dropout", "before forward"});
}

TEST(LayerShapeTest, SequentialRejectsInputOfTheWrongShape) {
  Model model({2, 3}, "tiny");
  model.add(std::make_unique<Flatten>());
  model.add(std::make_unique<Dense>(6, 2));
  expect_error_naming(
      [&] {
        model.forward(Tensor::zeros({4, 3, 2}), kEval);
      },
      {"tiny", "[4, 3, 2]", "[batch, 2, 3]"});
}

TEST(LayerShapeTest, SequentialAddRejectsALayerThatDoesNotFit) {
  Model model({8}, "tiny");
  model.add(std::make_unique<Dense>(8, 5));
  expect_error_naming([&] { model.add(std::make_unique<Dense>(4, 2)); },
                      {"tiny", "layer 1", "Dense", "[5]", "[4]"});
  EXPECT_EQ(model.size(), 1u);
}

TEST(LayerShapeTest, InvalidLayerArgumentsAreErrors) {
  expect_error_naming([] { Dense(0, 3); }, {"Dense", "in_features"});
  expect_error_naming([] { Dense(3, -1); }, {"Dense", "units", "-1"});
  expect_error_naming([] { Conv2D(1, 2, 3, 3, 0, 1); }, {"Conv2D", "strides"});
  expect_error_naming([] { MaxPool2D(0, 2); }, {"MaxPool2D", "pool_size"});
  expect_error_naming([] { Dropout(1.0, 0); }, {"Dropout", "rate", "1"});
  expect_error_naming([] { Dense(3, 2, true, "ones"); }, {"Dense", "ones"});
}

}  // namespace
}  // namespace lockstep::nn
