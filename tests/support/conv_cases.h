// Convolution cases for the backend tests: a ConvGeometry from its nine numbers, and a depthwise
// convolution case with the sizes of its buffers and random data for them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "lockstep/backend/backend.h"
#include "support/test_support.h"

namespace lockstep::testing {

// Channels, height and width of the image, then kernel, strides and padding (h before w).
inline backend::ConvGeometry conv_geometry(int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                                           int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  backend::ConvGeometry g;
  g.channels = c, g.height = h, g.width = w, g.kernel_h = kh, g.kernel_w = kw;
  g.stride_h = sh, g.stride_w = sw, g.pad_h = ph, g.pad_w = pw;
  return g;
}

// A batch of images under a depthwise convolution with `multiplier` filters per channel.
struct DepthwiseCase {
  backend::ConvGeometry g;
  int64_t batch, multiplier;

  int64_t out_channels() const { return g.channels * multiplier; }
  size_t x_size() const { return static_cast<size_t>(batch * g.channels * g.height * g.width); }
  size_t y_size() const {
    return static_cast<size_t>(batch * out_channels() * g.out_h() * g.out_w());
  }
  size_t w_size() const { return static_cast<size_t>(out_channels() * g.kernel_h * g.kernel_w); }
};

// Input, weight, bias and output gradient of a case, uniform in [-1, 1), drawn in that order.
struct DepthwiseData {
  std::vector<float> x, w, bias, dy;
};

inline DepthwiseData random_data(const DepthwiseCase& c, std::mt19937& rng) {
  DepthwiseData data;
  data.x = random_floats(c.x_size(), rng);
  data.w = random_floats(c.w_size(), rng);
  data.bias = random_floats(static_cast<size_t>(c.out_channels()), rng);
  data.dy = random_floats(c.y_size(), rng);
  return data;
}

}  // namespace lockstep::testing
