// Partition arithmetic of the data path: which contiguous rows of a global batch each rank
// holds. Rank r gets n_r = B/N + (r < B%N) rows starting at o_r = sum of the earlier n, so
// slices are balanced (counts differ by at most one) and some ranks get none when B < N.
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

// The slice of rank `rank` among `ranks`. Throws lockstep::Error unless batch >= 0,
// ranks >= 1 and 0 <= rank < ranks.
Slice partition(int64_t batch, int ranks, int rank);

// Every rank's slice, in rank order.
std::vector<Slice> partition_all(int64_t batch, int ranks);

// Per-rank element counts and offsets (for scatterv/gatherv) of a batch whose rows hold
// `row_elements` elements each. They are int64: the communicator splits those beyond int.
struct CountsAndDisplacements {
  std::vector<int64_t> counts;
  std::vector<int64_t> displacements;
};

// Throws lockstep::Error for bad arguments and when batch * row_elements overflows int64.
CountsAndDisplacements counts_and_displacements(int64_t batch, int ranks, int64_t row_elements);

}  // namespace lockstep::data
