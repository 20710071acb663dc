// Dropout masks are keyed by (seed, stream, step, global sample id): reproducible, independent
// of how rows are split across calls (or ranks), and dropping about `rate` of the elements.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

std::vector<float> mask_of(int64_t rows, int64_t cols, float rate, const DropoutKey& key) {
  const std::vector<float> x(static_cast<size_t>(rows * cols), 1.0f);
  std::vector<float> y(x.size()), mask(x.size());
  cpu().dropout_forward(x.data(), y.data(), mask.data(), rows, cols, rate, key);
  return mask;
}

DropoutKey key(uint64_t seed, uint32_t stream, uint64_t step, int64_t first_sample = 0) {
  DropoutKey k;
  k.seed = seed, k.stream = stream, k.step = step, k.first_sample = first_sample;
  return k;
}

TEST(Dropout, OutputIsInputTimesScaledMask) {
  const Tensor x = testing::random_tensor({4, 9}, 3);
  std::vector<float> y(36), mask(36);
  cpu().dropout_forward(x.data(), y.data(), mask.data(), 4, 9, 0.25f, key(1, 2, 3));
  for (int i = 0; i < 36; ++i) {
    EXPECT_TRUE(mask[i] == 0.0f || mask[i] == 1.0f / 0.75f) << mask[i];
    EXPECT_EQ(y[i], x.data()[i] * mask[i]);
  }
}

TEST(Dropout, SameKeyGivesSameMask) {
  EXPECT_EQ(mask_of(5, 33, 0.5f, key(7, 1, 10)), mask_of(5, 33, 0.5f, key(7, 1, 10)));
}

TEST(Dropout, MaskOfASampleDoesNotDependOnHowRowsAreSplit) {
  const std::vector<float> whole = mask_of(4, 17, 0.3f, key(42, 0, 5, 0));
  std::vector<float> split = mask_of(2, 17, 0.3f, key(42, 0, 5, 0));
  const std::vector<float> rest = mask_of(2, 17, 0.3f, key(42, 0, 5, 2));
  split.insert(split.end(), rest.begin(), rest.end());
  EXPECT_EQ(whole, split);
}

TEST(Dropout, KeepFractionIsCloseToOneMinusRate) {
  for (float rate : {0.1f, 0.5f, 0.9f}) {
    const int64_t rows = 256, cols = 1024;
    const std::vector<float> mask = mask_of(rows, cols, rate, key(3, 0, 0));
    int64_t kept = 0;
    for (float m : mask) kept += m != 0.0f;
    const double fraction = static_cast<double>(kept) / static_cast<double>(rows * cols);
    // 262144 Bernoulli draws: the standard deviation of the fraction is below 0.001.
    EXPECT_NEAR(fraction, 1.0 - rate, 0.005) << "rate " << rate;
  }
}

TEST(Dropout, DifferentSeedStreamOrStepGiveDifferentMasks) {
  const std::vector<float> base = mask_of(8, 64, 0.5f, key(1, 0, 0));
  EXPECT_NE(base, mask_of(8, 64, 0.5f, key(2, 0, 0)));
  EXPECT_NE(base, mask_of(8, 64, 0.5f, key(1, 1, 0)));
  EXPECT_NE(base, mask_of(8, 64, 0.5f, key(1, 0, 1)));
  EXPECT_NE(base, mask_of(8, 64, 0.5f, key(1, 0, 0, 8)));                   // other samples
  EXPECT_NE(base, mask_of(8, 64, 0.5f, key(uint64_t{1} << 32 | 1, 0, 0)));  // high seed bits
  EXPECT_NE(base, mask_of(8, 64, 0.5f, key(1, 0, uint64_t{1} << 32)));      // high step bits
}

TEST(Dropout, RateZeroKeepsEverything) {
  EXPECT_EQ(mask_of(3, 50, 0.0f, key(9, 9, 9)), std::vector<float>(150, 1.0f));
}

TEST(Dropout, InvalidRateThrows) {
  std::vector<float> buffer(4);
  for (float rate : {-0.1f, 1.0f, 1.5f, NAN}) {
    EXPECT_THROW(cpu().dropout_forward(buffer.data(), buffer.data(), buffer.data(), 2, 2, rate,
                                       key(0, 0, 0)),
                 Error)
        << "rate " << rate;
  }
  EXPECT_THROW(cpu().dropout_forward(buffer.data(), buffer.data(), buffer.data(), 2, 2, 0.5f,
                                     key(0, 0, 0, -1)),
               Error);
}

}  // namespace
}  // namespace lockstep::backend
