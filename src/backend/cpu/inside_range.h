// inside_range: which output positions of a convolution read the image, not its padding, for
// one kernel offset along one axis (shared by the CPU convolution and depthwise convolution).
#pragma once

#include <algorithm>
#include <cstdint>

namespace lockstep::backend::cpu {

// Output positions [first, last) along one axis whose input coordinate
// o * stride - pad + k lies inside [0, size); the others read padding.
struct InsideRange {
  int64_t first, last;
};

inline InsideRange inside_range(int64_t k, int64_t pad, int64_t stride, int64_t size, int64_t out) {
  const int64_t i0 = k - pad;
  const int64_t first = std::min(i0 >= 0 ? 0 : (-i0 + stride - 1) / stride, out);
  const int64_t last = std::clamp(i0 >= size ? 0 : (size - 1 - i0) / stride + 1, first, out);
  return {first, last};
}

}  // namespace lockstep::backend::cpu
