// Weight initializers drawn from Philox: values are computed on the host from (seed, layer
// index, element) and copied to the tensor's device, so they never depend on the device.
#include "lockstep/nn/initializers.h"

#include <cmath>
#include <numbers>

#include "lockstep/base/error.h"
#include "lockstep/base/philox.h"

namespace lockstep::nn {

namespace {

// Initial weights use a step that training never reaches, so their numbers cannot coincide
// with the dropout noise of a layer that shares the stream.
constexpr uint64_t kInitStep = ~uint64_t{0};

// The uniform number in [0, 1) for element `i` of draw `draw` (0 or 1; Box-Muller needs two).
float uniform(uint64_t seed, uint32_t stream, int64_t i, uint64_t draw) {
  const uint64_t index = static_cast<uint64_t>(i);
  return philox::sample_uniform(seed, stream, kInitStep, (index >> 32) * 2 + draw,
                                static_cast<uint32_t>(index));
}

void check_defined(const Tensor& weight, const char* what) {
  LOCKSTEP_CHECK(weight.defined(), what << ": the tensor is undefined");
}

void fill_uniform(Tensor& weight, double limit, uint64_t seed, uint32_t stream) {
  std::vector<float> values(static_cast<size_t>(weight.numel()));
  for (int64_t i = 0; i < weight.numel(); ++i) {
    const double u = uniform(seed, stream, i, 0);
    values[static_cast<size_t>(i)] = static_cast<float>((2.0 * u - 1.0) * limit);
  }
  weight.copy_from(Tensor::from_vector(weight.shape(), values));
}

}  // namespace

Fans compute_fans(const Shape& weight_shape) {
  LOCKSTEP_CHECK(!weight_shape.empty(), "compute_fans: a weight needs at least one dimension");
  if (weight_shape.size() == 1) return {weight_shape[0], weight_shape[0]};
  // [out, in, k...]: the receptive field multiplies both fans (PyTorch's rule, which gives
  // Keras's numbers for its own [k..., in, out] layout).
  int64_t receptive = 1;
  for (size_t d = 2; d < weight_shape.size(); ++d) receptive *= weight_shape[d];
  return {weight_shape[1] * receptive, weight_shape[0] * receptive};
}

void glorot_uniform(Tensor& weight, uint64_t seed, uint32_t stream) {
  check_defined(weight, "glorot_uniform");
  const Fans fans = compute_fans(weight.shape());
  const int64_t total = fans.fan_in + fans.fan_out;
  LOCKSTEP_CHECK(total > 0, "glorot_uniform: weight " << to_string(weight.shape())
                                                      << " has no fan-in or fan-out");
  fill_uniform(weight, std::sqrt(6.0 / static_cast<double>(total)), seed, stream);
}

void he_uniform(Tensor& weight, uint64_t seed, uint32_t stream) {
  check_defined(weight, "he_uniform");
  const Fans fans = compute_fans(weight.shape());
  LOCKSTEP_CHECK(fans.fan_in > 0,
                 "he_uniform: weight " << to_string(weight.shape()) << " has no fan-in");
  fill_uniform(weight, std::sqrt(6.0 / static_cast<double>(fans.fan_in)), seed, stream);
}

void he_normal(Tensor& weight, uint64_t seed, uint32_t stream) {
  check_defined(weight, "he_normal");
  const Fans fans = compute_fans(weight.shape());
  LOCKSTEP_CHECK(fans.fan_in > 0,
                 "he_normal: weight " << to_string(weight.shape()) << " has no fan-in");
  const double stddev = std::sqrt(2.0 / static_cast<double>(fans.fan_in));
  std::vector<float> values(static_cast<size_t>(weight.numel()));
  for (int64_t i = 0; i < weight.numel(); ++i) {
    // Box-Muller; 1 - u lies in (0, 1], so the logarithm is finite.
    const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform(seed, stream, i, 0)));
    const double angle = 2.0 * std::numbers::pi * uniform(seed, stream, i, 1);
    values[static_cast<size_t>(i)] = static_cast<float>(stddev * radius * std::cos(angle));
  }
  weight.copy_from(Tensor::from_vector(weight.shape(), values));
}

void zeros(Tensor& tensor) {
  check_defined(tensor, "zeros");
  tensor.fill(0.0f);
}

const std::vector<std::string>& initializer_names() {
  static const std::vector<std::string> kNames = {"glorot_uniform", "he_uniform", "he_normal",
                                                  "zeros"};
  return kNames;
}

bool is_initializer(const std::string& name) {
  for (const std::string& known : initializer_names()) {
    if (known == name) return true;
  }
  return false;
}

void initialize(Tensor& weight, const std::string& name, uint64_t seed, uint32_t stream) {
  if (name == "glorot_uniform") {
    glorot_uniform(weight, seed, stream);
  } else if (name == "he_uniform") {
    he_uniform(weight, seed, stream);
  } else if (name == "he_normal") {
    he_normal(weight, seed, stream);
  } else if (name == "zeros") {
    zeros(weight);
  } else {
    LOCKSTEP_THROW("unknown initializer \"" << name
                                            << "\"; expected glorot_uniform, he_uniform, "
                                               "he_normal or zeros");
  }
}

}  // namespace lockstep::nn
