// Losses: softmax cross-entropy (a hand-computed case, extreme logits, labels path == one-hot
// targets path, finite-difference gradient, label validation), MSE and count_correct.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

TEST(SoftmaxCrossEntropy, HandComputedCase) {
  // Row 0: logits [1, 2, 3], label 2. Row 1: logits [0, 0, 0], label 0.
  const std::vector<float> logits = {1, 2, 3, 0, 0, 0};
  const std::vector<float> labels = {2, 0};
  std::vector<float> d(6);
  const double loss =
      cpu().softmax_cross_entropy_labels(logits.data(), labels.data(), d.data(), 2, 3);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(loss, (std::log(z) - 3.0) + std::log(3.0), 1e-6);  // SUM over rows
  EXPECT_NEAR(d[0], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(d[1], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(d[2], std::exp(3.0) / z - 1.0, 1e-6);
  EXPECT_NEAR(d[3], 1.0 / 3.0 - 1.0, 1e-6);
  EXPECT_NEAR(d[4], 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(d[5], 1.0 / 3.0, 1e-6);
}

TEST(SoftmaxCrossEntropy, HugeLogitsStayFiniteAndCorrect) {
  const std::vector<float> logits = {1e4f, -1e4f, 0.0f, 1e4f, -1e4f, 0.0f, 1e4f, -1e4f, 0.0f};
  const std::vector<float> labels = {0, 1, 2};
  std::vector<float> d(9);
  const double loss =
      cpu().softmax_cross_entropy_labels(logits.data(), labels.data(), d.data(), 3, 3);
  EXPECT_NEAR(loss, 0.0 + 2e4 + 1e4, 1e-6);
  const std::vector<float> expected = {0, 0, 0, 1, -1, 0, 1, 0, -1};
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(std::isfinite(d[i])) << i;
    EXPECT_NEAR(d[i], expected[i], 1e-6) << i;
  }
  // The same through the targets path.
  std::vector<float> targets(9, 0.0f), d2(9);
  for (int r = 0; r < 3; ++r) targets[r * 3 + r] = 1.0f;
  EXPECT_NEAR(cpu().softmax_cross_entropy_targets(logits.data(), targets.data(), d2.data(), 3, 3),
              3e4, 1e-6);
  EXPECT_EQ(d, d2);
}

TEST(SoftmaxCrossEntropy, LabelsPathEqualsOneHotTargetsPath) {
  const int64_t rows = 6, classes = 5;
  const Tensor logits = testing::random_tensor({rows, classes}, 11, -4.0f, 4.0f);
  const std::vector<float> labels = {0, 4, 2, 2, 1, 3};
  std::vector<float> targets(rows * classes, 0.0f);
  for (int64_t r = 0; r < rows; ++r) targets[r * classes + static_cast<int64_t>(labels[r])] = 1;
  std::vector<float> d_labels(rows * classes), d_targets(rows * classes);
  const double a = cpu().softmax_cross_entropy_labels(logits.data(), labels.data(), d_labels.data(),
                                                      rows, classes);
  const double b = cpu().softmax_cross_entropy_targets(logits.data(), targets.data(),
                                                       d_targets.data(), rows, classes);
  EXPECT_NEAR(a, b, 1e-9);
  for (size_t i = 0; i < d_labels.size(); ++i) EXPECT_NEAR(d_labels[i], d_targets[i], 1e-7);
}

TEST(SoftmaxCrossEntropy, SoftTargetsGradientMatchesFiniteDifferences) {
  const int64_t rows = 3, classes = 4;
  Tensor logits = testing::random_tensor({rows, classes}, 5, -2.0f, 2.0f);
  const std::vector<float> targets = {0.1f, 0.2f, 0.3f, 0.4f, 1, 0, 0, 0, 0.25f, 0.25f, 0.5f, 0};
  Tensor d = Tensor::empty({rows, classes}), scratch = Tensor::empty({rows, classes});
  auto loss = [&] {
    return cpu().softmax_cross_entropy_targets(logits.data(), targets.data(), scratch.data(), rows,
                                               classes);
  };
  const Tensor numeric = testing::numerical_gradient(logits, loss, 1e-2);
  cpu().softmax_cross_entropy_targets(logits.data(), targets.data(), d.data(), rows, classes);
  EXPECT_TRUE(testing::all_close(d, numeric, 1e-3, 1e-4));
}

TEST(SoftmaxCrossEntropy, InvalidLabelsThrowNamingRowAndValue) {
  const std::vector<float> logits(6, 0.0f);
  std::vector<float> d(6);
  for (float bad : {-1.0f, 3.0f, 1.5f, NAN, INFINITY}) {
    const std::vector<float> labels = {0.0f, bad};
    try {
      cpu().softmax_cross_entropy_labels(logits.data(), labels.data(), d.data(), 2, 3);
      ADD_FAILURE() << "label " << bad << " was accepted";
    } catch (const Error& e) {
      const std::string message = e.message();
      EXPECT_NE(message.find("row 1"), std::string::npos) << message;
      std::ostringstream value;
      value << bad;
      EXPECT_NE(message.find(value.str()), std::string::npos) << message;
    }
  }
}

TEST(MeanSquaredError, ClosedForm) {
  const std::vector<float> pred = {1, 2, 3, 0, 0, 0};
  const std::vector<float> target = {1, 0, 0, 1, 1, 2};
  std::vector<float> d(6);
  const double loss = cpu().mean_squared_error(pred.data(), target.data(), d.data(), 2, 3);
  EXPECT_NEAR(loss, (0 + 4 + 9) / 3.0 + (1 + 1 + 4) / 3.0, 1e-6);
  const std::vector<float> expected = {0, 4.0f / 3, 2, -2.0f / 3, -2.0f / 3, -4.0f / 3};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(d[i], expected[i], 1e-6) << i;
}

TEST(CountCorrect, FirstMaximumDecides) {
  // Row 1 ties classes 0 and 2: the first maximum (0) is the prediction.
  const std::vector<float> logits = {0, 5, 1, 3, 1, 3, -1, -2, -0.5f};
  EXPECT_EQ(cpu().count_correct(logits.data(), std::vector<float>{1, 0, 2}.data(), 3, 3), 3);
  EXPECT_EQ(cpu().count_correct(logits.data(), std::vector<float>{1, 2, 0}.data(), 3, 3), 1);
}

}  // namespace
}  // namespace lockstep::backend
