// Conv2D: per image, im2col unfolds the input into columns [patch, out_h*out_w] and one GEMM
// with the weight [filters, patch] gives the output; backward reverses both with GEMM and
// col2im. The two column workspaces are members, reused across images and calls.
#include "lockstep/nn/conv2d.h"

#include "lockstep/core/error.h"
#include "lockstep/nn/initializers.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

Conv2D::Conv2D(int64_t in_channels, int64_t filters, int64_t kernel_h, int64_t kernel_w,
               int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, bool use_bias,
               std::string kernel_initializer)
    : in_channels_(in_channels),
      filters_(filters),
      kernel_h_(kernel_h),
      kernel_w_(kernel_w),
      stride_h_(stride_h),
      stride_w_(stride_w),
      pad_h_(pad_h),
      pad_w_(pad_w),
      use_bias_(use_bias),
      kernel_initializer_(std::move(kernel_initializer)) {
  LOCKSTEP_CHECK(in_channels > 0 && filters > 0,
                 "Conv2D: in_channels and filters must be positive, found " << in_channels
                                                                            << " and " << filters);
  LOCKSTEP_CHECK(kernel_h > 0 && kernel_w > 0,
                 "Conv2D: kernel must be positive, found " << kernel_h << "x" << kernel_w);
  LOCKSTEP_CHECK(stride_h > 0 && stride_w > 0,
                 "Conv2D: strides must be positive, found " << stride_h << "x" << stride_w);
  LOCKSTEP_CHECK(pad_h >= 0 && pad_w >= 0,
                 "Conv2D: padding must be non-negative, found " << pad_h << "x" << pad_w);
  LOCKSTEP_CHECK(is_initializer(kernel_initializer_),
                 "Conv2D: unknown kernel_initializer \"" << kernel_initializer_ << "\"");
  const Shape shape{filters, in_channels, kernel_h, kernel_w};
  weight_ = {"weight", Tensor::empty(shape), Tensor::zeros(shape)};
  if (use_bias_) bias_ = {"bias", Tensor::zeros({filters}), Tensor::zeros({filters})};
  initialize(0, 0);
}

nlohmann::json Conv2D::config() const {
  nlohmann::json padding = "valid";
  if (pad_h_ != 0 || pad_w_ != 0) padding = {pad_h_, pad_w_};
  return {{"type", type()},
          {"filters", filters_},
          {"kernel_size", {kernel_h_, kernel_w_}},
          {"strides", {stride_h_, stride_w_}},
          {"padding", padding},
          {"use_bias", use_bias_},
          {"kernel_initializer", kernel_initializer_}};
}

backend::ConvGeometry Conv2D::geometry(const Shape& image_shape) const {
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

Shape Conv2D::output_shape(const Shape& input_shape) const {
  LOCKSTEP_CHECK(input_shape.size() == 3 && input_shape[0] == in_channels_,
                 "Conv2D: per-sample input shape is " << to_string(input_shape) << ", expected ["
                                                      << in_channels_ << ", height, width]");
  const int64_t padded_h = input_shape[1] + 2 * pad_h_, padded_w = input_shape[2] + 2 * pad_w_;
  LOCKSTEP_CHECK(padded_h >= kernel_h_ && padded_w >= kernel_w_,
                 "Conv2D: kernel " << kernel_h_ << "x" << kernel_w_ << " is larger than the input "
                                   << to_string(input_shape) << " with padding " << pad_h_ << "x"
                                   << pad_w_);
  const backend::ConvGeometry g = geometry(input_shape);
  return {filters_, g.out_h(), g.out_w()};
}

void Conv2D::reserve(Tensor& workspace, int64_t rows, int64_t cols, const Device& device) {
  if (workspace.defined() && workspace.device() == device && workspace.numel() == rows * cols) {
    workspace = workspace.reshape({rows, cols});
    return;
  }
  workspace = Tensor::empty({rows, cols}, device);
}

Tensor Conv2D::forward(const Tensor& x, const ForwardContext& /*context*/) {
  LOCKSTEP_CHECK(x.dim() == 4 && x.size(1) == in_channels_,
                 "Conv2D: input has shape " << to_string(x.shape()) << ", expected [batch, "
                                            << in_channels_ << ", height, width]");
  detail::check_parameter_device("Conv2D", "weight", weight_.value, x);
  const Shape out = output_shape(detail::per_sample(x.shape()));
  const backend::ConvGeometry g = geometry(detail::per_sample(x.shape()));
  const int64_t batch = x.size(0), patch = g.patch_size(), spatial = out[1] * out[2];
  const int64_t image_size = g.channels * g.height * g.width;
  Tensor y = Tensor::empty(detail::with_batch(batch, out), x.device());
  reserve(columns_, patch, spatial, x.device());
  backend::Backend& be = backend::backend_for(x.device());
  for (int64_t n = 0; n < batch; ++n) {
    float* y_n = y.data() + n * filters_ * spatial;
    be.im2col(x.data() + n * image_size, g, columns_.data());
    // y_n [filters, spatial] = W [filters, patch] * columns [patch, spatial]
    be.gemm(false, false, filters_, spatial, patch, 1.0f, weight_.value.data(), patch,
            columns_.data(), spatial, 0.0f, y_n, spatial);
    // The bias goes in while y_n is still in cache (same sums as one pass over the batch).
    if (use_bias_) be.add_bias_channels(y_n, bias_.value.data(), 1, filters_, spatial);
  }
  input_ = x;
  return y;
}

Tensor Conv2D::backward(const Tensor& dy) {
  LOCKSTEP_CHECK(input_.defined(), "Conv2D: backward called before forward");
  const Shape image = detail::per_sample(input_.shape());
  const Shape out = output_shape(image);
  const int64_t batch = input_.size(0);
  detail::check_gradient("Conv2D", dy, detail::with_batch(batch, out), input_.device());
  const backend::ConvGeometry g = geometry(image);
  const int64_t patch = g.patch_size(), spatial = out[1] * out[2];
  const int64_t image_size = g.channels * g.height * g.width;
  const Device& device = dy.device();
  reserve(columns_, patch, spatial, device);
  reserve(grad_columns_, patch, spatial, device);
  backend::Backend& be = backend::backend_for(device);
  Tensor dx = Tensor::empty(input_.shape(), device);
  if (batch == 0) weight_.grad.fill(0.0f);  // no image writes the (overwritten) gradient
  for (int64_t n = 0; n < batch; ++n) {
    const float* dy_n = dy.data() + n * filters_ * spatial;
    // The columns are recomputed rather than kept from forward: one image of workspace
    // instead of a whole batch.
    be.im2col(input_.data() + n * image_size, g, columns_.data());
    // dW [filters, patch] (+)= dy_n [filters, spatial] * columns^T [spatial, patch]
    be.gemm(false, true, filters_, patch, spatial, 1.0f, dy_n, spatial, columns_.data(), spatial,
            n == 0 ? 0.0f : 1.0f, weight_.grad.data(), patch);
    // dcolumns [patch, spatial] = W^T [patch, filters] * dy_n [filters, spatial]
    be.gemm(true, false, patch, spatial, filters_, 1.0f, weight_.value.data(), patch, dy_n, spatial,
            0.0f, grad_columns_.data(), spatial);
    be.col2im(grad_columns_.data(), g, dx.data() + n * image_size);
  }
  if (use_bias_) be.bias_grad_channels(dy.data(), bias_.grad.data(), batch, filters_, spatial);
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
