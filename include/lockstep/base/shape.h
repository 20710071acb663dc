// Shape: the extents of a tensor, outermost first ([batch, features], NCHW for images).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

using Shape = std::vector<int64_t>;

// Product of the extents, checked for negative extents and int64 overflow.
int64_t shape_numel(const Shape& shape);

// "[2, 3, 4]".
std::string to_string(const Shape& shape);

}  // namespace lockstep
