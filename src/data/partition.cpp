// Balanced contiguous partition of a global batch over ranks, in closed form.
#include "lockstep/data/partition.h"

#include <algorithm>
#include <limits>

#include "lockstep/base/error.h"

namespace lockstep::data {

Slice partition(int64_t batch, int ranks, int rank, int64_t group) {
  LOCKSTEP_CHECK(batch >= 0, "partition: expected a batch of at least 0 rows, found " << batch);
  LOCKSTEP_CHECK(ranks >= 1, "partition: expected at least 1 rank, found " << ranks);
  LOCKSTEP_CHECK(rank >= 0 && rank < ranks,
                 "partition: rank " << rank << " is outside 0 to " << ranks - 1);
  LOCKSTEP_CHECK(group >= 1, "partition: expected a group of at least 1 row, found " << group);
  const int64_t units = batch / group + (batch % group != 0 ? 1 : 0);
  const int64_t base = units / ranks;
  const int64_t extra = units % ranks;
  // The first `extra` ranks hold one unit more; each earlier rank shifts the offset by its count.
  const int64_t first = rank * base + std::min<int64_t>(rank, extra);
  const int64_t count = base + (rank < extra ? 1 : 0);
  const int64_t begin = std::min(first * group, batch);
  return Slice{begin, std::min((first + count) * group, batch) - begin};
}

std::vector<Slice> partition_all(int64_t batch, int ranks, int64_t group) {
  LOCKSTEP_CHECK(ranks >= 1, "partition: expected at least 1 rank, found " << ranks);
  std::vector<Slice> slices;
  slices.reserve(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) slices.push_back(partition(batch, ranks, r, group));
  return slices;
}

CountsAndDisplacements counts_and_displacements(int64_t batch, int ranks, int64_t row_elements,
                                                int64_t group) {
  LOCKSTEP_CHECK(row_elements >= 0,
                 "counts_and_displacements: expected row_elements >= 0, found " << row_elements);
  LOCKSTEP_CHECK(row_elements == 0 || batch <= std::numeric_limits<int64_t>::max() / row_elements,
                 "counts_and_displacements: " << batch << " rows of " << row_elements
                                              << " elements overflow int64");
  CountsAndDisplacements result;
  for (const Slice& slice : partition_all(batch, ranks, group)) {
    result.counts.push_back(slice.count * row_elements);
    result.displacements.push_back(slice.offset * row_elements);
  }
  return result;
}

}  // namespace lockstep::data
