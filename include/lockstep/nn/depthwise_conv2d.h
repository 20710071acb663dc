// DepthwiseConv2D (Keras): each input channel convolved with its own depth_multiplier filters,
// PyTorch's Conv2d with groups = in_channels: weight [in_ch*m, 1, kh, kw], output channel
// c*m + j reading input channel c.
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/nn/conv_window.h"
#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class DepthwiseConv2D final : public Layer {
 public:
  // Weights start from `kernel_initializer` under seed 0 (fans as PyTorch computes them for
  // the weight's shape: fan_in kh*kw, fan_out in_ch*m*kh*kw); build_model re-initialises them
  // from the model seed. The bias starts at zero.
  DepthwiseConv2D(int64_t in_channels, int64_t kernel_h, int64_t kernel_w, int64_t stride_h = 1,
                  int64_t stride_w = 1, int64_t pad_h = 0, int64_t pad_w = 0,
                  int64_t depth_multiplier = 1, bool use_bias = true,
                  std::string kernel_initializer = "glorot_uniform");
  // The same, with the kernel, strides and padding as one ConvWindow.
  DepthwiseConv2D(int64_t in_channels, const ConvWindow& window, int64_t depth_multiplier = 1,
                  bool use_bias = true, std::string kernel_initializer = "glorot_uniform");

  std::string type() const override { return "DepthwiseConv2D"; }
  nlohmann::json config() const override;
  // input_shape: [in_channels, height, width] -> [in_channels*depth_multiplier, out_h, out_w].
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override;
  void initialize(uint64_t seed, uint32_t stream) override;

  int64_t out_channels() const { return in_channels_ * depth_multiplier_; }
  Parameter& weight() { return weight_; }  // [in_channels*depth_multiplier, 1, kh, kw]
  Parameter& bias() { return bias_; }      // [in_channels*depth_multiplier]; undefined without

 private:
  int64_t in_channels_;
  ConvWindow window_;
  int64_t depth_multiplier_;
  bool use_bias_;
  std::string kernel_initializer_;
  Parameter weight_;
  Parameter bias_;
  SavedPasses<Tensor> inputs_;  // [batch, in_channels, height, width] of each pass
};

}  // namespace lockstep::nn
