// DepthwiseConv2D and SeparableConv2D: forward by hand and by the textbook loops, finite
// differences, batch independence, the weight gradient as the exact sum over the batch, empty
// batches, names and layouts.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "lockstep/nn/layers.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using test::expect_gradients_match;
using testing::all_close;
using testing::bits;
using testing::random_tensor;

const ForwardContext kEval{};

// The textbook depthwise convolution in double: y[b, c*m + j, oy, ox] = bias[c*m + j] + the
// sum over (ky, kx) of w[c*m + j, 0, ky, kx] * x[b, c, oy*sh - ph + ky, ox*sw - pw + kx], zero
// outside the image. An undefined bias adds nothing.
Tensor naive_depthwise(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t sh, int64_t sw,
                       int64_t ph, int64_t pw) {
  const int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t out_channels = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t m = out_channels / channels;
  const int64_t out_h = (height + 2 * ph - kh) / sh + 1, out_w = (width + 2 * pw - kw) / sw + 1;
  Tensor y = Tensor::empty({batch, out_channels, out_h, out_w});
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t o = 0; o < out_channels; ++o) {
      for (int64_t oy = 0; oy < out_h; ++oy) {
        for (int64_t ox = 0; ox < out_w; ++ox) {
          double sum = bias.defined() ? bias.at({o}) : 0.0;
          for (int64_t ky = 0; ky < kh; ++ky) {
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
              if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
              sum += static_cast<double>(w.at({o, 0, ky, kx})) * x.at({b, o / m, iy, ix});
            }
          }
          y.at({b, o, oy, ox}) = static_cast<float>(sum);
        }
      }
    }
  }
  return y;
}

// Two channels of a 3x3 image, depth_multiplier 2: output channel c*2 + j reads input channel
// c, as PyTorch's Conv2d(2, 4, 2, groups=2) orders them.
TEST(DepthwiseConv2DTest, HandComputedCaseFollowsPyTorchsGroupedChannelOrder) {
  DepthwiseConv2D layer(2, 2, 2, 1, 1, 0, 0, /*depth_multiplier=*/2);
  const std::vector<float> image{1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> x = image;
  for (float v : image) x.push_back(10 * v);  // channel 1 is ten times channel 0
  layer.weight().value.copy_from(Tensor::from_vector(
      {4, 1, 2, 2}, std::vector<float>{1, 0, 0, -1,       // channel 0, filter 0: x00 - x11
                                       0.5f, 0.5f, 0, 0,  // channel 0, filter 1: mean of a row
                                       1, 0, 0, -1,       // channel 1, filter 0
                                       0, 0, 0, 1}));     // channel 1, filter 1: x11
  layer.bias().value.copy_from(Tensor::from_vector({4}, std::vector<float>{0, 1, 0, 0}));
  const Tensor y = layer.forward(Tensor::from_vector({1, 2, 3, 3}, x), kEval);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{-4, -4, -4, -4,          //
                                               2.5f, 3.5f, 5.5f, 6.5f,  //
                                               -40, -40, -40, -40,      //
                                               50, 60, 80, 90}));
}

TEST(DepthwiseConv2DTest, ForwardMatchesTheTextbookLoops) {
  struct Case {
    int64_t channels, kh, kw, sh, sw, ph, pw, multiplier, height, width;
    bool bias;
  };
  for (const Case& c : {Case{3, 3, 3, 1, 1, 1, 1, 1, 6, 5, true},   // "same"
                        Case{2, 3, 2, 2, 1, 1, 0, 3, 7, 6, true},   // strided, non-square
                        Case{4, 2, 2, 3, 2, 1, 1, 2, 8, 7, false},  // gaps between windows
                        Case{1, 5, 5, 1, 1, 0, 0, 1, 5, 5, true}}) {
    SCOPED_TRACE(::testing::Message() << c.channels << " channels, kernel " << c.kh << "x" << c.kw
                                      << ", multiplier " << c.multiplier);
    DepthwiseConv2D layer(c.channels, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.multiplier, c.bias);
    if (c.bias) layer.bias().value.copy_from(random_tensor({c.channels * c.multiplier}, 3));
    const Tensor x = random_tensor({3, c.channels, c.height, c.width}, 4);
    EXPECT_TRUE(all_close(
        layer.forward(x, kEval),
        naive_depthwise(x, layer.weight().value, layer.bias().value, c.sh, c.sw, c.ph, c.pw)));
  }
}

