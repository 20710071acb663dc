// Dropout: in training, zeroes each element with probability `rate` and scales the rest by
// 1/(1-rate); the mask is keyed by (seed, stream, step, global sample id), so a sample gets the
// same mask whichever rank runs it. In eval mode it is the identity.
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class Dropout final : public Layer {
 public:
  // `stream` separates the dropout layers of one model: build_model passes the layer index.
  Dropout(double rate, uint32_t stream);

  std::string type() const override { return "Dropout"; }
  nlohmann::json config() const override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;

  double rate() const { return rate_; }
  uint32_t stream() const { return stream_; }

 private:
  double rate_;  // kept as given, so the spec shows it unchanged
  uint32_t stream_;
  struct Saved {
    Shape output_shape;  // [batch, ...]
    Device device = Device::cpu();
    Tensor mask;  // [batch, elements per sample]: 0 or 1/(1-rate); undefined in eval mode
  };
  SavedPasses<Saved> saved_;  // of each pass
};

}  // namespace lockstep::nn
