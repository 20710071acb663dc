// SeparableConv2D: a DepthwiseConv2D (no bias) feeding a 1x1 Conv2D, which runs on the
// backend's batched convolution (GEMMs); the layer keeps the two and renames their parameters.
#include "lockstep/nn/separable_conv2d.h"

#include "lockstep/base/error.h"
#include "lockstep/nn/initializers.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

namespace {

// The constructor's checks, made before its two parts are built so that errors name this
// layer; returns in_channels.
int64_t checked_in_channels(int64_t in_channels, int64_t filters, const ConvWindow& window,
                            int64_t depth_multiplier, const std::string& kernel_initializer) {
  LOCKSTEP_CHECK(in_channels > 0 && filters > 0 && depth_multiplier > 0,
                 "SeparableConv2D: in_channels, filters and depth_multiplier must be positive, "
                 "found "
                     << in_channels << ", " << filters << " and " << depth_multiplier);
  window.check("SeparableConv2D");
  LOCKSTEP_CHECK(is_initializer(kernel_initializer),
                 "SeparableConv2D: unknown kernel_initializer \"" << kernel_initializer << "\"");
  return in_channels;
}

}  // namespace

SeparableConv2D::SeparableConv2D(int64_t in_channels, int64_t filters, int64_t kernel_h,
                                 int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                 int64_t pad_h, int64_t pad_w, int64_t depth_multiplier,
                                 bool use_bias, std::string kernel_initializer)
    : SeparableConv2D(in_channels, filters,
                      ConvWindow{kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w},
                      depth_multiplier, use_bias, std::move(kernel_initializer)) {}

SeparableConv2D::SeparableConv2D(int64_t in_channels, int64_t filters, const ConvWindow& window,
                                 int64_t depth_multiplier, bool use_bias,
                                 std::string kernel_initializer)
    : in_channels_(
          checked_in_channels(in_channels, filters, window, depth_multiplier, kernel_initializer)),
      filters_(filters),
      use_bias_(use_bias),
      kernel_initializer_(kernel_initializer),
      depthwise_(in_channels, window, depth_multiplier, /*use_bias=*/false, kernel_initializer),
      pointwise_(in_channels * depth_multiplier, filters, ConvWindow{} /* 1x1 */, use_bias,
                 kernel_initializer) {
  depthwise_.weight().name = "depthwise.weight";
  pointwise_.weight().name = "pointwise.weight";
  if (use_bias_) pointwise_.bias().name = "pointwise.bias";
}

nlohmann::json SeparableConv2D::config() const {
  const nlohmann::json depthwise = depthwise_.config();
  return {{"type", type()},
          {"filters", filters_},
          {"kernel_size", depthwise.at("kernel_size")},
          {"strides", depthwise.at("strides")},
          {"padding", depthwise.at("padding")},
          {"depth_multiplier", depthwise.at("depth_multiplier")},
          {"use_bias", use_bias_},
          {"kernel_initializer", kernel_initializer_}};
}

Shape SeparableConv2D::output_shape(const Shape& input_shape) const {
  detail::check_image_shape("SeparableConv2D", input_shape, in_channels_);
  try {
    return pointwise_.output_shape(depthwise_.output_shape(input_shape));
  } catch (const Error& error) {
    LOCKSTEP_THROW("SeparableConv2D: " << error.message());
  }
}

Tensor SeparableConv2D::forward(const Tensor& x, const ForwardContext& context) {
  detail::check_image_batch("SeparableConv2D", x, in_channels_);
  output_shape(detail::per_sample(x.shape()));
  Tensor y = pointwise_.forward(depthwise_.forward(x, context), context);
  inputs_.push(context, x);
  return y;
}

Tensor SeparableConv2D::backward(const Tensor& dy) {
  const Tensor input = inputs_.pop("SeparableConv2D");
  const Shape out = output_shape(detail::per_sample(input.shape()));
  detail::check_gradient("SeparableConv2D", dy, detail::with_batch(input.size(0), out),
                         input.device());
  return depthwise_.backward(pointwise_.backward(dy));
}

std::vector<Parameter*> SeparableConv2D::parameters() {
  if (use_bias_) return {&depthwise_.weight(), &pointwise_.weight(), &pointwise_.bias()};
  return {&depthwise_.weight(), &pointwise_.weight()};
}

void SeparableConv2D::initialize(uint64_t seed, uint32_t stream) {
  depthwise_.initialize(seed, stream);
  pointwise_.initialize(seed, stream ^ kPointwiseStream);
}

}  // namespace lockstep::nn
