// LayerNorm (PyTorch's nn.LayerNorm over every per-sample dimension): each sample normalised
// by its own mean and biased variance, then scaled by `weight` and shifted by `bias`, both of
// the per-sample shape ([F] for [batch, F]; [C, H, W] for images).
#pragma once

#include <string>

#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class LayerNorm final : public Layer {
 public:
  // normalized_shape: the per-sample shape. The weight starts at one and the bias at zero,
  // as PyTorch's; without elementwise_affine the layer has no parameters.
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);

  std::string type() const override { return "LayerNorm"; }
  nlohmann::json config() const override;
  // The shape is kept: input_shape must be normalized_shape.
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;
  // weight and bias (none without elementwise_affine).
  std::vector<Parameter*> parameters() override;
  // Weight to one and bias to zero: nothing is drawn, so the seed and stream do not matter.
  void initialize(uint64_t seed, uint32_t stream) override;

  // eps is positive and finite, and stays positive as a float (the backend computes in float).
  static bool valid_eps(double eps);

  Parameter& weight() { return weight_; }  // normalized_shape; undefined without affine
  Parameter& bias() { return bias_; }      // normalized_shape; undefined without affine

 private:
  Shape normalized_shape_;
  double eps_;
  bool elementwise_affine_;
  Parameter weight_;
  Parameter bias_;
  struct Saved {
    Tensor input;       // [batch, ...normalized_shape]
    Tensor statistics;  // [2, batch]: each row's mean, then its 1/sqrt(variance + eps)
  };
  SavedPasses<Saved> saved_;  // of each pass
};

}  // namespace lockstep::nn
