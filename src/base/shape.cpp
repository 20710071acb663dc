// Shape helpers: element counts with overflow checks, printing.
#include "lockstep/base/shape.h"

#include <limits>

#include "lockstep/base/error.h"

namespace lockstep {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t extent : shape) {
    LOCKSTEP_CHECK(extent >= 0, "shape " << to_string(shape) << " has a negative extent");
    LOCKSTEP_CHECK(extent == 0 || n <= std::numeric_limits<int64_t>::max() / extent,
                   "shape " << to_string(shape) << " has more elements than int64 can count");
    n *= extent;
  }
  return n;
}

std::string to_string(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

}  // namespace lockstep
