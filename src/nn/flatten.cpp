// Flatten: a reshape view in both directions; no data moves.
#include "lockstep/nn/flatten.h"

#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

Shape Flatten::output_shape(const Shape& input_shape) const {
  LOCKSTEP_CHECK(!input_shape.empty(), "Flatten: per-sample input shape is "
                                           << to_string(input_shape)
                                           << ", expected at least one dimension");
  return {shape_numel(input_shape)};
}

Tensor Flatten::forward(const Tensor& x, const ForwardContext& context) {
  LOCKSTEP_CHECK(x.dim() >= 2, "Flatten: input has shape " << to_string(x.shape())
                                                           << ", expected [batch, d1, ...]");
  input_shapes_.push(context, x.shape());
  // Explicit extents rather than -1, so an empty batch reshapes too.
  return x.reshape({x.size(0), shape_numel(detail::per_sample(x.shape()))});
}

Tensor Flatten::backward(const Tensor& dy) {
  const Shape input_shape = input_shapes_.pop("Flatten");
  const Shape flat{input_shape[0], shape_numel(detail::per_sample(input_shape))};
  LOCKSTEP_CHECK(dy.shape() == flat, "Flatten: output gradient has shape "
                                         << to_string(dy.shape())
                                         << ", expected the forward output's shape "
                                         << to_string(flat));
  return dy.reshape(input_shape);
}

}  // namespace lockstep::nn
