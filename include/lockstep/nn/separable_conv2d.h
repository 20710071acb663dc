// SeparableConv2D (Keras): a depthwise convolution without bias, then a pointwise 1x1
// convolution with the bias; PyTorch's nn.Sequential(Conv2d(groups=in_ch, bias=False),
// Conv2d(kernel 1)) with parameters depthwise.weight, pointwise.weight and pointwise.bias.
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/nn/conv2d.h"
#include "lockstep/nn/conv_window.h"
#include "lockstep/nn/depthwise_conv2d.h"
#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class SeparableConv2D final : public Layer {
 public:
  // Both weights start from `kernel_initializer` under seed 0; build_model re-initialises them
  // from the model seed. The pointwise bias starts at zero.
  SeparableConv2D(int64_t in_channels, int64_t filters, int64_t kernel_h, int64_t kernel_w,
                  int64_t stride_h = 1, int64_t stride_w = 1, int64_t pad_h = 0, int64_t pad_w = 0,
                  int64_t depth_multiplier = 1, bool use_bias = true,
                  std::string kernel_initializer = "glorot_uniform");
  // The same, with the kernel, strides and padding as one ConvWindow.
  SeparableConv2D(int64_t in_channels, int64_t filters, const ConvWindow& window,
                  int64_t depth_multiplier = 1, bool use_bias = true,
                  std::string kernel_initializer = "glorot_uniform");

  std::string type() const override { return "SeparableConv2D"; }
  nlohmann::json config() const override;
  // input_shape: [in_channels, height, width] -> [filters, out_h, out_w].
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;
  // depthwise.weight, pointwise.weight, pointwise.bias (without use_bias: the first two).
  std::vector<Parameter*> parameters() override;
  // The depthwise weight is drawn on `stream`, the pointwise weight on stream ^ 2^31 (the top
  // bit flipped: kPointwiseStream), so the two never share random numbers; a model has far
  // fewer than 2^31 layers, so no other layer's stream is hit.
  void initialize(uint64_t seed, uint32_t stream) override;

  static constexpr uint32_t kPointwiseStream = uint32_t{1} << 31;

  Parameter& depthwise_weight() { return depthwise_.weight(); }  // [in_ch*m, 1, kh, kw]
  Parameter& pointwise_weight() { return pointwise_.weight(); }  // [filters, in_ch*m, 1, 1]
  Parameter& pointwise_bias() { return pointwise_.bias(); }      // [filters]; undefined without

 private:
  int64_t in_channels_, filters_;
  bool use_bias_;
  std::string kernel_initializer_;
  DepthwiseConv2D depthwise_;
  Conv2D pointwise_;
  SavedPasses<Tensor> inputs_;  // [batch, in_channels, height, width] of each pass
};

}  // namespace lockstep::nn
