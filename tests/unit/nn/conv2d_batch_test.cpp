// Conv2D's per-image results do not depend on the batch they arrive in: N ranks equal one
// process bit for bit only if an image's output and input gradient are the same whether it
// is computed alone, first or last in a batch of any size. Also: the bias added per image
// gives the bits of the convolution plus the bias.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "lockstep/nn/layers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using testing::bits;
using testing::random_tensor;

ForwardContext training_context() {
  ForwardContext context;
  context.training = true;
  return context;
}

const ForwardContext kTrain = training_context();

struct ConvCase {
  const char* name;
  int64_t in_channels, filters, kernel, stride, pad, height, width;
};

// The built-in cnn's two convolutions, and a padded, strided one (the general im2col path).
const ConvCase kCases[] = {{"cnn conv 1", 1, 32, 5, 1, 0, 28, 28},
                           {"cnn conv 2", 32, 64, 5, 1, 0, 12, 12},
                           {"stride 2, padding 1", 3, 4, 3, 2, 1, 9, 8}};

TEST(Conv2DBatchTest, ImageResultsDoNotDependOnTheBatchSplit) {
  const int64_t batch = 5;
  for (const ConvCase& c : kCases) {
    Conv2D conv(c.in_channels, c.filters, c.kernel, c.kernel, c.stride, c.stride, c.pad, c.pad);
    conv.bias().value.copy_from(random_tensor({c.filters}, 3));
    const Tensor x = random_tensor({batch, c.in_channels, c.height, c.width}, 1);
    const Tensor whole_y = conv.forward(x, kTrain).clone();
    const Tensor dy = random_tensor(whole_y.shape(), 2);
    const Tensor whole_dx = conv.backward(dy).clone();
    // Splits [0, 1), [1, 3), [3, 5): an image alone, and images first and last in a batch.
    for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 1}, {1, 3}, {3, 5}}) {
      const Tensor part_y = conv.forward(x.rows(begin, end).clone(), kTrain).clone();
      const Tensor part_dx = conv.backward(dy.rows(begin, end).clone());
      EXPECT_EQ(bits(part_y), bits(whole_y.rows(begin, end))) << c.name << ", rows " << begin;
      EXPECT_EQ(bits(part_dx), bits(whole_dx.rows(begin, end))) << c.name << ", rows " << begin;
    }
  }
}

TEST(Conv2DBatchTest, BiasAddsToTheConvolutionBitForBit) {
  for (const ConvCase& c : kCases) {
    Conv2D with_bias(c.in_channels, c.filters, c.kernel, c.kernel, c.stride, c.stride, c.pad, c.pad,
                     /*use_bias=*/true);
    Conv2D without_bias(c.in_channels, c.filters, c.kernel, c.kernel, c.stride, c.stride, c.pad,
                        c.pad, /*use_bias=*/false);
    without_bias.weight().value.copy_from(with_bias.weight().value);
    const Tensor bias = random_tensor({c.filters}, 4);
    with_bias.bias().value.copy_from(bias);
    const Tensor x = random_tensor({3, c.in_channels, c.height, c.width}, 5);
    const Tensor y = with_bias.forward(x, kTrain);
    Tensor expected = without_bias.forward(x, kTrain).clone();
    const int64_t spatial = expected.numel() / (3 * c.filters);
    float* e = expected.data();
    for (int64_t i = 0; i < expected.numel(); ++i) e[i] += bias.data()[(i / spatial) % c.filters];
    EXPECT_EQ(bits(y), bits(expected)) << c.name;
  }
}

}  // namespace
}  // namespace lockstep::nn
