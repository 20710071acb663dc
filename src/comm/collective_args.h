// Argument checks shared by every Communicator. They run before any communication, so a call
// that every rank makes with the same bad arguments throws on every rank and none is left
// waiting inside a collective.
#pragma once

#include <cstdint>
#include <vector>

namespace lockstep::comm::detail {

// Each check throws lockstep::Error whose message starts with `where`
// (e.g. "MpiCommunicator::scatterv") and says what was expected and what was found.

// 0 <= root < size.
void check_root(const char* where, int root, int size);
// A byte or element count of at least 0.
void check_length(const char* where, const char* what, int64_t length);
// A non-null buffer wherever `length` elements are to be read or written.
void check_buffer(const char* where, const char* what, const void* buffer, int64_t length);
// counts and displacements of scatterv/gatherv: `size` entries each, none negative,
// displacement + count within int64, and no element of root's buffer named twice.
void check_layout(const char* where, const std::vector<int64_t>& counts,
                  const std::vector<int64_t>& displacements, int size);
// The elements root's buffer spans under a checked layout: the largest end of a non-empty region.
int64_t layout_extent(const std::vector<int64_t>& counts,
                      const std::vector<int64_t>& displacements);
}  // namespace lockstep::comm::detail
