// GlobalAveragePooling2D: the backends' average pooling with one window covering the whole
// plane, a float sum in a fixed order times 1/(height*width) on the CPU and CUDA alike.
#include "lockstep/nn/global_pooling.h"

#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

namespace {

// One window over the whole [channels, height, width] image.
backend::PoolGeometry whole_plane(const Shape& image_shape) {
  backend::PoolGeometry g;
  g.channels = image_shape[0];
  g.height = image_shape[1];
  g.width = image_shape[2];
  g.pool_h = g.stride_h = image_shape[1];
  g.pool_w = g.stride_w = image_shape[2];
  return g;
}

}  // namespace

Shape GlobalAveragePooling2D::output_shape(const Shape& input_shape) const {
  LOCKSTEP_CHECK(input_shape.size() == 3 && input_shape[1] > 0 && input_shape[2] > 0,
                 "GlobalAveragePooling2D: per-sample input shape is "
                     << to_string(input_shape) << ", expected [channels, height, width]");
  return {input_shape[0]};
}

Tensor GlobalAveragePooling2D::forward(const Tensor& x, const ForwardContext& context) {
  LOCKSTEP_CHECK(x.dim() == 4, "GlobalAveragePooling2D: input has shape "
                                   << to_string(x.shape())
                                   << ", expected [batch, channels, height, width]");
  const Shape image = detail::per_sample(x.shape());
  const Shape out = output_shape(image);
  Tensor y = Tensor::empty(detail::with_batch(x.size(0), out), x.device());
  backend::backend_for(x.device())
      .avg_pool_forward(x.data(), y.data(), x.size(0), whole_plane(image));
  inputs_.push(context, {x.shape(), x.device()});
  return y;
}

Tensor GlobalAveragePooling2D::backward(const Tensor& dy) {
  const ShapeOn input = inputs_.pop("GlobalAveragePooling2D");
  const Shape image = detail::per_sample(input.shape);
  detail::check_gradient("GlobalAveragePooling2D", dy,
                         detail::with_batch(input.shape[0], output_shape(image)), input.device);
  Tensor dx = Tensor::empty(input.shape, dy.device());
  backend::backend_for(dy.device())
      .avg_pool_backward(dy.data(), dx.data(), input.shape[0], whole_plane(image));
  return dx;
}

}  // namespace lockstep::nn
