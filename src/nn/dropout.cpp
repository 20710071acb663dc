// Dropout: the backend draws the keyed mask and applies it; backward multiplies by the same
// mask, so dx = dy * mask.
#include "lockstep/nn/dropout.h"

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

Dropout::Dropout(double rate, uint32_t stream) : rate_(rate), stream_(stream) {
  LOCKSTEP_CHECK(rate >= 0.0 && rate < 1.0, "Dropout: rate must be in [0, 1), found " << rate);
}

nlohmann::json Dropout::config() const { return {{"type", type()}, {"rate", rate_}}; }

Tensor Dropout::forward(const Tensor& x, const ForwardContext& context) {
  LOCKSTEP_CHECK(x.dim() >= 1,
                 "Dropout: input has shape " << to_string(x.shape()) << ", expected [batch, ...]");
  training_ = context.training;
  has_forward_ = true;
  output_shape_ = x.shape();
  if (!training_) return x;
  const int64_t rows = x.size(0);
  const int64_t cols = rows == 0 ? 0 : x.numel() / rows;
  Tensor y = Tensor::empty(x.shape(), x.device());
  // The mask buffer is reused while batches keep their size and device.
  if (mask_.defined() && mask_.device() == x.device() && mask_.numel() == x.numel()) {
    mask_ = mask_.reshape({rows, cols});
  } else {
    mask_ = Tensor::empty({rows, cols}, x.device());
  }
  const backend::DropoutKey key{context.seed, stream_, context.step, context.first_sample};
  backend::backend_for(x.device())
      .dropout_forward(x.data(), y.data(), mask_.data(), rows, cols, static_cast<float>(rate_),
                       key);
  return y;
}

Tensor Dropout::backward(const Tensor& dy) {
  LOCKSTEP_CHECK(has_forward_, "Dropout: backward called before forward");
  const Device device = training_ ? mask_.device() : dy.device();
  detail::check_gradient("Dropout", dy, output_shape_, device);
  if (!training_) return dy;
  Tensor dx = Tensor::empty(dy.shape(), dy.device());
  backend::backend_for(dy.device()).multiply(dy.data(), mask_.data(), dx.data(), dy.numel());
  return dx;
}

}  // namespace lockstep::nn
