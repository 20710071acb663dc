// LayerNorm and GlobalAveragePooling2D: forward by hand and against a double reference,
// finite differences, a sample's results independent of its batch (bit for bit), accuracy when
// the mean dwarfs the spread, empty batches, names and layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "lockstep/nn/layers.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using test::expect_error_naming;
using test::expect_gradients_match;
using testing::all_close;
using testing::bits;
using testing::random_tensor;

const ForwardContext kEval{};

// PyTorch's definition in double: each row of [rows, cols] minus its mean, divided by
// sqrt(biased variance + eps), times weight plus bias (when defined).
Tensor naive_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t rows = x.size(0), cols = x.numel() / std::max<int64_t>(rows, 1);
  const std::vector<float> in = x.to_vector();
  const std::vector<float> w = weight.defined() ? weight.to_vector() : std::vector<float>();
  const std::vector<float> b = bias.defined() ? bias.to_vector() : std::vector<float>();
  std::vector<float> out(in.size());
  for (int64_t r = 0; r < rows; ++r) {
    const size_t first = static_cast<size_t>(r * cols);
    double mean = 0.0, variance = 0.0;
    for (int64_t j = 0; j < cols; ++j) mean += in[first + j];
    mean /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) variance += (in[first + j] - mean) * (in[first + j] - mean);
    variance /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) {
      double value = (in[first + j] - mean) / std::sqrt(variance + eps);
      if (weight.defined()) value = value * w[static_cast<size_t>(j)] + b[static_cast<size_t>(j)];
      out[first + j] = static_cast<float>(value);
    }
  }
  return Tensor::from_vector(x.shape(), out);
}

// --- LayerNorm ---------------------------------------------------------------------------------

TEST(LayerNormTest, HandComputedRowsAreCenteredAndScaled) {
  LayerNorm layer({2});
  layer.weight().value.copy_from(Tensor::from_vector({2}, std::vector<float>{2, 1}));
  layer.bias().value.copy_from(Tensor::from_vector({2}, std::vector<float>{0, 5}));
  // Row [1, 3]: mean 2, variance 1; row [4, 4]: variance 0, so it normalises to zeros.
  const Tensor y =
      layer.forward(Tensor::from_vector({2, 2}, std::vector<float>{1, 3, 4, 4}), kEval);
  const float s = static_cast<float>(1.0 / std::sqrt(1.0 + 1e-5));
  EXPECT_TRUE(all_close(y, Tensor::from_vector({2, 2}, std::vector<float>{-2 * s, 5 + s, 0, 5}),
                        1e-7, 1e-7));
}

TEST(LayerNormTest, ForwardMatchesPyTorchsDefinitionOverEveryPerSampleDimension) {
  // [N, F] and [N, C, H, W] (normalised over C*H*W, as nn.LayerNorm([C, H, W])).
  for (const Shape& shape : {Shape{4, 9}, Shape{3, 2, 3, 4}}) {
    SCOPED_TRACE(to_string(shape));
    const Shape per_sample(shape.begin() + 1, shape.end());
    LayerNorm affine(per_sample, 1e-3);
    affine.weight().value.copy_from(random_tensor(per_sample, 1, 0.5f, 1.5f));
    affine.bias().value.copy_from(random_tensor(per_sample, 2));
    LayerNorm plain(per_sample, 1e-5, /*elementwise_affine=*/false);
    const Tensor x = random_tensor(shape, 3, -2.0f, 3.0f);
    EXPECT_TRUE(all_close(affine.forward(x, kEval),
                          naive_layer_norm(x, affine.weight().value, affine.bias().value, 1e-3)));
    EXPECT_TRUE(all_close(plain.forward(x, kEval), naive_layer_norm(x, Tensor(), Tensor(), 1e-5)));
  }
}

