// Every layer's backward against central finite differences of f = sum(forward(x) * R), for
// the input and for each parameter; a small whole model against its cross-entropy loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using test::expect_gradients_match;
using testing::random_tensor;

const ForwardContext kEval{};

// Values spaced 0.05 apart in a shuffled order: no two elements of any pooling window are
// within 2h = 0.02 of each other, so a finite-difference step never changes a window's maximum.
Tensor distinct_values(const Shape& shape, uint64_t seed) {
  const Tensor keys = random_tensor(shape, seed);
  std::vector<int64_t> order(static_cast<size_t>(keys.numel()));
  std::iota(order.begin(), order.end(), 0);
  const std::vector<float> k = keys.to_vector();
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return k[static_cast<size_t>(a)] < k[static_cast<size_t>(b)];
  });
  std::vector<float> values(order.size());
  for (size_t rank = 0; rank < order.size(); ++rank) {
    values[static_cast<size_t>(order[rank])] =
        0.05f * (static_cast<float>(rank) - static_cast<float>(order.size()) / 2.0f);
  }
  return Tensor::from_vector(shape, values);
}

// Magnitudes in [0.1, 1] with random signs: every element is further than h = 1e-2 from
// ReLU's kink at 0.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Tensor x = random_tensor(shape, seed, 0.1f, 1.0f);
  const Tensor signs = random_tensor(shape, seed + 1);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (signs.data()[i] < 0.0f) x.data()[i] = -x.data()[i];
  }
  return x;
}

TEST(LayerGradientTest, DenseMatchesFiniteDifferences) {
  Dense dense(5, 4);
  dense.bias().value.copy_from(random_tensor({4}, 3));
  expect_gradients_match(dense, random_tensor({3, 5}, 1), kEval);
}

TEST(LayerGradientTest, DenseWithoutBiasMatchesFiniteDifferences) {
  Dense dense(6, 3, /*use_bias=*/false);
  ASSERT_EQ(dense.parameters().size(), 1u);
  expect_gradients_match(dense, random_tensor({4, 6}, 2), kEval);
}

TEST(LayerGradientTest, Conv2DStride2Pad1NonSquareKernelMatchesFiniteDifferences) {
  // Kernel 3x2, stride 2, padding 1 on a 7x6 image: windows cross the padding on every side.
  Conv2D conv(3, 4, 3, 2, 2, 2, 1, 1);
  conv.bias().value.copy_from(random_tensor({4}, 5));
  expect_gradients_match(conv, random_tensor({2, 3, 7, 6}, 4), kEval);
}

TEST(LayerGradientTest, Conv2DMixedStridesAndPaddingMatchesFiniteDifferences) {
  // Different stride and padding per axis catch a swapped height/width anywhere.
  Conv2D conv(2, 3, 2, 3, 1, 2, 0, 1, /*use_bias=*/true, "he_normal");
  conv.bias().value.copy_from(random_tensor({3}, 7));
  expect_gradients_match(conv, random_tensor({2, 2, 5, 7}, 6), kEval);
}

TEST(LayerGradientTest, MaxPoolOverlappingWindowsMatchesFiniteDifferences) {
  MaxPool2D pool(3, 3, 2, 2);  // stride < pool: windows overlap
  expect_gradients_match(pool, distinct_values({2, 2, 7, 7}, 8), kEval);
}

TEST(LayerGradientTest, MaxPoolGappedWindowsMatchesFiniteDifferences) {
  MaxPool2D pool(2, 2, 3, 2);  // stride > pool along height: rows between windows get nothing
  expect_gradients_match(pool, distinct_values({2, 3, 8, 6}, 9), kEval);
}

TEST(LayerGradientTest, AvgPoolOverlappingWindowsMatchesFiniteDifferences) {
  AvgPool2D pool(3, 2, 1, 1);
  expect_gradients_match(pool, random_tensor({2, 2, 5, 4}, 10), kEval);
}

