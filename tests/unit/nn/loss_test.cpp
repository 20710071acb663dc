// Losses: SUM semantics (halves add up to the whole), gradients of the sum, label and
// probability targets agreeing, accuracy counts, shape errors and make_loss names.
#include "lockstep/nn/loss.h"

#include <gtest/gtest.h>

#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using testing::all_close;
using testing::random_tensor;

const Tensor kLabels = Tensor::from_vector({6}, std::vector<float>{2, 0, 1, 3, 3, 0});

Tensor one_hot(const Tensor& labels, int64_t classes) {
  Tensor t = Tensor::zeros({labels.numel(), classes});
  for (int64_t r = 0; r < labels.numel(); ++r)
    t.at({r, static_cast<int64_t>(labels.data()[r])}) = 1;
  return t;
}

// N ranks each sum their rows; the parts must add up to one process over the whole batch,
// and each part's gradient rows must equal the whole batch's.
void expect_sum_semantics(Loss& loss, const Tensor& output, const Tensor& target) {
  Tensor grad_whole, grad_a, grad_b;
  const LossValue whole = loss.forward_backward(output, target, grad_whole);
  const LossValue a = loss.forward_backward(output.rows(0, 2), target.rows(0, 2), grad_a);
  const LossValue b = loss.forward_backward(output.rows(2, 6), target.rows(2, 6), grad_b);
  EXPECT_NEAR(a.sum + b.sum, whole.sum, 1e-9 * std::abs(whole.sum) + 1e-12);
  EXPECT_EQ(a.rows + b.rows, whole.rows);
  EXPECT_EQ(whole.rows, 6);
  EXPECT_EQ(a.correct + b.correct, whole.correct);
  EXPECT_TRUE(all_close(grad_a, grad_whole.rows(0, 2), 0, 0));
  EXPECT_TRUE(all_close(grad_b, grad_whole.rows(2, 6), 0, 0));
}

TEST(LossTest, CrossEntropyWithLabelsIsASum) {
  CrossEntropyLoss loss;
  expect_sum_semantics(loss, random_tensor({6, 4}, 1, -3, 3), kLabels);
}

TEST(LossTest, CrossEntropyWithTargetsIsASum) {
  CrossEntropyLoss loss;
  expect_sum_semantics(loss, random_tensor({6, 4}, 2, -3, 3), one_hot(kLabels, 4));
}

TEST(LossTest, MeanSquaredErrorIsASum) {
  MeanSquaredErrorLoss loss;
  expect_sum_semantics(loss, random_tensor({6, 3}, 3), random_tensor({6, 3}, 4));
}

TEST(LossTest, OneHotTargetsAgreeWithLabels) {
  CrossEntropyLoss loss;
  const Tensor logits = random_tensor({6, 4}, 5, -3, 3);
  Tensor grad_labels, grad_targets;
  const LossValue labels = loss.forward_backward(logits, kLabels, grad_labels);
  const LossValue targets = loss.forward_backward(logits, one_hot(kLabels, 4), grad_targets);
  EXPECT_NEAR(labels.sum, targets.sum, 1e-5 * labels.sum);
  EXPECT_EQ(labels.correct, targets.correct);
  EXPECT_TRUE(all_close(grad_labels, grad_targets, 1e-5, 1e-6));
}

TEST(LossTest, CorrectCountsArgmaxMatches) {
  // Rows predict classes 1, 0, 2; labels 1, 1, 2 -> two correct.
  const Tensor logits = Tensor::from_vector({3, 3}, std::vector<float>{0, 5, 1, 4, 2, 0, 0, 0, 3});
  const Tensor labels = Tensor::from_vector({3}, std::vector<float>{1, 1, 2});
  CrossEntropyLoss loss;
  Tensor grad;
  EXPECT_EQ(loss.forward_backward(logits, labels, grad).correct, 2);
  EXPECT_EQ(loss.forward_backward(logits, one_hot(labels, 3), grad).correct, 2);
}

TEST(LossTest, MeanSquaredErrorIsTheMeanOverFeaturesSummedOverRows) {
  const Tensor out = Tensor::from_vector({2, 2}, std::vector<float>{1, 2, 3, 4});
  const Tensor target = Tensor::from_vector({2, 2}, std::vector<float>{0, 0, 3, 2});
  MeanSquaredErrorLoss loss;
  Tensor grad;
  // Row 0: (1 + 4) / 2 = 2.5; row 1: (0 + 4) / 2 = 2.
  EXPECT_DOUBLE_EQ(loss.forward_backward(out, target, grad).sum, 4.5);
  EXPECT_TRUE(all_close(grad, Tensor::from_vector({2, 2}, std::vector<float>{1, 2, 0, 2})));
}

TEST(LossTest, GradientsMatchFiniteDifferencesOfTheSum) {
  for (const bool mse : {false, true}) {
    std::unique_ptr<Loss> loss = make_loss(mse ? "mse" : "cross_entropy");
    Tensor output = random_tensor({6, 4}, 6, -2, 2);
    const Tensor target = mse ? random_tensor({6, 4}, 7) : kLabels;
    Tensor grad;
    loss->forward_backward(output, target, grad);
    const auto f = [&] {
      Tensor unused;
      return loss->forward_backward(output, target, unused).sum;
    };
    EXPECT_TRUE(
        all_close(grad, testing::numerical_gradient(output, f), test::kGradRtol, test::kGradAtol))
        << loss->name();
  }
}

