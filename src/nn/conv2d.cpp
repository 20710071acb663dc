// Conv2D: checks shapes and devices, then hands the batch to the backend's conv2d_forward and
// conv2d_backward (im2col, GEMM with the weight [filters, patch], col2im: see backend.h).
#include "lockstep/nn/conv2d.h"

#include "lockstep/base/error.h"
#include "lockstep/nn/initializers.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

Conv2D::Conv2D(int64_t in_channels, int64_t filters, int64_t kernel_h, int64_t kernel_w,
               int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, bool use_bias,
               std::string kernel_initializer)
    : Conv2D(in_channels, filters, ConvWindow{kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w},
             use_bias, std::move(kernel_initializer)) {}

Conv2D::Conv2D(int64_t in_channels, int64_t filters, const ConvWindow& window, bool use_bias,
               std::string kernel_initializer)
    : in_channels_(in_channels),
      filters_(filters),
      window_(window),
      use_bias_(use_bias),
      kernel_initializer_(std::move(kernel_initializer)) {
  LOCKSTEP_CHECK(in_channels > 0 && filters > 0,
                 "Conv2D: in_channels and filters must be positive, found " << in_channels
                                                                            << " and " << filters);
  window_.check("Conv2D");
  LOCKSTEP_CHECK(is_initializer(kernel_initializer_),
                 "Conv2D: unknown kernel_initializer \"" << kernel_initializer_ << "\"");
  const Shape shape{filters, in_channels, window_.kernel_h, window_.kernel_w};
  weight_ = {"weight", Tensor::empty(shape), Tensor::zeros(shape)};
  if (use_bias_) bias_ = {"bias", Tensor::zeros({filters}), Tensor::zeros({filters})};
  initialize(0, 0);
}

nlohmann::json Conv2D::config() const {
  nlohmann::json config = {{"type", type()},
                           {"filters", filters_},
                           {"use_bias", use_bias_},
                           {"kernel_initializer", kernel_initializer_}};
  config.update(window_.config());
  return config;
}

Shape Conv2D::output_shape(const Shape& input_shape) const {
  detail::check_image_shape("Conv2D", input_shape, in_channels_);
  const auto [out_h, out_w] = window_.output_extent("Conv2D", input_shape);
  return {filters_, out_h, out_w};
}

Tensor Conv2D::forward(const Tensor& x, const ForwardContext& context) {
  detail::check_image_batch("Conv2D", x, in_channels_);
  detail::check_parameter_device("Conv2D", "weight", weight_.value, x);
  const Shape out = output_shape(detail::per_sample(x.shape()));
  const backend::ConvGeometry g = window_.geometry(detail::per_sample(x.shape()));
  Tensor y = Tensor::empty(detail::with_batch(x.size(0), out), x.device());
  backend::backend_for(x.device())
      .conv2d_forward(x.data(), x.size(0), g, filters_, weight_.value.data(),
                      use_bias_ ? bias_.value.data() : nullptr, y.data());
  inputs_.push(context, x);
  return y;
}

Tensor Conv2D::backward(const Tensor& dy) {
  const Tensor input = inputs_.pop("Conv2D");
  const Shape image = detail::per_sample(input.shape());
  const Shape out = output_shape(image);
  const int64_t batch = input.size(0);
  detail::check_gradient("Conv2D", dy, detail::with_batch(batch, out), input.device());
  const backend::ConvGeometry g = window_.geometry(image);
  backend::Backend& be = backend::backend_for(dy.device());
  Tensor dx = Tensor::empty(input.shape(), dy.device());
  be.conv2d_backward(input.data(), dy.data(), batch, g, filters_, weight_.value.data(),
                     weight_.grad.data(), dx.data());
  if (use_bias_) {
    be.bias_grad_channels(dy.data(), bias_.grad.data(), batch, filters_, out[1] * out[2]);
  }
  return dx;
}

std::vector<Parameter*> Conv2D::parameters() {
  if (use_bias_) return {&weight_, &bias_};
  return {&weight_};
}

void Conv2D::initialize(uint64_t seed, uint32_t stream) {
  nn::initialize(weight_.value, kernel_initializer_, seed, stream);
  if (use_bias_) zeros(bias_.value);
}

}  // namespace lockstep::nn
