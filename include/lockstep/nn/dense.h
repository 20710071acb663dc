// Dense: y = x W^T + b on [batch, in_features], with PyTorch's weight layout [units, in].
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class Dense final : public Layer {
 public:
  // Weights start from `kernel_initializer` under seed 0; build_model re-initialises them
  // from the model seed. The bias starts at zero.
  Dense(int64_t in_features, int64_t units, bool use_bias = true,
        std::string kernel_initializer = "glorot_uniform");

  std::string type() const override { return "Dense"; }
  nlohmann::json config() const override;
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override;
  void initialize(uint64_t seed, uint32_t stream) override;

  int64_t in_features() const { return in_features_; }
  int64_t units() const { return units_; }
  Parameter& weight() { return weight_; }  // [units, in_features]
  Parameter& bias() { return bias_; }      // [units]; undefined without bias

 private:
  int64_t in_features_;
  int64_t units_;
  bool use_bias_;
  std::string kernel_initializer_;
  Parameter weight_;
  Parameter bias_;
  SavedPasses<Tensor> inputs_;  // [batch, in_features] of each pass
};

}  // namespace lockstep::nn