TEST(LayerGradientTest, AvgPoolGappedWindowsMatchesFiniteDifferences) {
  AvgPool2D pool(2, 2, 3, 3);
  expect_gradients_match(pool, random_tensor({2, 2, 8, 8}, 11), kEval);
}

TEST(LayerGradientTest, ReluMatchesFiniteDifferencesAwayFromTheKink) {
  ActivationLayer relu(backend::Activation::kRelu);
  expect_gradients_match(relu, away_from_zero({4, 7}, 12), kEval);
}

TEST(LayerGradientTest, SmoothActivationsMatchFiniteDifferences) {
  for (const auto kind :
       {backend::Activation::kTanh, backend::Activation::kSigmoid, backend::Activation::kGelu}) {
    ActivationLayer layer(kind);
    SCOPED_TRACE(layer.type());
    expect_gradients_match(layer, random_tensor({3, 2, 5}, 13, -2.0f, 2.0f), kEval);
  }
}

TEST(LayerGradientTest, DropoutInTrainingMatchesFiniteDifferences) {
  // The mask is a function of the key alone, so f stays the same linear function of x.
  Dropout dropout(0.4, 2);
  const ForwardContext training{true, 17, 3, 40};
  expect_gradients_match(dropout, random_tensor({5, 2, 3}, 14), training);
}

TEST(LayerGradientTest, DropoutInEvalMatchesFiniteDifferences) {
  Dropout dropout(0.4, 2);
  expect_gradients_match(dropout, random_tensor({5, 6}, 15), kEval);
}

TEST(LayerGradientTest, FlattenMatchesFiniteDifferences) {
  Flatten flatten;
  expect_gradients_match(flatten, random_tensor({3, 2, 2, 3}, 16), kEval);
}

// A model with every kind of parameterised layer, trained through the cross-entropy loss:
// the gradient of the summed loss w.r.t. the input and every parameter.
TEST(LayerGradientTest, SequentialWithCrossEntropyMatchesFiniteDifferences) {
  const nlohmann::json spec = {
      {"name", "small"},
      {"input_shape", {2, 6, 5}},
      {"layers",
       {{{"type", "Conv2D"}, {"filters", 3}, {"kernel_size", {3, 2}}, {"padding", 1}},
        {{"type", "Tanh"}},
        {{"type", "AvgPool2D"}, {"pool_size", 2}},
        {{"type", "Flatten"}},
        {{"type", "Dense"}, {"units", 5}},
        {{"type", "GELU"}},
        {{"type", "Dropout"}, {"rate", 0.25}},
        {{"type", "Dense"}, {"units", 4}}}}};
  auto model = build_model(spec, 21);
  ASSERT_EQ(model->output_shape(), (Shape{4}));
  Tensor x = random_tensor({3, 2, 6, 5}, 22);
  const Tensor labels = Tensor::from_vector({3}, std::vector<float>{0, 3, 1});
  const ForwardContext training{true, 7, 3, 5};
  CrossEntropyLoss loss;

  Tensor grad;
  loss.forward_backward(model->forward(x, training), labels, grad);
  const Tensor dx = model->backward(grad).clone();
  std::vector<Tensor> grads;
  for (Parameter* p : model->parameters()) grads.push_back(p->grad.clone());

  const auto f = [&] {
    Tensor unused;
    return loss.forward_backward(model->forward(x, training), labels, unused).sum;
  };
  EXPECT_TRUE(
      testing::all_close(dx, testing::numerical_gradient(x, f), test::kGradRtol, test::kGradAtol));
  const std::vector<Parameter*> params = model->parameters();
  ASSERT_EQ(params.size(), 6u);
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(testing::all_close(grads[i], testing::numerical_gradient(params[i]->value, f),
                                   test::kGradRtol, test::kGradAtol))
        << params[i]->name;
  }
}

}  // namespace
}  // namespace lockstep::nn
