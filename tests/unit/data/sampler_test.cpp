// Sampler: the epoch order is a permutation that depends only on (seed, epoch), pinned to
// known values so that any change of the algorithm shows, and batches cut it in order.
#include "lockstep/data/sampler.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep::data {
namespace {

bool is_permutation_of_range(std::vector<int64_t> order) {
  std::sort(order.begin(), order.end());
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

TEST(Sampler, OrderIsAPermutation) {
  for (int64_t n : {0, 1, 2, 7, 100, 1000}) {
    EXPECT_TRUE(is_permutation_of_range(global_order(n, 42, 3))) << n;
  }
}

TEST(Sampler, DependsOnlyOnSeedAndEpoch) {
  EXPECT_EQ(global_order(500, 7, 2), global_order(500, 7, 2));
  EXPECT_NE(global_order(500, 7, 2), global_order(500, 7, 3));
  EXPECT_NE(global_order(500, 7, 2), global_order(500, 8, 2));
  EXPECT_NE(global_order(500, 7, 0), global_order(500, uint64_t{7} | (uint64_t{1} << 32), 0));
}

TEST(Sampler, NoShuffleIsTheIdentity) {
  std::vector<int64_t> identity(9);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(global_order(9, 123, 5, false), identity);
}

// Pinned output: these values are part of the reproducibility contract of saved runs.
TEST(Sampler, PinnedOrderForAFixedSeed) {
  EXPECT_EQ(global_order(10, 1234, 0), std::vector<int64_t>({9, 8, 4, 2, 7, 0, 5, 1, 6, 3}));
  EXPECT_EQ(global_order(10, 1234, 1), std::vector<int64_t>({4, 9, 1, 6, 8, 5, 0, 2, 3, 7}));
  const std::vector<int64_t> big = global_order(60000, 42, 7);
  EXPECT_EQ(std::vector<int64_t>(big.begin(), big.begin() + 6),
            std::vector<int64_t>({41061, 41248, 38931, 12240, 3867, 55195}));
}

// Each element lands in each position about equally often (an off-by-one in Fisher-Yates,
// such as drawing j below i instead of up to i, would never leave an element in place).
TEST(Sampler, PositionsAreUniform) {
  const int n = 5, epochs = 10000;
  std::vector<int> count(n * n, 0);
  for (int e = 0; e < epochs; ++e) {
    const std::vector<int64_t> order = global_order(n, 99, e);
    for (int p = 0; p < n; ++p) ++count[static_cast<size_t>(p * n + order[static_cast<size_t>(p)])];
  }
  for (int c : count) {
    EXPECT_GT(c, epochs / n - 200);
    EXPECT_LT(c, epochs / n + 200);
  }
}

TEST(Sampler, BatchesCoverTheOrder) {
  EXPECT_EQ(batches_per_epoch(10, 4, false), 3);
  EXPECT_EQ(batches_per_epoch(10, 4, true), 2);
  EXPECT_EQ(batches_per_epoch(12, 4, false), 3);
  EXPECT_EQ(batches_per_epoch(0, 4, false), 0);
  EXPECT_EQ(batches_per_epoch(3, 4, true), 0);
  const std::vector<int64_t> order = global_order(10, 5, 0);
  std::vector<int64_t> joined;
  for (int64_t b = 0; b < batches_per_epoch(10, 4, false); ++b) {
    const auto rows = batch_rows(order, b, 4, false);
    EXPECT_EQ(rows.size(), b < 2 ? 4u : 2u);
    joined.insert(joined.end(), rows.begin(), rows.end());
  }
  EXPECT_EQ(joined, order);
  EXPECT_THROW(batch_rows(order, 2, 4, true), Error);
  EXPECT_THROW(batch_rows(order, 3, 4, false), Error);
  EXPECT_THROW(batch_rows(order, -1, 4, false), Error);
}

TEST(Sampler, RejectsBadArguments) {
  EXPECT_THROW(global_order(-1, 0, 0), Error);
  EXPECT_THROW(global_order(5, 0, -1), Error);
  EXPECT_THROW(global_order(5, 0, int64_t{1} << 32), Error);
  EXPECT_THROW(batches_per_epoch(10, 0, false), Error);
  EXPECT_THROW(batches_per_epoch(-1, 2, false), Error);
}

}  // namespace
}  // namespace lockstep::data
