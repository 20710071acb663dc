// Dense: forward y = x W^T + b, backward dW = dy^T x, db = column sums of dy, dx = dy W,
// each a single backend GEMM on the device of the input.
#include "lockstep/nn/dense.h"

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/nn/initializers.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

Dense::Dense(int64_t in_features, int64_t units, bool use_bias, std::string kernel_initializer)
    : in_features_(in_features),
      units_(units),
      use_bias_(use_bias),
      kernel_initializer_(std::move(kernel_initializer)) {
  LOCKSTEP_CHECK(in_features > 0, "Dense: in_features must be positive, found " << in_features);
  LOCKSTEP_CHECK(units > 0, "Dense: units must be positive, found " << units);
  LOCKSTEP_CHECK(is_initializer(kernel_initializer_),
                 "Dense: unknown kernel_initializer \"" << kernel_initializer_ << "\"");
  weight_ = {"weight", Tensor::empty({units, in_features}), Tensor::zeros({units, in_features})};
  if (use_bias_) bias_ = {"bias", Tensor::zeros({units}), Tensor::zeros({units})};
  initialize(0, 0);
}

nlohmann::json Dense::config() const {
  return {{"type", type()},
          {"units", units_},
          {"use_bias", use_bias_},
          {"kernel_initializer", kernel_initializer_}};
}

Shape Dense::output_shape(const Shape& input_shape) const {
  LOCKSTEP_CHECK(input_shape.size() == 1 && input_shape[0] == in_features_,
                 "Dense: per-sample input shape is "
                     << to_string(input_shape) << ", expected [" << in_features_ << "]"
                     << (input_shape.size() > 1 ? " (add a Flatten before it)" : ""));
  return {units_};
}

Tensor Dense::forward(const Tensor& x, const ForwardContext& context) {
  LOCKSTEP_CHECK(x.dim() == 2 && x.size(1) == in_features_,
                 "Dense: input has shape " << to_string(x.shape()) << ", expected "
                                           << detail::batched({in_features_}));
  detail::check_parameter_device("Dense", "weight", weight_.value, x);
  const int64_t batch = x.size(0);
  Tensor y = Tensor::empty({batch, units_}, x.device());
  backend::Backend& be = backend::backend_for(x.device());
  // y [batch, units] = x [batch, in] * W^T [in, units]
  be.gemm(false, true, batch, units_, in_features_, 1.0f, x.data(), in_features_,
          weight_.value.data(), in_features_, 0.0f, y.data(), units_);
  if (use_bias_) be.add_bias_rows(y.data(), bias_.value.data(), batch, units_);
  inputs_.push(context, x);
  return y;
}

Tensor Dense::backward(const Tensor& dy) {
  const Tensor input = inputs_.pop("Dense");
  const int64_t batch = input.size(0);
  detail::check_gradient("Dense", dy, {batch, units_}, input.device());
  backend::Backend& be = backend::backend_for(dy.device());
  // dW [units, in] = dy^T [units, batch] * x [batch, in]; overwrites (beta 0) in place.
  be.gemm(true, false, units_, in_features_, batch, 1.0f, dy.data(), units_, input.data(),
          in_features_, 0.0f, weight_.grad.data(), in_features_);
  if (use_bias_) be.bias_grad_rows(dy.data(), bias_.grad.data(), batch, units_);
  // dx [batch, in] = dy [batch, units] * W [units, in]
  Tensor dx = Tensor::empty({batch, in_features_}, dy.device());
  be.gemm(false, false, batch, in_features_, units_, 1.0f, dy.data(), units_, weight_.value.data(),
          in_features_, 0.0f, dx.data(), in_features_);
  return dx;
}

std::vector<Parameter*> Dense::parameters() {
  if (use_bias_) return {&weight_, &bias_};
  return {&weight_};
}

void Dense::initialize(uint64_t seed, uint32_t stream) {
  nn::initialize(weight_.value, kernel_initializer_, seed, stream);
  if (use_bias_) zeros(bias_.value);
}

}  // namespace lockstep::nn