TEST(DepthwiseConv2DTest, GradientsMatchFiniteDifferences) {
  // Kernel 3x2, stride 2x1, padding 1x1, two filters per channel: windows cross the padding.
  DepthwiseConv2D layer(3, 3, 2, 2, 1, 1, 1, 2);
  layer.bias().value.copy_from(random_tensor({6}, 5));
  expect_gradients_match(layer, random_tensor({2, 3, 7, 6}, 6), kEval);
  // Gaps between windows (stride > kernel) and no bias.
  DepthwiseConv2D gapped(2, 2, 2, 3, 3, 0, 0, 1, /*use_bias=*/false, "he_normal");
  ASSERT_EQ(gapped.parameters().size(), 1u);
  expect_gradients_match(gapped, random_tensor({2, 2, 8, 8}, 7), kEval);
}

TEST(SeparableConv2DTest, GradientsMatchFiniteDifferences) {
  SeparableConv2D layer(3, 4, 3, 3, 1, 2, 1, 1, 2);
  layer.pointwise_bias().value.copy_from(random_tensor({4}, 8));
  expect_gradients_match(layer, random_tensor({2, 3, 6, 7}, 9), kEval);
  SeparableConv2D no_bias(2, 3, 2, 3, 2, 1, 0, 1, 1, /*use_bias=*/false);
  ASSERT_EQ(no_bias.parameters().size(), 2u);
  expect_gradients_match(no_bias, random_tensor({3, 2, 5, 6}, 10), kEval);
}

// The separable layer is the depthwise layer (no bias) followed by a 1x1 convolution, value
// for value: PyTorch's Sequential(Conv2d(groups=in), Conv2d(kernel 1)).
TEST(SeparableConv2DTest, IsADepthwiseThenAPointwiseConvolution) {
  SeparableConv2D layer(3, 5, 3, 2, 2, 1, 1, 0, 2);
  layer.pointwise_bias().value.copy_from(random_tensor({5}, 11));
  DepthwiseConv2D depthwise(3, 3, 2, 2, 1, 1, 0, 2, /*use_bias=*/false);
  Conv2D pointwise(6, 5, 1, 1);
  depthwise.weight().value.copy_from(layer.depthwise_weight().value);
  pointwise.weight().value.copy_from(layer.pointwise_weight().value);
  pointwise.bias().value.copy_from(layer.pointwise_bias().value);
  const Tensor x = random_tensor({2, 3, 7, 6}, 12);
  const Tensor y = layer.forward(x, kEval);
  EXPECT_EQ(bits(y), bits(pointwise.forward(depthwise.forward(x, kEval), kEval)));
  const Tensor dy = random_tensor(y.shape(), 13);
  const Tensor dx = layer.backward(dy);
  EXPECT_EQ(bits(dx), bits(depthwise.backward(pointwise.backward(dy))));
  EXPECT_EQ(bits(layer.depthwise_weight().grad), bits(depthwise.weight().grad));
  EXPECT_EQ(bits(layer.pointwise_weight().grad), bits(pointwise.weight().grad));
  EXPECT_EQ(bits(layer.pointwise_bias().grad), bits(pointwise.bias().grad));
}

