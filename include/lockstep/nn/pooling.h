// MaxPool2D and AvgPool2D over [batch, channels, height, width], without padding; the
// output extent is floor((in - pool) / stride) + 1 as in Keras's "valid" pooling.
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/backend/backend.h"
#include "lockstep/nn/layer.h"
#include "lockstep/nn/saved_passes.h"

namespace lockstep::nn {

class Pool2D : public Layer {
 public:
  std::string type() const override { return max_ ? "MaxPool2D" : "AvgPool2D"; }
  nlohmann::json config() const override;
  // input_shape: [channels, height, width] -> [channels, out_h, out_w].
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, const ForwardContext& context) override;
  Tensor backward(const Tensor& dy) override;

 protected:
  // stride 0 means "the pool size", Keras's default.
  Pool2D(bool max, int64_t pool_h, int64_t pool_w, int64_t stride_h, int64_t stride_w);

 private:
  backend::PoolGeometry geometry(const Shape& image_shape) const;

  bool max_;
  int64_t pool_h_, pool_w_, stride_h_, stride_w_;
  SavedPasses<Tensor> inputs_;  // [batch, channels, height, width] of each pass
};

// Each output is the maximum of its window; the gradient goes to the window's first maximum.
class MaxPool2D final : public Pool2D {
 public:
  MaxPool2D(int64_t pool_h, int64_t pool_w, int64_t stride_h = 0, int64_t stride_w = 0)
      : Pool2D(true, pool_h, pool_w, stride_h, stride_w) {}
};

// Each output is the mean of its window.
class AvgPool2D final : public Pool2D {
 public:
  AvgPool2D(int64_t pool_h, int64_t pool_w, int64_t stride_h = 0, int64_t stride_w = 0)
      : Pool2D(false, pool_h, pool_w, stride_h, stride_w) {}
};

}  // namespace lockstep::nn
