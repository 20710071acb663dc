// Partition arithmetic of the data path: which contiguous rows of a global batch each rank
// holds. Rank r gets n_r = B/N + (r < B%N) rows starting at o_r = sum of the earlier n, so
// slices are balanced (counts differ by at most one) and some ranks get none when B < N.
// With a `group` size g > 1 the same arithmetic splits the ceil(B/g) groups of g rows
// (micro-batches; the last may be short) instead of single rows, so that every rank holds
// whole groups: the engine computes in groups whose boundaries do not depend on N.
#pragma once

#include <cstdint>
#include <vector>

namespace lockstep::data {

// Rows [offset, offset + count) of a global batch.
struct Slice {
  int64_t offset = 0;
  int64_t count = 0;

  int64_t end() const { return offset + count; }
  bool operator==(const Slice& other) const = default;
};

// The rows of rank `rank` among `ranks`. Throws lockstep::Error unless batch >= 0,
// ranks >= 1, 0 <= rank < ranks and group >= 1.
Slice partition(int64_t batch, int ranks, int rank, int64_t group = 1);

// Every rank's slice, in rank order.
std::vector<Slice> partition_all(int64_t batch, int ranks, int64_t group = 1);

// Per-rank element counts and offsets (for scatterv/gatherv) of a batch whose rows hold
// `row_elements` elements each. They are int64: the communicator splits those beyond int.
struct CountsAndDisplacements {
  std::vector<int64_t> counts;
  std::vector<int64_t> displacements;
};

// Throws lockstep::Error for bad arguments and when batch * row_elements overflows int64.
CountsAndDisplacements counts_and_displacements(int64_t batch, int ranks, int64_t row_elements,
                                                int64_t group = 1);

}  // namespace lockstep::data