// N ranks equal one process only if an image's output and input gradient are the same bits
// whether it is computed alone, first or last in a batch of any size.
TEST(DepthwiseSeparableBatchTest, ImageResultsDoNotDependOnTheBatchSplit) {
  DepthwiseConv2D depthwise(3, 3, 3, 2, 1, 1, 1, 2);
  depthwise.bias().value.copy_from(random_tensor({6}, 14));
  SeparableConv2D separable(3, 4, 3, 3, 1, 1, 1, 1, 2);
  separable.pointwise_bias().value.copy_from(random_tensor({4}, 15));
  for (Layer* layer : std::initializer_list<Layer*>{&depthwise, &separable}) {
    SCOPED_TRACE(layer->type());
    const Tensor x = random_tensor({5, 3, 9, 8}, 16);
    const Tensor whole_y = layer->forward(x, kEval).clone();
    const Tensor dy = random_tensor(whole_y.shape(), 17);
    const Tensor whole_dx = layer->backward(dy).clone();
    for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 1}, {1, 3}, {3, 5}}) {
      const Tensor part_y = layer->forward(x.rows(begin, end).clone(), kEval).clone();
      const Tensor part_dx = layer->backward(dy.rows(begin, end).clone());
      EXPECT_EQ(bits(part_y), bits(whole_y.rows(begin, end))) << "rows " << begin;
      EXPECT_EQ(bits(part_dx), bits(whole_dx.rows(begin, end))) << "rows " << begin;
    }
  }
}

// The depthwise weight gradient is the sum over every image and position of exact products,
// rounded once: whatever the batch's order, it is the double-precision sum rounded to float
// (within a float rounding of it).
TEST(DepthwiseSeparableBatchTest, WeightGradientIsTheSumOverTheBatchRoundedOnce) {
  DepthwiseConv2D layer(2, 3, 3, 1, 2, 1, 0, 2);
  const Tensor x = random_tensor({6, 2, 7, 9}, 18);
  const Tensor y = layer.forward(x, kEval);
  const Tensor dy = random_tensor(y.shape(), 19);
  layer.backward(dy);
  // d/dw of sum(y * dy) = sum over images of naive_depthwise with a one-hot weight.
  Tensor expected = Tensor::empty(layer.weight().value.shape());
  for (int64_t e = 0; e < expected.numel(); ++e) {
    Tensor one_hot = Tensor::zeros(expected.shape());
    one_hot.data()[e] = 1.0f;
    const std::vector<float> response =
        naive_depthwise(x, one_hot, Tensor(), 1, 2, 1, 0).to_vector();
    const std::vector<float> weights = dy.to_vector();
    double sum = 0.0;
    for (size_t i = 0; i < response.size(); ++i)
      sum += static_cast<double>(response[i]) * weights[i];
    expected.data()[e] = static_cast<float>(sum);
  }
  EXPECT_TRUE(all_close(layer.weight().grad, expected, 1e-6, 1e-7));
}

TEST(DepthwiseSeparableBatchTest, EmptyBatchGivesEmptyOutputsAndZeroGradients) {
  DepthwiseConv2D depthwise(2, 3, 3, 1, 1, 1, 1, 2);
  SeparableConv2D separable(2, 3, 3, 3, 1, 1, 1, 1, 2);
  for (Layer* layer : std::initializer_list<Layer*>{&depthwise, &separable}) {
    SCOPED_TRACE(layer->type());
    for (Parameter* p : layer->parameters()) p->grad.fill(7.0f);
    const Tensor y = layer->forward(Tensor::empty({0, 2, 5, 5}), kEval);
    EXPECT_EQ(y.shape(), (Shape{0, layer == &depthwise ? 4 : 3, 5, 5}));
    EXPECT_EQ(layer->backward(y).shape(), (Shape{0, 2, 5, 5}));
    for (Parameter* p : layer->parameters()) {
      EXPECT_TRUE(all_close(p->grad, Tensor::zeros(p->grad.shape()))) << p->name;
    }
  }
}

