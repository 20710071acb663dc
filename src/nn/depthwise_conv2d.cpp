// DepthwiseConv2D: checks shapes and devices, then hands the batch to the backend's
// depthwise_conv2d_forward and depthwise_conv2d_backward (see backend.h).
#include "lockstep/nn/depthwise_conv2d.h"

#include "lockstep/base/error.h"
#include "lockstep/nn/initializers.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

DepthwiseConv2D::DepthwiseConv2D(int64_t in_channels, int64_t kernel_h, int64_t kernel_w,
                                 int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                 int64_t depth_multiplier, bool use_bias,
                                 std::string kernel_initializer)
    : DepthwiseConv2D(in_channels, ConvWindow{kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w},
                      depth_multiplier, use_bias, std::move(kernel_initializer)) {}

DepthwiseConv2D::DepthwiseConv2D(int64_t in_channels, const ConvWindow& window,
                                 int64_t depth_multiplier, bool use_bias,
                                 std::string kernel_initializer)
    : in_channels_(in_channels),
      window_(window),
      depth_multiplier_(depth_multiplier),
      use_bias_(use_bias),
      kernel_initializer_(std::move(kernel_initializer)) {
  LOCKSTEP_CHECK(in_channels > 0 && depth_multiplier > 0,
                 "DepthwiseConv2D: in_channels and depth_multiplier must be positive, found "
                     << in_channels << " and " << depth_multiplier);
  window_.check("DepthwiseConv2D");
  LOCKSTEP_CHECK(is_initializer(kernel_initializer_),
                 "DepthwiseConv2D: unknown kernel_initializer \"" << kernel_initializer_ << "\"");
  const Shape shape{out_channels(), 1, window_.kernel_h, window_.kernel_w};
  weight_ = {"weight", Tensor::empty(shape), Tensor::zeros(shape)};
  if (use_bias_) {
    bias_ = {"bias", Tensor::zeros({out_channels()}), Tensor::zeros({out_channels()})};
  }
  initialize(0, 0);
}

nlohmann::json DepthwiseConv2D::config() const {
  nlohmann::json config = {{"type", type()},
                           {"depth_multiplier", depth_multiplier_},
                           {"use_bias", use_bias_},
                           {"kernel_initializer", kernel_initializer_}};
  config.update(window_.config());
  return config;
}

Shape DepthwiseConv2D::output_shape(const Shape& input_shape) const {
  detail::check_image_shape("DepthwiseConv2D", input_shape, in_channels_);
  const auto [out_h, out_w] = window_.output_extent("DepthwiseConv2D", input_shape);
  return {out_channels(), out_h, out_w};
}

Tensor DepthwiseConv2D::forward(const Tensor& x, const ForwardContext& context) {
  detail::check_image_batch("DepthwiseConv2D", x, in_channels_);
  detail::check_parameter_device("DepthwiseConv2D", "weight", weight_.value, x);
  const Shape image = detail::per_sample(x.shape());
  const Shape out = output_shape(image);
  Tensor y = Tensor::empty(detail::with_batch(x.size(0), out), x.device());
  backend::backend_for(x.device())
      .depthwise_conv2d_forward(x.data(), x.size(0), window_.geometry(image), depth_multiplier_,
                                weight_.value.data(), use_bias_ ? bias_.value.data() : nullptr,
                                y.data());
  inputs_.push(context, x);
  return y;
}

Tensor DepthwiseConv2D::backward(const Tensor& dy) {
  const Tensor input = inputs_.pop("DepthwiseConv2D");
  const Shape image = detail::per_sample(input.shape());
  const Shape out = output_shape(image);
  const int64_t batch = input.size(0);
  detail::check_gradient("DepthwiseConv2D", dy, detail::with_batch(batch, out), input.device());
  backend::Backend& be = backend::backend_for(dy.device());
  Tensor dx = Tensor::empty(input.shape(), dy.device());
  be.depthwise_conv2d_backward(input.data(), dy.data(), batch, window_.geometry(image),
                               depth_multiplier_, weight_.value.data(), weight_.grad.data(),
                               dx.data());
  if (use_bias_) {
    be.bias_grad_channels(dy.data(), bias_.grad.data(), batch, out[0], out[1] * out[2]);
  }
  return dx;
}

std::vector<Parameter*> DepthwiseConv2D::parameters() {
  if (use_bias_) return {&weight_, &bias_};
  return {&weight_};
}

void DepthwiseConv2D::initialize(uint64_t seed, uint32_t stream) {
  nn::initialize(weight_.value, kernel_initializer_, seed, stream);
  if (use_bias_) zeros(bias_.value);
}

}  // namespace lockstep::nn
