// Dropout: identity in eval mode; in training, a mask keyed by (seed, stream, step, sample)
// so that a batch split across calls (or ranks) gets the masks of the whole batch.
#include "lockstep/nn/dropout.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using testing::random_tensor;

TEST(DropoutTest, EvalModeIsIdentityForwardAndBackward) {
  Dropout dropout(0.5, 0);
  const Tensor x = random_tensor({4, 5}, 1);
  EXPECT_EQ(dropout.forward(x, {}).to_vector(), x.to_vector());
  const Tensor dy = random_tensor({4, 5}, 2);
  EXPECT_EQ(dropout.backward(dy).to_vector(), dy.to_vector());
}

TEST(DropoutTest, SplitBatchGetsTheMasksOfTheWholeBatch) {
  const Tensor x = random_tensor({7, 3, 4}, 3);
  const Tensor dy = random_tensor({7, 3, 4}, 4);
  Dropout whole(0.3, 5), part(0.3, 5);
  const ForwardContext context{true, 11, 6, 100};
  const Tensor y = whole.forward(x, context).clone();
  const Tensor dx = whole.backward(dy).clone();

  // Rows [0, 3) then [3, 7), each told its first global sample id.
  for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 3}, {3, 7}}) {
    const ForwardContext slice{true, 11, 6, 100 + begin};
    EXPECT_TRUE(
        testing::all_close(part.forward(x.rows(begin, end), slice), y.rows(begin, end), 0, 0));
    EXPECT_TRUE(testing::all_close(part.backward(dy.rows(begin, end)), dx.rows(begin, end), 0, 0));
  }
}

TEST(DropoutTest, MaskChangesWithStepSeedStreamAndSample) {
  const Tensor x = Tensor::full({2, 64}, 1.0f);
  const auto run = [&](uint32_t stream, const ForwardContext& context) {
    Dropout dropout(0.5, stream);
    return dropout.forward(x, context).to_vector();
  };
  const std::vector<float> base = run(0, {true, 1, 1, 0});
  EXPECT_EQ(run(0, {true, 1, 1, 0}), base);
  EXPECT_NE(run(0, {true, 1, 2, 0}), base);  // another step
  EXPECT_NE(run(0, {true, 2, 1, 0}), base);  // another seed
  EXPECT_NE(run(1, {true, 1, 1, 0}), base);  // another layer
  EXPECT_NE(run(0, {true, 1, 1, 1}), base);  // other samples
}

// Kept elements are scaled by 1/(1-rate) so the expectation is unchanged; about `rate` of
// 10,000 elements are dropped (binomial standard deviation 0.0046).
TEST(DropoutTest, DropsAboutRateAndRescalesTheRest) {
  Dropout dropout(0.25, 3);
  const std::vector<float> y =
      dropout.forward(Tensor::full({100, 100}, 2.0f), {true, 5, 0, 0}).to_vector();
  int64_t dropped = 0;
  for (float v : y) {
    if (v == 0.0f) {
      ++dropped;
    } else {
      EXPECT_FLOAT_EQ(v, 2.0f / 0.75f);
    }
  }
  EXPECT_NEAR(static_cast<double>(dropped) / 10000.0, 0.25, 0.02);
}

}  // namespace
}  // namespace lockstep::nn
