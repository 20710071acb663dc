// Philox4x32-10 against the published Random123 known-answer vectors, and the properties of
// sample_uniform that dropout and the test helpers rely on.
#include "lockstep/base/philox.h"

#include <gtest/gtest.h>

#include <array>

namespace lockstep::philox {
namespace {

std::array<uint32_t, 4> run(Counter counter, Key key) {
  const Counter out = philox4x32_10(counter, key);
  return {out.w[0], out.w[1], out.w[2], out.w[3]};
}

TEST(Philox, KnownAnswerZeroCounterZeroKey) {
  EXPECT_EQ(run({{0, 0, 0, 0}}, {{0, 0}}),
            (std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
}

TEST(Philox, KnownAnswerAllOnes) {
  const uint32_t ones = 0xffffffffu;
  EXPECT_EQ(run({{ones, ones, ones, ones}}, {{ones, ones}}),
            (std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
}

TEST(Philox, KnownAnswerPiDigits) {
  EXPECT_EQ(
      run({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, {{0xa4093822u, 0x299f31d0u}}),
      (std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Philox, UnitFloatCoversZeroToBelowOne) {
  EXPECT_EQ(to_unit_float(0u), 0.0f);
  EXPECT_LT(to_unit_float(0xffffffffu), 1.0f);
  EXPECT_EQ(to_unit_float(0xffffffffu), 1.0f - 1.0f / 16777216.0f);
}

TEST(Philox, SampleUniformIsAPureFunctionOfItsArguments) {
  EXPECT_EQ(sample_uniform(1, 2, 3, 4, 5), sample_uniform(1, 2, 3, 4, 5));
  const float base = sample_uniform(1, 2, 3, 4, 5);
  EXPECT_NE(base, sample_uniform(9, 2, 3, 4, 5));
  EXPECT_NE(base, sample_uniform(1, 9, 3, 4, 5));
  EXPECT_NE(base, sample_uniform(1, 2, 9, 4, 5));
  EXPECT_NE(base, sample_uniform(1, 2, 3, 9, 5));
  EXPECT_NE(base, sample_uniform(1, 2, 3, 4, 9));
}

TEST(Philox, SampleUniformMeanIsOneHalf) {
  double sum = 0.0;
  const int n = 1 << 16;
  for (int i = 0; i < n; ++i) {
    const float u =
        sample_uniform(7, 0, 0, static_cast<uint64_t>(i) / 64, static_cast<uint32_t>(i % 64));
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);  // standard error ~0.0011
}

}  // namespace
}  // namespace lockstep::philox