// A rank with no rows contributes nothing and still gets a gradient of the right shape.
TEST(LossTest, EmptySliceGivesZeroLoss) {
  CrossEntropyLoss ce;
  MeanSquaredErrorLoss mse;
  Tensor grad;
  const LossValue a = ce.forward_backward(Tensor::empty({0, 4}), Tensor::empty({0}), grad);
  EXPECT_EQ(a.sum, 0.0);
  EXPECT_EQ(a.rows, 0);
  EXPECT_EQ(grad.shape(), (Shape{0, 4}));
  const LossValue b = mse.forward_backward(Tensor::empty({0, 3}), Tensor::empty({0, 3}), grad);
  EXPECT_EQ(b.sum, 0.0);
  EXPECT_EQ(grad.shape(), (Shape{0, 3}));
}

TEST(LossTest, GradOfTheRightShapeKeepsItsStorage) {
  CrossEntropyLoss loss;
  Tensor grad = Tensor::empty({6, 4});
  const Tensor before = grad;
  loss.forward_backward(random_tensor({6, 4}, 8), kLabels, grad);
  EXPECT_TRUE(grad.shares_storage(before));
}

TEST(LossTest, ShapeMismatchesNameBothShapes) {
  CrossEntropyLoss ce;
  MeanSquaredErrorLoss mse;
  Tensor grad;
  test::expect_error_naming(
      [&] {
        ce.forward_backward(Tensor::zeros({6, 4}), Tensor::zeros({5}), grad);
      },
      {"cross_entropy", "[5]", "[6, 4]"});
  test::expect_error_naming([&] { ce.forward_backward(Tensor::zeros({6}), kLabels, grad); },
                            {"cross_entropy", "[6]", "[rows, classes]"});
  test::expect_error_naming(
      [&] {
        mse.forward_backward(Tensor::zeros({6, 4}), Tensor::zeros({6, 3}), grad);
      },
      {"mse", "[6, 3]", "[6, 4]"});
}

TEST(LossTest, MakeLossKnowsKerasAndShortNames) {
  for (const char* name :
       {"cross_entropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}) {
    EXPECT_EQ(make_loss(name)->name(), "cross_entropy");
  }
  EXPECT_EQ(make_loss("mse")->name(), "mse");
  test::expect_error_naming([] { make_loss("hinge"); }, {"hinge", "cross_entropy", "mse"});
}

}  // namespace
}  // namespace lockstep::nn

namespace lockstep::nn {
namespace {

// A training step adds its passes into a LossAccumulator: the totals are the passes' values
// added in order (bitwise, on the CPU), each pass writes the same gradient as forward_backward,
// and clear() starts over.
void expect_accumulates_like_forward_backward(Loss& loss, const Tensor& output,
                                              const Tensor& target) {
  LossAccumulator totals(Device::cpu());
  LossValue expected;
  for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 2}, {2, 5}, {5, 6}}) {
    Tensor grad, accumulated_grad;
    const LossValue part =
        loss.forward_backward(output.rows(begin, end), target.rows(begin, end), grad);
    expected.sum += part.sum;
    expected.rows += part.rows;
    expected.correct += part.correct;
    EXPECT_EQ(totals.rows(), begin);
    loss.accumulate(output.rows(begin, end), target.rows(begin, end), accumulated_grad, totals);
    EXPECT_TRUE(testing::all_close(accumulated_grad, grad, 0, 0)) << "rows " << begin;
  }
  const LossValue read = totals.read();
  EXPECT_EQ(read.sum, expected.sum);
  EXPECT_EQ(read.rows, 6);
  EXPECT_EQ(read.correct, expected.correct);
  totals.clear();
  const LossValue cleared = totals.read();
  EXPECT_EQ(cleared.sum, 0.0);
  EXPECT_EQ(cleared.rows, 0);
  EXPECT_EQ(cleared.correct, 0);
}

TEST(LossAccumulatorTest, LabelsProbabilitiesAndMseAddUpLikeForwardBackward) {
  const Tensor logits = testing::random_tensor({6, 4}, 31);
  CrossEntropyLoss cross_entropy;
  {
    SCOPED_TRACE("labels");
    expect_accumulates_like_forward_backward(cross_entropy, logits, kLabels);
  }
  {
    SCOPED_TRACE("probabilities");
    expect_accumulates_like_forward_backward(cross_entropy, logits, one_hot(kLabels, 4));
  }
  MeanSquaredErrorLoss mse;
  SCOPED_TRACE("mse");
  expect_accumulates_like_forward_backward(mse, logits, testing::random_tensor({6, 4}, 32));
}

// On the CPU nothing is deferred: a label that is not a class throws from accumulate, with
// the message forward_backward gives, and adds nothing.
TEST(LossAccumulatorTest, ABadLabelThrowsAtOnceOnTheCpu) {
  LossAccumulator totals(Device::cpu());
  CrossEntropyLoss loss;
  Tensor grad;
  const Tensor bad = Tensor::from_vector({2}, std::vector<float>{1, 4});
  EXPECT_THROW(
      {
        try {
          loss.accumulate(testing::random_tensor({2, 4}, 33), bad, grad, totals);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("label of row 1 is 4"), std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  EXPECT_EQ(totals.read().rows, 0);
}

}  // namespace
}  // namespace lockstep::nn
