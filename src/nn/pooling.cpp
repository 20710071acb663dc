// MaxPool2D and AvgPool2D: shape checks, then the backend's pooling over the whole batch.
#include "lockstep/nn/pooling.h"

#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

Pool2D::Pool2D(bool max, int64_t pool_h, int64_t pool_w, int64_t stride_h, int64_t stride_w)
    : max_(max),
      pool_h_(pool_h),
      pool_w_(pool_w),
      stride_h_(stride_h == 0 ? pool_h : stride_h),
      stride_w_(stride_w == 0 ? pool_w : stride_w) {
  LOCKSTEP_CHECK(pool_h > 0 && pool_w > 0,
                 type() << ": pool_size must be positive, found " << pool_h << "x" << pool_w);
  LOCKSTEP_CHECK(stride_h_ > 0 && stride_w_ > 0,
                 type() << ": strides must be positive, found " << stride_h << "x" << stride_w);
}

nlohmann::json Pool2D::config() const {
  return {{"type", type()}, {"pool_size", {pool_h_, pool_w_}}, {"strides", {stride_h_, stride_w_}}};
}

backend::PoolGeometry Pool2D::geometry(const Shape& image_shape) const {
  backend::PoolGeometry g;
  g.channels = image_shape[0];
  g.height = image_shape[1];
  g.width = image_shape[2];
  g.pool_h = pool_h_;
  g.pool_w = pool_w_;
  g.stride_h = stride_h_;
  g.stride_w = stride_w_;
  return g;
}

Shape Pool2D::output_shape(const Shape& input_shape) const {
  const std::string name = type();
  LOCKSTEP_CHECK(input_shape.size() == 3, name << ": per-sample input shape is "
                                               << to_string(input_shape)
                                               << ", expected [channels, height, width]");
  LOCKSTEP_CHECK(input_shape[1] >= pool_h_ && input_shape[2] >= pool_w_,
                 name << ": pool " << pool_h_ << "x" << pool_w_ << " is larger than the input "
                      << to_string(input_shape));
  const backend::PoolGeometry g = geometry(input_shape);
  return {input_shape[0], g.out_h(), g.out_w()};
}

Tensor Pool2D::forward(const Tensor& x, const ForwardContext& context) {
  const std::string name = type();
  LOCKSTEP_CHECK(x.dim() == 4, name << ": input has shape " << to_string(x.shape())
                                    << ", expected [batch, channels, height, width]");
  const Shape image = detail::per_sample(x.shape());
  const Shape out = output_shape(image);
  const backend::PoolGeometry g = geometry(image);
  Tensor y = Tensor::empty(detail::with_batch(x.size(0), out), x.device());
  backend::Backend& be = backend::backend_for(x.device());
  if (max_) {
    be.max_pool_forward(x.data(), y.data(), x.size(0), g);
  } else {
    be.avg_pool_forward(x.data(), y.data(), x.size(0), g);
  }
  inputs_.push(context, x);
  return y;
}

Tensor Pool2D::backward(const Tensor& dy) {
  const std::string name = type();
  const Tensor input = inputs_.pop(name);
  const Shape image = detail::per_sample(input.shape());
  const int64_t batch = input.size(0);
  detail::check_gradient(name.c_str(), dy, detail::with_batch(batch, output_shape(image)),
                         input.device());
  const backend::PoolGeometry g = geometry(image);
  Tensor dx = Tensor::empty(input.shape(), dy.device());
  backend::Backend& be = backend::backend_for(dy.device());
  if (max_) {
    be.max_pool_backward(input.data(), dy.data(), dx.data(), batch, g);
  } else {
    be.avg_pool_backward(dy.data(), dx.data(), batch, g);
  }
  return dx;
}

}  // namespace lockstep::nn
