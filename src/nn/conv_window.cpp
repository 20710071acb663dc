// ConvWindow: the checks, geometry, output extents and spec fields that the convolution layers
// share.
#include "lockstep/nn/conv_window.h"

#include "lockstep/base/error.h"

namespace lockstep::nn {

void ConvWindow::check(const char* layer) const {
  LOCKSTEP_CHECK(kernel_h > 0 && kernel_w > 0,
                 layer << ": kernel must be positive, found " << kernel_h << "x" << kernel_w);
  LOCKSTEP_CHECK(stride_h > 0 && stride_w > 0,
                 layer << ": strides must be positive, found " << stride_h << "x" << stride_w);
  LOCKSTEP_CHECK(pad_h >= 0 && pad_w >= 0,
                 layer << ": padding must be non-negative, found " << pad_h << "x" << pad_w);
}

backend::ConvGeometry ConvWindow::geometry(const Shape& image_shape) const {
  backend::ConvGeometry g;
  g.channels = image_shape[0];
  g.height = image_shape[1];
  g.width = image_shape[2];
  g.kernel_h = kernel_h;
  g.kernel_w = kernel_w;
  g.stride_h = stride_h;
  g.stride_w = stride_w;
  g.pad_h = pad_h;
  g.pad_w = pad_w;
  return g;
}

std::array<int64_t, 2> ConvWindow::output_extent(const char* layer,
                                                 const Shape& image_shape) const {
  const int64_t padded_h = image_shape[1] + 2 * pad_h, padded_w = image_shape[2] + 2 * pad_w;
  LOCKSTEP_CHECK(padded_h >= kernel_h && padded_w >= kernel_w,
                 layer << ": kernel " << kernel_h << "x" << kernel_w << " is larger than the input "
                       << to_string(image_shape) << " with padding " << pad_h << "x" << pad_w);
  const backend::ConvGeometry g = geometry(image_shape);
  return {g.out_h(), g.out_w()};
}

nlohmann::json ConvWindow::config() const {
  nlohmann::json padding = "valid";
  if (pad_h != 0 || pad_w != 0) padding = {pad_h, pad_w};
  return {{"kernel_size", {kernel_h, kernel_w}},
          {"strides", {stride_h, stride_w}},
          {"padding", padding}};
}

}  // namespace lockstep::nn
