// Partition arithmetic: slices cover the batch contiguously and in rank order, are balanced,
// and follow the closed form n_r = B/N + (r < B%N), o_r = r*(B/N) + min(r, B%N).
#include "lockstep/data/partition.h"

#include <algorithm>

#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep::data {
namespace {

TEST(Partition, MatchesClosedFormOverManyBatchesAndRanks) {
  for (int ranks = 1; ranks <= 17; ++ranks) {
    for (int64_t batch = 0; batch <= 70; ++batch) {
      const std::vector<Slice> slices = partition_all(batch, ranks);
      ASSERT_EQ(slices.size(), static_cast<size_t>(ranks));
      int64_t next = 0, smallest = batch, largest = 0;
      for (int r = 0; r < ranks; ++r) {
        const Slice s = slices[static_cast<size_t>(r)];
        EXPECT_EQ(s.offset, next) << "B=" << batch << " N=" << ranks << " r=" << r;
        EXPECT_EQ(s.count, batch / ranks + (r < batch % ranks ? 1 : 0));
        next = s.end();
        smallest = std::min(smallest, s.count);
        largest = std::max(largest, s.count);
      }
      EXPECT_EQ(next, batch) << "B=" << batch << " N=" << ranks;
      EXPECT_LE(largest - smallest, 1) << "B=" << batch << " N=" << ranks;
    }
  }
}

TEST(Partition, SmallBatchesLeaveLaterRanksEmpty) {
  EXPECT_EQ(partition(3, 8, 0), (Slice{0, 1}));
  EXPECT_EQ(partition(3, 8, 2), (Slice{2, 1}));
  EXPECT_EQ(partition(3, 8, 3), (Slice{3, 0}));
  EXPECT_EQ(partition(3, 8, 7), (Slice{3, 0}));
  EXPECT_EQ(partition(0, 4, 2), (Slice{0, 0}));
  EXPECT_EQ(partition(10, 4, 1), (Slice{3, 3}));
  EXPECT_EQ(partition(10, 4, 2), (Slice{6, 2}));
  EXPECT_EQ(partition(10, 1, 0), (Slice{0, 10}));
}

TEST(Partition, RejectsBadArguments) {
  EXPECT_THROW(partition(-1, 2, 0), Error);
  EXPECT_THROW(partition(4, 0, 0), Error);
  EXPECT_THROW(partition(4, 2, 2), Error);
  EXPECT_THROW(partition(4, 2, -1), Error);
  EXPECT_THROW(partition_all(4, 0), Error);
  EXPECT_THROW(counts_and_displacements(4, 2, -1), Error);
  EXPECT_THROW(counts_and_displacements(int64_t{1} << 40, 2, int64_t{1} << 30), Error);
}

// Counts and displacements are the slices times the row size, in int64 even beyond int.
TEST(Partition, CountsAndDisplacementsScaleRows) {
  const CountsAndDisplacements cd = counts_and_displacements(10, 4, 784);
  EXPECT_EQ(cd.counts, std::vector<int64_t>({3 * 784, 3 * 784, 2 * 784, 2 * 784}));
  EXPECT_EQ(cd.displacements, std::vector<int64_t>({0, 3 * 784, 6 * 784, 8 * 784}));
  const CountsAndDisplacements wide = counts_and_displacements(3, 2, int64_t{1} << 31);
  EXPECT_EQ(wide.counts, std::vector<int64_t>({int64_t{1} << 32, int64_t{1} << 31}));
  EXPECT_EQ(wide.displacements, std::vector<int64_t>({0, int64_t{1} << 32}));
  EXPECT_EQ(counts_and_displacements(0, 3, 5).counts, std::vector<int64_t>({0, 0, 0}));
}

}  // namespace
}  // namespace lockstep::data

namespace lockstep::data {
namespace {

// Grouped partition: whole groups of g rows per rank (the last group of the batch may be
// short), balanced in groups, contiguous, covering the batch; g = 1 is the row partition.
TEST(Partition, GroupsKeepMicroBatchBoundariesWhateverTheRankCount) {
  for (int64_t batch = 0; batch <= 70; ++batch) {
    for (int ranks = 1; ranks <= 9; ++ranks) {
      EXPECT_EQ(partition_all(batch, ranks, 1), partition_all(batch, ranks));
      for (int64_t group : {2, 3, 16, 32}) {
        const std::vector<Slice> slices = partition_all(batch, ranks, group);
        int64_t next = 0, min_groups = INT64_MAX, max_groups = 0;
        for (const Slice& s : slices) {
          EXPECT_EQ(s.offset, next) << batch << " rows, " << ranks << " ranks, group " << group;
          EXPECT_EQ(s.offset % group == 0 || s.count == 0, true);
          EXPECT_TRUE(s.count % group == 0 || s.end() == batch);
          const int64_t groups = (s.count + group - 1) / group;
          min_groups = std::min(min_groups, groups);
          max_groups = std::max(max_groups, groups);
          next = s.end();
        }
        EXPECT_EQ(next, batch);
        EXPECT_LE(max_groups - min_groups, 1);
      }
    }
  }
  EXPECT_EQ(partition(100, 3, 1, 16), (Slice{48, 32}));  // groups 3, 2, 2 of 7
  EXPECT_EQ(partition(100, 3, 2, 16), (Slice{80, 20}));  // the last group holds 4 rows
  EXPECT_THROW(partition(10, 2, 0, 0), Error);
}

}  // namespace
}  // namespace lockstep::data
