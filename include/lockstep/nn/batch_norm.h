// BatchNorm (PyTorch's BatchNorm1d/BatchNorm2d): each channel of NCHW images ([C, H, W] per
// sample), or each feature of [F], normalised by the batch's mean and biased variance in
// training, then scaled by `weight` and shifted by `bias`. The running mean and variance are
// buffers: in training they follow running = (1 - momentum) * running + momentum * statistic
// (the unbiased variance, as PyTorch); evaluation normalises with them.
//
// Which batch: in `sync` mode (the default) the whole training step, every pass on every rank:
// one process training on the global batch computes the same, and N ranks compute it bit for
// bit (per-pass sums in double, gathered and added in the order of the global batch). In
// `ghost` mode each pass (micro-batch) is normalised by its own statistics, with no
// communication on that path; the running statistics are updated pass after pass in the order
// of the global batch, so they too are the same on any number of ranks.
#pragma once

#include <string>
#include <vector>

#include "lockstep/nn/layer.h"

namespace lockstep::nn {

enum class BatchNormMode { kSync, kGhost };
BatchNormMode parse_batch_norm_mode(const std::string& text);  // "sync" | "ghost"
std::string batch_norm_mode_name(BatchNormMode mode);

class BatchNorm final : public StepLayer {
 public:
  // momentum and eps as PyTorch's (its defaults 0.1 and 1e-5). weight starts at one, bias at
  // zero, the running mean at zero and the running variance at one.
  explicit BatchNorm(int64_t channels, double momentum = 0.1, double eps = 1e-5,
                     BatchNormMode mode = BatchNormMode::kSync);

  std::string type() const override { return "BatchNorm"; }
  nlohmann::json config() const override;
  // [channels] or [channels, height, width]; the shape is kept.
  Shape output_shape(const Shape& input_shape) const override;
  std::vector<Tensor> forward_passes(const std::vector<Tensor>& xs,
                                     const ForwardContext& context) override;
  std::vector<Tensor> backward_passes(
      const std::vector<Tensor>& dys,
      const std::function<void(int pass)>& pass_grads_done) override;
  std::vector<Parameter*> parameters() override { return {&weight_, &bias_}; }
  std::vector<Buffer*> buffers() override { return {&running_mean_, &running_var_}; }
  // Weight to one, bias to zero, running statistics to zero mean and unit variance: nothing
  // is drawn, so the seed and stream do not matter.
  void initialize(uint64_t seed, uint32_t stream) override;

  int64_t channels() const { return channels_; }
  BatchNormMode mode() const { return mode_; }
  void set_mode(BatchNormMode mode) { mode_ = mode; }
  Parameter& weight() { return weight_; }           // [channels]
  Parameter& bias() { return bias_; }               // [channels]
  Buffer& running_mean() { return running_mean_; }  // [channels]
  Buffer& running_var() { return running_var_; }    // [channels]

 private:
  // What normalised a pass: [2, channels] floats on the device, mean then rstd; and, for
  // the gradient, how many values per channel the statistics were taken over.
  struct Statistics {
    Tensor mean_rstd;
    double count = 0.0;
  };
  struct Saved {
    Tensor input;
    Statistics statistics;
  };

  // Per-pass sums [passes][2 * channels + 1]: the sums of batch_norm_sums, then the count.
  std::vector<double> pass_sums(const std::vector<Tensor>& xs) const;
  // Mean and rstd of `count` values with these sums, on `device`.
  Statistics statistics(const double* sums, double count, const Device& device) const;
  // The running statistics as evaluation uses them.
  Statistics running_statistics(const Device& device) const;
  // running = (1 - momentum) * running + momentum * statistic, once per set of sums given
  // (rows of 2 * channels + 1), in order.
  void update_running(const std::vector<double>& sums_per_update);
  // Checks x is [batch, channels, ...] and returns its positions per channel (1 for [N, F]).
  int64_t spatial_of(const Tensor& x) const;

  int64_t channels_;
  double momentum_;
  double eps_;
  BatchNormMode mode_;
  Parameter weight_;
  Parameter bias_;
  Buffer running_mean_;
  Buffer running_var_;
  // The last forward_passes': one entry per pass, its mode and its gatherer (the backward's
  // gather goes where the forward's went, also on a rank without passes).
  std::vector<Saved> saved_;
  bool training_ = false;
  StepPartials* partials_ = nullptr;
};

}  // namespace lockstep::nn