// The statistics are computed in double, in two passes: a row whose mean is 1e4 times its
// spread still normalises accurately (one pass in float, E[x^2] - E[x]^2, would lose it all).
TEST(LayerNormTest, LargeMeanAndSmallSpreadStayAccurate) {
  LayerNorm layer({64}, 1e-5, false);
  Tensor x = random_tensor({2, 64}, 4, -1.0f, 1.0f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 1e4f + x.data()[i];
  EXPECT_TRUE(all_close(layer.forward(x, kEval), naive_layer_norm(x, Tensor(), Tensor(), 1e-5),
                        1e-3, 1e-3));
}

TEST(LayerNormTest, GradientsMatchFiniteDifferences) {
  LayerNorm features({6});
  features.weight().value.copy_from(random_tensor({6}, 5, 0.5f, 1.5f));
  features.bias().value.copy_from(random_tensor({6}, 6));
  expect_gradients_match(features, random_tensor({3, 6}, 7, -2.0f, 2.0f), kEval);
  LayerNorm images({2, 3, 3}, 1e-3);
  images.weight().value.copy_from(random_tensor({2, 3, 3}, 8, 0.5f, 1.5f));
  images.bias().value.copy_from(random_tensor({2, 3, 3}, 9));
  expect_gradients_match(images, random_tensor({2, 2, 3, 3}, 10, -2.0f, 2.0f), kEval);
  LayerNorm plain({8}, 1e-5, false);
  ASSERT_TRUE(plain.parameters().empty());
  expect_gradients_match(plain, random_tensor({3, 8}, 11, -2.0f, 2.0f), kEval);
}

// A row's output and input gradient are the same bits alone or next to rows of any scale:
// N ranks equal one process only if no statistic mixes rows.
TEST(LayerNormTest, ARowsResultsDoNotDependOnItsBatch) {
  LayerNorm layer({3, 2, 2});
  layer.weight().value.copy_from(random_tensor({3, 2, 2}, 12, 0.5f, 1.5f));
  layer.bias().value.copy_from(random_tensor({3, 2, 2}, 13));
  Tensor x = random_tensor({5, 3, 2, 2}, 14);
  for (int64_t i = 24; i < 48; ++i) x.data()[i] = 1e5f * x.data()[i] - 3e5f;  // rows 2 and 3
  const Tensor whole_y = layer.forward(x, kEval).clone();
  const Tensor dy = random_tensor(whole_y.shape(), 15);
  const Tensor whole_dx = layer.backward(dy).clone();
  for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 1}, {1, 2}, {4, 5}, {1, 5}}) {
    const Tensor part_y = layer.forward(x.rows(begin, end).clone(), kEval).clone();
    const Tensor part_dx = layer.backward(dy.rows(begin, end).clone());
    EXPECT_EQ(bits(part_y), bits(whole_y.rows(begin, end))) << "rows " << begin;
    EXPECT_EQ(bits(part_dx), bits(whole_dx.rows(begin, end))) << "rows " << begin;
  }
}

// The weight and bias gradients are the sums over the rows of dy * xhat and dy, in double and
// rounded once, so a row's contribution is the same whichever rows share the call.
TEST(LayerNormTest, ParameterGradientsAreSumsOverRowsRoundedOnce) {
  LayerNorm layer({5});
  const Tensor x = random_tensor({7, 5}, 16);
  const Tensor dy = random_tensor({7, 5}, 17);
  layer.forward(x, kEval);
  layer.backward(dy);
  const Tensor weight_grad = layer.weight().grad.clone(), bias_grad = layer.bias().grad.clone();
  std::vector<double> weight_sum(5, 0.0), bias_sum(5, 0.0);
  for (int64_t r = 0; r < 7; ++r) {
    // xhat of row r alone, the bits its batch of seven gave it.
    const Tensor xhat = layer.forward(x.rows(r, r + 1).clone(), kEval);
    for (int64_t j = 0; j < 5; ++j) {
      weight_sum[static_cast<size_t>(j)] +=
          static_cast<double>(dy.at({r, j})) * static_cast<double>(xhat.at({0, j}));
      bias_sum[static_cast<size_t>(j)] += dy.at({r, j});
    }
  }
  for (int64_t j = 0; j < 5; ++j) {
    EXPECT_EQ(weight_grad.at({j}), static_cast<float>(weight_sum[static_cast<size_t>(j)])) << j;
    EXPECT_EQ(bias_grad.at({j}), static_cast<float>(bias_sum[static_cast<size_t>(j)])) << j;
  }
}

TEST(LayerNormTest, ParametersAreOnesAndZerosOfThePerSampleShape) {
  LayerNorm layer({3, 4, 5});
  const std::vector<Parameter*> params = layer.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0]->name, "weight");
  EXPECT_EQ(params[0]->value.shape(), (Shape{3, 4, 5}));
  EXPECT_EQ(params[1]->name, "bias");
  EXPECT_EQ(params[1]->value.shape(), (Shape{3, 4, 5}));
  params[0]->value.fill(3.0f);
  layer.initialize(7, 2);
  EXPECT_EQ(params[0]->value.to_vector(), std::vector<float>(60, 1.0f));
  EXPECT_EQ(params[1]->value.to_vector(), std::vector<float>(60, 0.0f));
  EXPECT_EQ(layer.output_shape({3, 4, 5}), (Shape{3, 4, 5}));
}

TEST(LayerNormTest, EmptyBatchGivesZeroGradients) {
  LayerNorm layer({4});
  for (Parameter* p : layer.parameters()) p->grad.fill(7.0f);
  const Tensor y = layer.forward(Tensor::empty({0, 4}), kEval);
  EXPECT_EQ(y.shape(), (Shape{0, 4}));
  EXPECT_EQ(layer.backward(y).shape(), (Shape{0, 4}));
  for (Parameter* p : layer.parameters()) {
    EXPECT_EQ(p->grad.to_vector(), std::vector<float>(4, 0.0f)) << p->name;
  }
}

