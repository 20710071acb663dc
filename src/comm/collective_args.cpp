// Argument checks shared by the communicators: root, lengths, buffers, scatterv/gatherv layouts.
#include "comm/collective_args.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "lockstep/base/error.h"

namespace lockstep::comm::detail {

void check_root(const char* where, int root, int size) {
  LOCKSTEP_CHECK(root >= 0 && root < size,
                 where << ": root must be a rank from 0 to " << size - 1 << ", found " << root);
}

void check_length(const char* where, const char* what, int64_t length) {
  LOCKSTEP_CHECK(length >= 0, where << ": " << what << " must be at least 0, found " << length);
}

void check_buffer(const char* where, const char* what, const void* buffer, int64_t length) {
  LOCKSTEP_CHECK(buffer != nullptr || length == 0,
                 where << ": " << what << " is null but must hold " << length << " elements");
}

namespace {

// Two non-empty regions of root's buffer that share an element would be read or written
// twice, which MPI forbids; sorting by start finds any such pair in one pass.
void check_disjoint(const char* where, const std::vector<int64_t>& counts,
                    const std::vector<int64_t>& displacements) {
  std::vector<size_t> order(counts.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::erase_if(order, [&](size_t r) { return counts[r] == 0; });
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return displacements[a] < displacements[b]; });
  for (size_t i = 1; i < order.size(); ++i) {
    const size_t before = order[i - 1], after = order[i];
    LOCKSTEP_CHECK(displacements[before] + counts[before] <= displacements[after],
                   where << ": the regions of rank " << before << " (elements "
                         << displacements[before] << " to "
                         << displacements[before] + counts[before] << ") and rank " << after
                         << " (from element " << displacements[after]
                         << ") overlap; each element of root's buffer may belong to one rank");
  }
}

}  // namespace

void check_layout(const char* where, const std::vector<int64_t>& counts,
                  const std::vector<int64_t>& displacements, int size) {
  const auto expected = static_cast<size_t>(size);
  LOCKSTEP_CHECK(counts.size() == expected, where << ": counts must have one entry per rank ("
                                                  << size << "), found " << counts.size());
  LOCKSTEP_CHECK(displacements.size() == expected,
                 where << ": displacements must have one entry per rank (" << size << "), found "
                       << displacements.size());
  for (size_t r = 0; r < expected; ++r) {
    LOCKSTEP_CHECK(counts[r] >= 0,
                   where << ": counts[" << r << "] must be at least 0, found " << counts[r]);
    LOCKSTEP_CHECK(displacements[r] >= 0, where << ": displacements[" << r
                                                << "] must be at least 0, found "
                                                << displacements[r]);
    LOCKSTEP_CHECK(counts[r] <= std::numeric_limits<int64_t>::max() - displacements[r],
                   where << ": displacements[" << r << "] + counts[" << r << "] overflows int64 ("
                         << displacements[r] << " + " << counts[r] << ")");
  }
  check_disjoint(where, counts, displacements);
}

int64_t layout_extent(const std::vector<int64_t>& counts,
                      const std::vector<int64_t>& displacements) {
  int64_t extent = 0;
  for (size_t r = 0; r < counts.size() && r < displacements.size(); ++r) {
    if (counts[r] > 0) extent = std::max(extent, displacements[r] + counts[r]);
  }
  return extent;
}

}  // namespace lockstep::comm::detail
