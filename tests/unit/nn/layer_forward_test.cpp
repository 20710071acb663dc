// Dense and Conv2D forward against naive loops; empty batches; workspace reuse across calls.
#include <gtest/gtest.h>

#include "lockstep/nn/layers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using testing::all_close;
using testing::random_tensor;

const ForwardContext kEval{};

// y[b, u] = sum_i x[b, i] W[u, i] + bias[u], in double.
Tensor naive_dense(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t batch = x.size(0), in = x.size(1), units = w.size(0);
  Tensor y = Tensor::empty({batch, units});
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t u = 0; u < units; ++u) {
      double sum = bias.at({u});
      for (int64_t i = 0; i < in; ++i) sum += static_cast<double>(x.at({b, i})) * w.at({u, i});
      y.at({b, u}) = static_cast<float>(sum);
    }
  }
  return y;
}

// The textbook definition: y[b, f, oy, ox] = bias[f] + sum over c, ky, kx of
// w[f, c, ky, kx] * x[b, c, oy*sh - ph + ky, ox*sw - pw + kx], zero outside the image.
Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t sh, int64_t sw,
                  int64_t ph, int64_t pw) {
  const int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t filters = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t out_h = (height + 2 * ph - kh) / sh + 1, out_w = (width + 2 * pw - kw) / sw + 1;
  Tensor y = Tensor::empty({batch, filters, out_h, out_w});
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t f = 0; f < filters; ++f) {
      for (int64_t oy = 0; oy < out_h; ++oy) {
        for (int64_t ox = 0; ox < out_w; ++ox) {
          double sum = bias.at({f});
          for (int64_t c = 0; c < channels; ++c) {
            for (int64_t ky = 0; ky < kh; ++ky) {
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
                if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
                sum += static_cast<double>(w.at({f, c, ky, kx})) * x.at({b, c, iy, ix});
              }
            }
          }
          y.at({b, f, oy, ox}) = static_cast<float>(sum);
        }
      }
    }
  }
  return y;
}

TEST(LayerForwardTest, DenseMatchesNaiveLoop) {
  Dense dense(7, 5);
  dense.bias().value.copy_from(random_tensor({5}, 2));
  const Tensor x = random_tensor({4, 7}, 1);
  EXPECT_TRUE(all_close(dense.forward(x, kEval),
                        naive_dense(x, dense.weight().value, dense.bias().value), 1e-5, 1e-6));
}

TEST(LayerForwardTest, Conv2DMatchesNaiveLoop) {
  // Non-square kernel, different strides and paddings per axis.
  Conv2D conv(3, 4, 3, 2, 2, 1, 1, 2);
  conv.bias().value.copy_from(random_tensor({4}, 4));
  const Tensor x = random_tensor({2, 3, 7, 5}, 3);
  const Tensor y = conv.forward(x, kEval);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 4, 8}));
  EXPECT_TRUE(
      all_close(y, naive_conv(x, conv.weight().value, conv.bias().value, 2, 1, 1, 2), 1e-5, 1e-6));
}

TEST(LayerForwardTest, Conv2DWithoutBiasMatchesNaiveLoop) {
  Conv2D conv(2, 3, 3, 3, 1, 1, 0, 0, /*use_bias=*/false);
  const Tensor x = random_tensor({3, 2, 6, 6}, 5);
  EXPECT_TRUE(all_close(conv.forward(x, kEval),
                        naive_conv(x, conv.weight().value, Tensor::zeros({3}), 1, 1, 0, 0), 1e-5,
                        1e-6));
}

// The column workspaces are reused: a call with another batch size or image size after a
// first call must still give the naive result.
TEST(LayerForwardTest, Conv2DReusesWorkspacesAcrossShapes) {
  Conv2D conv(1, 2, 3, 3, 1, 1, 1, 1);
  for (const Shape& shape : {Shape{4, 1, 6, 6}, Shape{1, 1, 6, 6}, Shape{2, 1, 9, 4}}) {
    const Tensor x = random_tensor(shape, 6);
    EXPECT_TRUE(all_close(conv.forward(x, kEval),
                          naive_conv(x, conv.weight().value, conv.bias().value, 1, 1, 1, 1), 1e-5,
                          1e-6))
        << to_string(shape);
  }
}

// A rank that receives no rows still runs forward and backward; gradients it contributes
// must be zeros (overwritten), never stale values from an earlier step.
TEST(LayerForwardTest, EmptyBatchGivesEmptyOutputsAndZeroGradients) {
  Dense dense(4, 3);
  Conv2D conv(2, 3, 3, 3);
  for (Layer* layer : std::initializer_list<Layer*>{&dense, &conv}) {
    for (Parameter* p : layer->parameters()) p->grad.fill(7.0f);
  }
  const Tensor y = dense.forward(Tensor::empty({0, 4}), kEval);
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  EXPECT_EQ(dense.backward(Tensor::empty({0, 3})).shape(), (Shape{0, 4}));
  const Tensor z = conv.forward(Tensor::empty({0, 2, 5, 5}), kEval);
  EXPECT_EQ(z.shape(), (Shape{0, 3, 3, 3}));
  EXPECT_EQ(conv.backward(Tensor::empty({0, 3, 3, 3})).shape(), (Shape{0, 2, 5, 5}));
  for (Layer* layer : std::initializer_list<Layer*>{&dense, &conv}) {
    for (Parameter* p : layer->parameters()) {
      EXPECT_TRUE(all_close(p->grad, Tensor::zeros(p->grad.shape()))) << layer->type();
    }
  }
}

// Gradients are written into the existing grad storage, so the engine may point them at
// slices of a fusion buffer.
TEST(LayerForwardTest, BackwardWritesIntoExistingGradStorage) {
  Dense dense(3, 2);
  Conv2D conv(1, 2, 2, 2);
  for (Layer* layer : std::initializer_list<Layer*>{&dense, &conv}) {
    std::vector<Tensor> before;
    for (Parameter* p : layer->parameters()) before.push_back(p->grad);
    const Shape in = layer == &dense ? Shape{2, 3} : Shape{2, 1, 4, 4};
    const Tensor y = layer->forward(random_tensor(in, 8), kEval);
    layer->backward(random_tensor(y.shape(), 9));
    const std::vector<Parameter*> params = layer->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(params[i]->grad.shares_storage(before[i])) << layer->type();
    }
  }
}

TEST(LayerForwardTest, PoolsComputeWindowMaximumAndMean) {
  // One 3x4 image, pool 2x2 stride 2 -> [1, 1, 1, 2].
  const Tensor x = Tensor::from_vector({1, 1, 3, 4}, std::vector<float>{1, 5, 2, 0,  //
                                                                        3, 4, 8, 6,  //
                                                                        9, 9, 9, 9});
  MaxPool2D max_pool(2, 2);
  AvgPool2D avg_pool(2, 2);
  EXPECT_TRUE(all_close(max_pool.forward(x, kEval),
                        Tensor::from_vector({1, 1, 1, 2}, std::vector<float>{5, 8})));
  EXPECT_TRUE(all_close(avg_pool.forward(x, kEval),
                        Tensor::from_vector({1, 1, 1, 2}, std::vector<float>{3.25f, 4})));
}

TEST(LayerForwardTest, FlattenIsAViewOfItsInput) {
  Flatten flatten;
  const Tensor x = random_tensor({2, 3, 4}, 10);
  const Tensor y = flatten.forward(x, kEval);
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_EQ(flatten.backward(y).shape(), x.shape());
}

}  // namespace
}  // namespace lockstep::nn
