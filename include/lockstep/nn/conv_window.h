// ConvWindow: the kernel, strides and padding of a convolution layer (Conv2D, DepthwiseConv2D,
// SeparableConv2D), with their checks, the backend geometry, output extents and spec fields.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "lockstep/backend/backend.h"
#include "lockstep/base/shape.h"

namespace lockstep::nn {

// The defaults are a 1x1 kernel, strides 1 and no padding.
struct ConvWindow {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;

  // Throws, the message starting "<layer>: ", unless the kernel and strides are positive and
  // the padding is non-negative.
  void check(const char* layer) const;
  // The backend's geometry over one image [channels, height, width].
  backend::ConvGeometry geometry(const Shape& image_shape) const;
  // [out_h, out_w] over the image [channels, height, width]; throws naming `layer` when the
  // kernel is larger than the padded image.
  std::array<int64_t, 2> output_extent(const char* layer, const Shape& image_shape) const;
  // The spec fields kernel_size, strides and padding ("valid" without padding, else
  // [pad_h, pad_w]), as a layer's config() holds them.
  nlohmann::json config() const;
};

}  // namespace lockstep::nn
