// Conv2D: 2-D convolution over NCHW images, weight [out_ch, in_ch, kh, kw] (PyTorch's layout),
// computed per image as im2col + GEMM (forward) and GEMM + col2im (backward).
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/nn/conv_window.h"
#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class Conv2D final : public Layer {
 public:
  // Weights start from `kernel_initializer` under seed 0; build_model re-initialises them
  // from the model seed. The bias starts at zero.
  Conv2D(int64_t in_channels, int64_t filters, int64_t kernel_h, int64_t kernel_w,
         int64_t stride_h = 1, int64_t stride_w = 1, int64_t pad_h = 0, int64_t pad_w = 0,
         bool use_bias = true, std::string kernel_initializer = "glorot_uniform");
  // The same, with the kernel, strides and padding as one ConvWindow.
  Conv2D(int64_t in_channels, int64_t filters, const ConvWindow& window, bool use_bias = true,
         std::string kernel_initializer = "glorot_uniform");

  std::string type() const override { return "Conv2D"; }
  nlohmann::json config() const override;
  // input_shape: [in_channels, height, width] -> [filters, out_h, out_w].
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override;
  void initialize(uint64_t seed, uint32_t stream) override;

  Parameter& weight() { return weight_; }  // [filters, in_channels, kernel_h, kernel_w]
  Parameter& bias() { return bias_; }      // [filters]; undefined without bias

 private:
  int64_t in_channels_, filters_;
  ConvWindow window_;
  bool use_bias_;
  std::string kernel_initializer_;
  Parameter weight_;
  Parameter bias_;
  SavedPasses<Tensor> inputs_;  // [batch, in_channels, height, width] of each pass
};

}  // namespace lockstep::nn
