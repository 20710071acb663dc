// LayerNorm: the input viewed as [batch, numel(normalized_shape)] rows, normalised by the
// backend's layer_norm_forward, which keeps each row's mean and rstd for layer_norm_backward.
#include "lockstep/nn/layer_norm.h"

#include <cmath>
#include <limits>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : normalized_shape_(std::move(normalized_shape)),
      eps_(eps),
      elementwise_affine_(elementwise_affine) {
  bool positive = !normalized_shape_.empty();
  for (int64_t extent : normalized_shape_) positive = positive && extent > 0;
  LOCKSTEP_CHECK(positive,
                 "LayerNorm: normalized_shape must be a non-empty list of positive "
                 "extents, found "
                     << to_string(normalized_shape_));
  LOCKSTEP_CHECK(valid_eps(eps),
                 "LayerNorm: eps must be a positive number that a float can "
                 "hold, found "
                     << eps);
  if (elementwise_affine_) {
    weight_ = {"weight", Tensor::empty(normalized_shape_), Tensor::zeros(normalized_shape_)};
    bias_ = {"bias", Tensor::empty(normalized_shape_), Tensor::zeros(normalized_shape_)};
  }
  initialize(0, 0);
}

bool LayerNorm::valid_eps(double eps) {
  return std::isfinite(eps) && eps > 0.0 && eps <= std::numeric_limits<float>::max() &&
         static_cast<float>(eps) > 0.0f;
}

nlohmann::json LayerNorm::config() const {
  return {{"type", type()}, {"eps", eps_}, {"elementwise_affine", elementwise_affine_}};
}

Shape LayerNorm::output_shape(const Shape& input_shape) const {
  LOCKSTEP_CHECK(input_shape == normalized_shape_, "LayerNorm: per-sample input shape is "
                                                       << to_string(input_shape)
                                                       << ", expected the normalized shape "
                                                       << to_string(normalized_shape_));
  return input_shape;
}

Tensor LayerNorm::forward(const Tensor& x, const ForwardContext& context) {
  LOCKSTEP_CHECK(x.dim() >= 2 && detail::per_sample(x.shape()) == normalized_shape_,
                 "LayerNorm: input has shape " << to_string(x.shape()) << ", expected "
                                               << detail::batched(normalized_shape_));
  if (elementwise_affine_) detail::check_parameter_device("LayerNorm", "weight", weight_.value, x);
  const int64_t rows = x.size(0), cols = shape_numel(normalized_shape_);
  Tensor y = Tensor::empty(x.shape(), x.device());
  Tensor statistics = Tensor::empty({2, rows}, x.device());
  backend::backend_for(x.device())
      .layer_norm_forward(x.data(), elementwise_affine_ ? weight_.value.data() : nullptr,
                          elementwise_affine_ ? bias_.value.data() : nullptr, y.data(),
                          statistics.data(), statistics.data() + rows, rows, cols,
                          static_cast<float>(eps_));
  saved_.push(context, {x, statistics});
  return y;
}

Tensor LayerNorm::backward(const Tensor& dy) {
  const Saved saved = saved_.pop("LayerNorm");
  const Tensor& input = saved.input;
  detail::check_gradient("LayerNorm", dy, input.shape(), input.device());
  const int64_t rows = input.size(0), cols = shape_numel(normalized_shape_);
  Tensor dx = Tensor::empty(input.shape(), dy.device());
  backend::backend_for(dy.device())
      .layer_norm_backward(input.data(), dy.data(),
                           elementwise_affine_ ? weight_.value.data() : nullptr,
                           saved.statistics.data(), saved.statistics.data() + rows, dx.data(),
                           elementwise_affine_ ? weight_.grad.data() : nullptr,
                           elementwise_affine_ ? bias_.grad.data() : nullptr, rows, cols);
  return dx;
}

std::vector<Parameter*> LayerNorm::parameters() {
  if (elementwise_affine_) return {&weight_, &bias_};
  return {};
}

void LayerNorm::initialize(uint64_t /*seed*/, uint32_t /*stream*/) {
  if (!elementwise_affine_) return;
  weight_.value.fill(1.0f);
  bias_.value.fill(0.0f);
}

}  // namespace lockstep::nn
