// Initializers: fans as Keras/PyTorch compute them, the documented ranges and moments, and
// values that depend only on (seed, stream).
#include "lockstep/nn/initializers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "nn_test_helpers.h"

namespace lockstep::nn {
namespace {

struct Moments {
  double mean = 0, stddev = 0, max_abs = 0;
};

Moments moments(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  Moments m;
  for (float x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (float x : v) {
    m.stddev += (x - m.mean) * (x - m.mean);
    m.max_abs = std::max(m.max_abs, std::abs(static_cast<double>(x)));
  }
  m.stddev = std::sqrt(m.stddev / static_cast<double>(v.size()));
  return m;
}

TEST(InitializersTest, FansFollowKerasAndPyTorch) {
  const Fans dense = compute_fans({300, 784});  // Dense weight [units, in]
  EXPECT_EQ(dense.fan_in, 784);
  EXPECT_EQ(dense.fan_out, 300);
  const Fans conv = compute_fans({64, 32, 5, 3});  // receptive field 15
  EXPECT_EQ(conv.fan_in, 32 * 15);
  EXPECT_EQ(conv.fan_out, 64 * 15);
}

// A uniform on [-a, a) has standard deviation a / sqrt(3); with 2^16 samples the sample
// moments lie within 1% of it and the extreme within 0.1% of a.
TEST(InitializersTest, GlorotUniformSpansItsLimit) {
  Tensor w = Tensor::empty({256, 256});
  glorot_uniform(w, 1, 0);
  const double limit = std::sqrt(6.0 / 512.0);
  const Moments m = moments(w);
  // Values are (2u - 1) * limit rounded to float: never beyond the limit rounded to float.
  EXPECT_LE(m.max_abs, static_cast<float>(limit));
  EXPECT_GT(m.max_abs, 0.999 * limit);
  EXPECT_NEAR(m.stddev, limit / std::sqrt(3.0), 0.01 * limit);
  EXPECT_NEAR(m.mean, 0.0, 0.01 * limit);
}

TEST(InitializersTest, HeUniformUsesFanInOnly) {
  Tensor w = Tensor::empty({64, 16, 4, 4});  // fan_in 256
  he_uniform(w, 2, 1);
  const double limit = std::sqrt(6.0 / 256.0);
  const Moments m = moments(w);
  EXPECT_LE(m.max_abs, static_cast<float>(limit));
  EXPECT_GT(m.max_abs, 0.999 * limit);
}

// Normal with stddev sqrt(2/fan_in), not truncated: about 4.55% of samples lie beyond two
// standard deviations (a uniform of the same stddev has none beyond 1.73).
TEST(InitializersTest, HeNormalHasTheKaimingStandardDeviation) {
  Tensor w = Tensor::empty({256, 256});
  he_normal(w, 3, 2);
  const double stddev = std::sqrt(2.0 / 256.0);
  const Moments m = moments(w);
  EXPECT_NEAR(m.stddev, stddev, 0.02 * stddev);
  EXPECT_NEAR(m.mean, 0.0, 0.02 * stddev);
  const std::vector<float> v = w.to_vector();
  const auto beyond =
      std::count_if(v.begin(), v.end(), [&](float x) { return std::abs(x) > 2.0 * stddev; });
  EXPECT_NEAR(static_cast<double>(beyond) / static_cast<double>(v.size()), 0.0455, 0.005);
}

TEST(InitializersTest, ValuesDependOnlyOnSeedAndStream) {
  Tensor a = Tensor::empty({10, 20}), b = Tensor::empty({10, 20});
  for (const std::string& name : initializer_names()) {
    if (name == "zeros") continue;
    SCOPED_TRACE(name);
    initialize(a, name, 7, 3);
    initialize(b, name, 7, 3);
    EXPECT_EQ(a.to_vector(), b.to_vector());
    initialize(b, name, 7, 4);
    EXPECT_NE(a.to_vector(), b.to_vector());
    initialize(b, name, 8, 3);
    EXPECT_NE(a.to_vector(), b.to_vector());
  }
}

TEST(InitializersTest, ZerosAndUnknownNames) {
  Tensor w = Tensor::full({3, 3}, 5.0f);
  initialize(w, "zeros", 0, 0);
  EXPECT_TRUE(testing::all_close(w, Tensor::zeros({3, 3})));
  EXPECT_FALSE(is_initializer("orthogonal"));
  test::expect_error_naming([&] { initialize(w, "orthogonal", 0, 0); },
                            {"orthogonal", "glorot_uniform"});
}

}  // namespace
}  // namespace lockstep::nn