TEST(DepthwiseSeparableShapeTest, ParametersHavePyTorchsNamesAndLayouts) {
  DepthwiseConv2D depthwise(3, 3, 2, 1, 1, 0, 0, 4);
  ASSERT_EQ(depthwise.parameters().size(), 2u);
  EXPECT_EQ(depthwise.parameters()[0]->name, "weight");
  EXPECT_EQ(depthwise.parameters()[0]->value.shape(), (Shape{12, 1, 3, 2}));
  EXPECT_EQ(depthwise.parameters()[1]->name, "bias");
  EXPECT_EQ(depthwise.parameters()[1]->value.shape(), (Shape{12}));
  EXPECT_EQ(depthwise.output_shape({3, 6, 5}), (Shape{12, 4, 4}));

  SeparableConv2D separable(3, 7, 3, 3, 2, 2, 1, 1, 2);
  const std::vector<Parameter*> params = separable.parameters();
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0]->name, "depthwise.weight");
  EXPECT_EQ(params[0]->value.shape(), (Shape{6, 1, 3, 3}));
  EXPECT_EQ(params[1]->name, "pointwise.weight");
  EXPECT_EQ(params[1]->value.shape(), (Shape{7, 6, 1, 1}));
  EXPECT_EQ(params[2]->name, "pointwise.bias");
  EXPECT_EQ(params[2]->value.shape(), (Shape{7}));
  EXPECT_EQ(separable.output_shape({3, 9, 8}), (Shape{7, 5, 4}));
}

TEST(DepthwiseSeparableShapeTest, WrongInputsAndArgumentsNameTheLayer) {
  using test::expect_error_naming;
  DepthwiseConv2D depthwise(3, 3, 3);
  expect_error_naming(
      [&] {
        depthwise.output_shape({2, 8, 8});
      },
      {"DepthwiseConv2D", "[2, 8, 8]", "[3, height, width]"});
  expect_error_naming(
      [&] {
        depthwise.output_shape({3, 2, 8});
      },
      {"DepthwiseConv2D", "3x3", "larger"});
  expect_error_naming(
      [&] {
        depthwise.forward(Tensor::zeros({2, 3, 8}), kEval);
      },
      {"DepthwiseConv2D", "[2, 3, 8]"});
  expect_error_naming(
      [&] {
        depthwise.backward(Tensor::zeros({1, 3, 6, 6}));
      },
      {"DepthwiseConv2D", "before forward"});
  depthwise.forward(Tensor::zeros({2, 3, 8, 8}), kEval);
  expect_error_naming(
      [&] {
        depthwise.backward(Tensor::zeros({2, 3, 6, 5}));
      },
      {"DepthwiseConv2D", "[2, 3, 6, 5]", "[2, 3, 6, 6]"});
  expect_error_naming([] { DepthwiseConv2D(3, 3, 3, 1, 1, 0, 0, 0); },
                      {"DepthwiseConv2D", "depth_multiplier", "0"});
  expect_error_naming([] { DepthwiseConv2D(3, 3, 3, 1, 1, 0, 0, 1, true, "ones"); },
                      {"DepthwiseConv2D", "kernel_initializer", "ones"});

  SeparableConv2D separable(3, 4, 3, 3);
  expect_error_naming(
      [&] {
        separable.output_shape({3, 2, 2});
      },
      {"SeparableConv2D", "3x3", "larger"});
  expect_error_naming(
      [&] {
        separable.backward(Tensor::zeros({1, 4, 6, 6}));
      },
      {"SeparableConv2D", "before forward"});
  separable.forward(Tensor::zeros({2, 3, 8, 8}), kEval);
  expect_error_naming(
      [&] {
        separable.backward(Tensor::zeros({2, 3, 6, 6}));
      },
      {"SeparableConv2D", "[2, 3, 6, 6]", "[2, 4, 6, 6]"});
  expect_error_naming([] { SeparableConv2D(3, 0, 3, 3); }, {"SeparableConv2D", "filters", "0"});
  expect_error_naming([] { SeparableConv2D(3, 4, 3, 3, 0, 1); },
                      {"SeparableConv2D", "strides", "0x1"});
  expect_error_naming([] { SeparableConv2D(3, 4, 3, 3, 1, 1, 0, 0, 1, true, "ones"); },
                      {"SeparableConv2D", "kernel_initializer", "ones"});
}

}  // namespace
}  // namespace lockstep::nn
