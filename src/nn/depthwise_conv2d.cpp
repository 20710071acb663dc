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
    : in_channels_(in_channels),
      kernel_h_(kernel_h),
      kernel_w_(kernel_w),
      stride_h_(stride_h),
      stride_w_(stride_w),
      pad_h_(pad_h),
      pad_w_(pad_w),
      depth_multiplier_(depth_multiplier),
      use_bias_(use_bias),
      kernel_initializer_(std::move(kernel_initializer)) {
  LOCKSTEP_CHECK(in_channels > 0 && depth_multiplier > 0,
                 "DepthwiseConv2D: in_channels and depth_multiplier must be positive, found "
                     << in_channels << " and " << depth_multiplier);
  LOCKSTEP_CHECK(kernel_h > 0 && kernel_w > 0,
                 "DepthwiseConv2D: kernel must be positive, found " << kernel_h << "x" << kernel_w);
  LOCKSTEP_CHECK(stride_h > 0 && stride_w > 0, "DepthwiseConv2D: strides must be positive, found "
                                                   << stride_h << "x" << stride_w);
  LOCKSTEP_CHECK(pad_h >= 0 && pad_w >= 0,
                 "DepthwiseConv2D: padding must be non-negative, found " << pad_h << "x" << pad_w);
  LOCKSTEP_CHECK(is_initializer(kernel_initializer_),
                 "DepthwiseConv2D: unknown kernel_initializer \"" << kernel_initializer_ << "\"");
  const Shape shape{out_channels(), 1, kernel_h, kernel_w};
  weight_ = {"weight", Tensor::empty(shape), Tensor::zeros(shape)};
  if (use_bias_) {
    bias_ = {"bias", Tensor::zeros({out_channels()}), Tensor::zeros({out_channels()})};
  }
  initialize(0, 0);
}

nlohmann::json DepthwiseConv2D::config() const {
  nlohmann::json padding = "valid";
  if (pad_h_ != 0 || pad_w_ != 0) padding = {pad_h_, pad_w_};
  return {{"type", type()},
          {"kernel_size", {kernel_h_, kernel_w_}},
          {"strides", {stride_h_, stride_w_}},
          {"padding", padding},
          {"depth_multiplier", depth_multiplier_},
          {"use_bias", use_bias_},
          {"kernel_initializer", kernel_initializer_}};
}

backend::ConvGeometry DepthwiseConv2D::geometry(const Shape& image_shape) const {
  backend::ConvGeometry g;
  g.channels = image_shape[0];
  g.height = image_shape[1];
  g.width = image_shape[2];
  g.kernel_h = kernel_h_;
  g.kernel_w = kernel_w_;
  g.stride_h = stride_h_;
  g.stride_w = stride_w_;
  g.pad_h = pad_h_;
  g.pad_w = pad_w_;
  return g;
}

Shape DepthwiseConv2D::output_shape(const Shape& input_shape) const {
  LOCKSTEP_CHECK(input_shape.size() == 3 && input_shape[0] == in_channels_,
                 "DepthwiseConv2D: per-sample input shape is " << to_string(input_shape)
                                                               << ", expected [" << in_channels_
                                                               << ", height, width]");
  const int64_t padded_h = input_shape[1] + 2 * pad_h_, padded_w = input_shape[2] + 2 * pad_w_;
  LOCKSTEP_CHECK(padded_h >= kernel_h_ && padded_w >= kernel_w_,
                 "DepthwiseConv2D: kernel "
                     << kernel_h_ << "x" << kernel_w_ << " is larger than the input "
                     << to_string(input_shape) << " with padding " << pad_h_ << "x" << pad_w_);
  const backend::ConvGeometry g = geometry(input_shape);
  return {out_channels(), g.out_h(), g.out_w()};
}

Tensor DepthwiseConv2D::forward(const Tensor& x, const ForwardContext& /*context*/) {
  LOCKSTEP_CHECK(x.dim() == 4 && x.size(1) == in_channels_,
                 "DepthwiseConv2D: input has shape " << to_string(x.shape())
                                                     << ", expected [batch, " << in_channels_
                                                     << ", height, width]");
  detail::check_parameter_device("DepthwiseConv2D", "weight", weight_.value, x);
  const Shape image = detail::per_sample(x.shape());
  const Shape out = output_shape(image);
  Tensor y = Tensor::empty(detail::with_batch(x.size(0), out), x.device());
  backend::backend_for(x.device())
      .depthwise_conv2d_forward(x.data(), x.size(0), geometry(image), depth_multiplier_,
                                weight_.value.data(), use_bias_ ? bias_.value.data() : nullptr,
                                y.data());
  input_ = x;
  return y;
}

Tensor DepthwiseConv2D::backward(const Tensor& dy) {
  LOCKSTEP_CHECK(input_.defined(), "DepthwiseConv2D: backward called before forward");
  const Shape image = detail::per_sample(input_.shape());
  const Shape out = output_shape(image);
  const int64_t batch = input_.size(0);
  detail::check_gradient("DepthwiseConv2D", dy, detail::with_batch(batch, out), input_.device());
  backend::Backend& be = backend::backend_for(dy.device());
  Tensor dx = Tensor::empty(input_.shape(), dy.device());
  be.depthwise_conv2d_backward(input_.data(), dy.data(), batch, geometry(image), depth_multiplier_,
                               weight_.value.data(), weight_.grad.data(), dx.data());
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
