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
  if (!context.training) {
    saved_.push(context, {x.shape(), x.device(), Tensor()});
    return x;
  }
  const int64_t rows = x.size(0);
  const int64_t cols = rows == 0 ? 0 : x.numel() / rows;
  Tensor y = Tensor::empty(x.shape(), x.device());
  Tensor mask = Tensor::empty({rows, cols}, x.device());
  const backend::DropoutKey key{context.seed, stream_, context.step, context.first_sample};
  backend::backend_for(x.device())
      .dropout_forward(x.data(), y.data(), mask.data(), rows, cols, static_cast<float>(rate_), key);
  saved_.push(context, {x.shape(), x.device(), mask});
  return y;
}

Tensor Dropout::backward(const Tensor& dy) {
  const Saved saved = saved_.pop("Dropout");
  detail::check_gradient("Dropout", dy, saved.output_shape, saved.device);
  if (!saved.mask.defined()) return dy;
  Tensor dx = Tensor::empty(dy.shape(), dy.device());
  backend::backend_for(dy.device()).multiply(dy.data(), saved.mask.data(), dx.data(), dy.numel());
  return dx;
}

}  // namespace lockstep::nn