TEST(LayerNormTest, WrongShapesAndArgumentsNameTheLayer) {
  LayerNorm layer({3, 4});
  expect_error_naming([&] { layer.output_shape({12}); }, {"LayerNorm", "[12]", "[3, 4]"});
  expect_error_naming(
      [&] {
        layer.forward(Tensor::zeros({2, 4, 3}), kEval);
      },
      {"LayerNorm", "[2, 4, 3]", "[batch, 3, 4]"});
  expect_error_naming(
      [&] {
        layer.backward(Tensor::zeros({2, 3, 4}));
      },
      {"LayerNorm", "before forward"});
  layer.forward(Tensor::zeros({2, 3, 4}), kEval);
  expect_error_naming(
      [&] {
        layer.backward(Tensor::zeros({1, 3, 4}));
      },
      {"LayerNorm", "[1, 3, 4]", "[2, 3, 4]"});
  expect_error_naming([] { LayerNorm({}); }, {"LayerNorm", "normalized_shape"});
  expect_error_naming([] { LayerNorm({3, 0}); }, {"LayerNorm", "[3, 0]"});
  expect_error_naming([] { LayerNorm({3}, 0.0); }, {"LayerNorm", "eps", "0"});
  expect_error_naming([] { LayerNorm({3}, 1e-300); }, {"LayerNorm", "eps"});
}

// --- GlobalAveragePooling2D ----------------------------------------------------------------------

TEST(GlobalAveragePooling2DTest, HandComputedMeansPerChannel) {
  GlobalAveragePooling2D layer;
  const Tensor x = Tensor::from_vector({2, 2, 2, 2}, std::vector<float>{1, 2, 3, 6,  //
                                                                        0, 0, 0, 4,  //
                                                                        -1, 1, -1, 1, 8, 8, 8, 8});
  const Tensor y = layer.forward(x, kEval);
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{3, 1, 0, 8}));
  // Each pixel receives its channel's gradient divided by the plane's size.
  const Tensor dx = layer.backward(Tensor::from_vector({2, 2}, std::vector<float>{4, 8, -2, 0}));
  EXPECT_EQ(dx.to_vector(),
            (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, -0.5f, -0.5f, -0.5f, -0.5f, 0, 0, 0, 0}));
}

TEST(GlobalAveragePooling2DTest, GradientsMatchFiniteDifferences) {
  GlobalAveragePooling2D layer;
  expect_gradients_match(layer, random_tensor({3, 4, 5, 3}, 18), kEval);
}

TEST(GlobalAveragePooling2DTest, AnImagesResultsDoNotDependOnItsBatch) {
  GlobalAveragePooling2D layer;
  const Tensor x = random_tensor({4, 3, 7, 6}, 19);
  const Tensor whole_y = layer.forward(x, kEval).clone();
  const Tensor dy = random_tensor(whole_y.shape(), 20);
  const Tensor whole_dx = layer.backward(dy).clone();
  for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 1}, {1, 4}}) {
    const Tensor part_y = layer.forward(x.rows(begin, end).clone(), kEval).clone();
    const Tensor part_dx = layer.backward(dy.rows(begin, end).clone());
    EXPECT_EQ(bits(part_y), bits(whole_y.rows(begin, end))) << "rows " << begin;
    EXPECT_EQ(bits(part_dx), bits(whole_dx.rows(begin, end))) << "rows " << begin;
  }
}

TEST(GlobalAveragePooling2DTest, WrongShapesNameTheLayer) {
  GlobalAveragePooling2D layer;
  EXPECT_EQ(layer.output_shape({5, 3, 2}), (Shape{5}));
  EXPECT_TRUE(layer.parameters().empty());
  expect_error_naming([&] { layer.output_shape({12}); },
                      {"GlobalAveragePooling2D", "[12]", "[channels, height, width]"});
  expect_error_naming(
      [&] {
        layer.forward(Tensor::zeros({2, 3}), kEval);
      },
      {"GlobalAveragePooling2D", "[2, 3]"});
  expect_error_naming(
      [&] {
        layer.backward(Tensor::zeros({2, 3}));
      },
      {"GlobalAveragePooling2D", "before forward"});
  layer.forward(Tensor::zeros({2, 3, 4, 4}), kEval);
  expect_error_naming(
      [&] {
        layer.backward(Tensor::zeros({2, 3, 1, 1}));
      },
      {"GlobalAveragePooling2D", "[2, 3, 1, 1]", "[2, 3]"});
  const Tensor empty = layer.forward(Tensor::empty({0, 3, 4, 4}), kEval);
  EXPECT_EQ(empty.shape(), (Shape{0, 3}));
  EXPECT_EQ(layer.backward(empty).shape(), (Shape{0, 3, 4, 4}));
}

}  // namespace
}  // namespace lockstep::nn
