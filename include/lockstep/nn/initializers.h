// Weight initializers: Glorot (Keras's default), He (uniform and normal) and zeros, drawn from
// Philox keyed by (model seed, layer index), so the same seed gives the same weights on every
// rank and every device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lockstep/tensor/tensor.h"

namespace lockstep::nn {

// Fan-in and fan-out of a weight, computed as Keras and PyTorch do: [out, in] for Dense;
// [out_ch, in_ch, kh, kw] for Conv2D, where both fans include the receptive field kh*kw.
struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};
Fans compute_fans(const Shape& weight_shape);

// Uniform in [-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)).
void glorot_uniform(Tensor& weight, uint64_t seed, uint32_t stream);
// Uniform in [-limit, limit) with limit = sqrt(6 / fan_in) (PyTorch's kaiming_uniform_ for ReLU).
void he_uniform(Tensor& weight, uint64_t seed, uint32_t stream);
// Normal with mean 0 and standard deviation sqrt(2 / fan_in), by Box-Muller (PyTorch's
// kaiming_normal_; not truncated).
void he_normal(Tensor& weight, uint64_t seed, uint32_t stream);
void zeros(Tensor& tensor);

// The names accepted by initialize: "glorot_uniform", "he_uniform", "he_normal", "zeros".
const std::vector<std::string>& initializer_names();
bool is_initializer(const std::string& name);
// Applies the initializer called `name`; throws lockstep::Error for an unknown name.
void initialize(Tensor& weight, const std::string& name, uint64_t seed, uint32_t stream);

}  // namespace lockstep::nn
