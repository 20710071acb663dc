// BatchNorm: per-pass sums on the device (backend batch_norm_sums), brought to the host,
// gathered over the step when the mode needs it and added in the order of the global batch;
// the statistics are computed in double on the host and applied on the device as floats.
#include "lockstep/nn/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/nn/layer_norm.h"
#include "lockstep/tensor/storage.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

namespace {

// The backend's double sums of one call, read back to the host.
std::vector<double> to_host(const Storage& sums, int64_t n, backend::Backend& backend) {
  std::vector<double> host(static_cast<size_t>(n));
  backend.copy_to_host(host.data(), sums.data(), host.size() * sizeof(double));
  return host;
}

Tensor floats_on(const std::vector<float>& values, const Shape& shape, const Device& device) {
  Tensor host = Tensor::empty(shape);
  std::copy(values.begin(), values.end(), host.data());
  return device.is_cpu() ? host : host.to(device);
}

std::vector<float> host_floats(const Tensor& t) {
  const Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
  return std::vector<float>(host.data(), host.data() + host.numel());
}

}  // namespace

BatchNormMode parse_batch_norm_mode(const std::string& text) {
  if (text == "sync") return BatchNormMode::kSync;
  if (text == "ghost") return BatchNormMode::kGhost;
  LOCKSTEP_THROW("BatchNorm mode: expected sync or ghost, found '" << text << "'");
}

std::string batch_norm_mode_name(BatchNormMode mode) {
  return mode == BatchNormMode::kSync ? "sync" : "ghost";
}

BatchNorm::BatchNorm(int64_t channels, double momentum, double eps, BatchNormMode mode)
    : channels_(channels), momentum_(momentum), eps_(eps), mode_(mode) {
  LOCKSTEP_CHECK(channels > 0, "BatchNorm: channels must be positive, found " << channels);
  LOCKSTEP_CHECK(std::isfinite(momentum) && momentum >= 0.0 && momentum <= 1.0,
                 "BatchNorm: momentum must be in [0, 1], found " << momentum);
  LOCKSTEP_CHECK(LayerNorm::valid_eps(eps),
                 "BatchNorm: eps must be a positive number that a float can hold, found " << eps);
  weight_ = {"weight", Tensor::empty({channels}), Tensor::zeros({channels})};
  bias_ = {"bias", Tensor::empty({channels}), Tensor::zeros({channels})};
  running_mean_ = {"running_mean", Tensor::empty({channels})};
  running_var_ = {"running_var", Tensor::empty({channels})};
  initialize(0, 0);
}

nlohmann::json BatchNorm::config() const {
  return {{"type", type()},
          {"momentum", momentum_},
          {"eps", eps_},
          {"mode", batch_norm_mode_name(mode_)}};
}

Shape BatchNorm::output_shape(const Shape& input_shape) const {
  LOCKSTEP_CHECK(
      (input_shape.size() == 1 || input_shape.size() == 3) && input_shape[0] == channels_,
      "BatchNorm: per-sample input shape is " << to_string(input_shape) << ", expected ["
                                              << channels_ << "] or [" << channels_
                                              << ", height, width]");
  return input_shape;
}

int64_t BatchNorm::spatial_of(const Tensor& x) const {
  LOCKSTEP_CHECK(x.dim() >= 2, "BatchNorm: input has shape " << to_string(x.shape())
                                                             << ", expected [batch, " << channels_
                                                             << ", ...]");
  output_shape(detail::per_sample(x.shape()));
  detail::check_parameter_device("BatchNorm", "weight", weight_.value, x);
  return x.size(0) == 0 ? shape_numel(detail::per_sample(x.shape())) / channels_
                        : x.numel() / (x.size(0) * channels_);
}

std::vector<double> BatchNorm::pass_sums(const std::vector<Tensor>& xs) const {
  const int64_t width = 2 * channels_ + 1;
  std::vector<double> sums;
  sums.reserve(xs.size() * static_cast<size_t>(width));
  for (const Tensor& x : xs) {
    const int64_t spatial = spatial_of(x);
    backend::Backend& backend = backend::backend_for(x.device());
    Storage device_sums(static_cast<size_t>(2 * channels_) * sizeof(double), x.device());
    backend.batch_norm_sums(x.data(), x.size(0), channels_, spatial,
                            static_cast<double*>(device_sums.data()));
    const std::vector<double> host = to_host(device_sums, 2 * channels_, backend);
    sums.insert(sums.end(), host.begin(), host.end());
    sums.push_back(static_cast<double>(x.size(0) * spatial));
  }
  return sums;
}

BatchNorm::Statistics BatchNorm::statistics(const double* sums, double count,
                                            const Device& device) const {
  std::vector<float> mean_rstd(static_cast<size_t>(2 * channels_));
  for (int64_t c = 0; c < channels_; ++c) {
    const double mean = count > 0.0 ? sums[c] / count : 0.0;
    const double variance =
        count > 0.0 ? std::max(0.0, sums[channels_ + c] / count - mean * mean) : 0.0;
    mean_rstd[static_cast<size_t>(c)] = static_cast<float>(mean);
    mean_rstd[static_cast<size_t>(channels_ + c)] =
        static_cast<float>(1.0 / std::sqrt(variance + eps_));
  }
  return {floats_on(mean_rstd, {2, channels_}, device), count};
}

BatchNorm::Statistics BatchNorm::running_statistics(const Device& device) const {
  const std::vector<float> mean = host_floats(running_mean_.value);
  const std::vector<float> variance = host_floats(running_var_.value);
  std::vector<float> mean_rstd(static_cast<size_t>(2 * channels_));
  for (size_t c = 0; c < mean.size(); ++c) {
    mean_rstd[c] = mean[c];
    mean_rstd[mean.size() + c] =
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(variance[c]) + eps_));
  }
  return {floats_on(mean_rstd, {2, channels_}, device), 0.0};
}

void BatchNorm::update_running(const std::vector<double>& sums_per_update) {
  const int64_t width = 2 * channels_ + 1;
  std::vector<float> mean = host_floats(running_mean_.value);
  std::vector<float> variance = host_floats(running_var_.value);
  for (size_t at = 0; at < sums_per_update.size(); at += static_cast<size_t>(width)) {
    const double* sums = sums_per_update.data() + at;
    const double count = sums[2 * channels_];
    if (count <= 0.0) continue;
    for (int64_t c = 0; c < channels_; ++c) {
      const double batch_mean = sums[c] / count;
      const double biased = std::max(0.0, sums[channels_ + c] / count - batch_mean * batch_mean);
      const double unbiased = count > 1.0 ? biased * count / (count - 1.0) : biased;
      float& m = mean[static_cast<size_t>(c)];
      float& v = variance[static_cast<size_t>(c)];
      m = static_cast<float>((1.0 - momentum_) * m + momentum_ * batch_mean);
      v = static_cast<float>((1.0 - momentum_) * v + momentum_ * unbiased);
    }
  }
  running_mean_.value.copy_from(floats_on(mean, {channels_}, Device::cpu()));
  running_var_.value.copy_from(floats_on(variance, {channels_}, Device::cpu()));
}

std::vector<Tensor> BatchNorm::forward_passes(const std::vector<Tensor>& xs,
                                              const ForwardContext& context) {
  saved_.clear();
  training_ = context.training;
  partials_ = context.partials;
  const int64_t width = 2 * channels_ + 1;
  const Device& device = weight_.value.device();
  std::vector<Statistics> per_pass;
  if (!context.training) {
    per_pass.assign(xs.size(), running_statistics(device));
  } else {
    LocalStepPartials local;
    StepPartials& partials = context.partials != nullptr ? *context.partials : local;
    const std::vector<double> mine = pass_sums(xs);
    // Every pass of the step, in the global order: the same on every rank.
    const std::vector<double> all = partials.gather(mine, width);
    if (mode_ == BatchNormMode::kSync) {
      const std::vector<double> totals = add_passes_in_order(all, width);
      per_pass.assign(xs.size(), statistics(totals.data(), totals[2 * channels_], device));
      update_running(totals);
    } else {
      for (size_t p = 0; p < xs.size(); ++p) {
        const double* sums = mine.data() + p * static_cast<size_t>(width);
        per_pass.push_back(statistics(sums, sums[2 * channels_], device));
      }
      update_running(all);
    }
  }
  std::vector<Tensor> ys;
  for (size_t p = 0; p < xs.size(); ++p) {
    const Tensor& x = xs[p];
    const int64_t spatial = spatial_of(x);
    Tensor y = Tensor::empty(x.shape(), x.device());
    const Tensor& mean_rstd = per_pass[p].mean_rstd;
    backend::backend_for(x.device())
        .batch_norm_forward(x.data(), mean_rstd.data(), mean_rstd.data() + channels_,
                            weight_.value.data(), bias_.value.data(), y.data(), x.size(0),
                            channels_, spatial);
    saved_.push_back({x, per_pass[p]});
    ys.push_back(y);
  }
  return ys;
}

std::vector<Tensor> BatchNorm::backward_passes(
    const std::vector<Tensor>& dys, const std::function<void(int pass)>& pass_grads_done) {
  LOCKSTEP_CHECK(dys.size() == saved_.size(), "BatchNorm: backward of "
                                                  << dys.size() << " passes after a forward of "
                                                  << saved_.size());
  const int64_t width = 2 * channels_ + 1;
  // Per pass: sum dy and sum dy * xhat over each channel (and the count), on the host; kept
  // on the device too, where they become the parameters' grads.
  std::vector<double> mine;
  std::vector<std::unique_ptr<Storage>> device_sums;
  for (size_t p = 0; p < dys.size(); ++p) {
    const Saved& saved = saved_[p];
    const Tensor& dy = dys[p];
    detail::check_gradient("BatchNorm", dy, saved.input.shape(), saved.input.device());
    const int64_t spatial = spatial_of(saved.input);
    backend::Backend& backend = backend::backend_for(dy.device());
    device_sums.push_back(std::make_unique<Storage>(
        static_cast<size_t>(2 * channels_) * sizeof(double), dy.device()));
    const Tensor& mean_rstd = saved.statistics.mean_rstd;
    backend.batch_norm_backward_sums(saved.input.data(), dy.data(), mean_rstd.data(),
                                     mean_rstd.data() + channels_, dy.size(0), channels_, spatial,
                                     static_cast<double*>(device_sums.back()->data()));
    const std::vector<double> host = to_host(*device_sums.back(), 2 * channels_, backend);
    mine.insert(mine.end(), host.begin(), host.end());
    mine.push_back(saved.statistics.count);
  }
  // The means of dy and dy * xhat over the values the statistics came from: the step's
  // (sync), the pass's own (ghost), or none (evaluation: the statistics were constants).
  std::vector<double> totals;
  if (training_ && mode_ == BatchNormMode::kSync) {
    LocalStepPartials local;
    totals =
        add_passes_in_order((partials_ != nullptr ? *partials_ : local).gather(mine, width), width);
  }
  // [2, channels] on the device: sums / count, or zeros in evaluation.
  const auto means_of = [&](const double* sums, double count) {
    std::vector<float> means(static_cast<size_t>(2 * channels_), 0.0f);
    if (training_ && count > 0.0) {
      for (size_t i = 0; i < means.size(); ++i) means[i] = static_cast<float>(sums[i] / count);
    }
    return floats_on(means, {2, channels_}, weight_.value.device());
  };
  const Tensor step_means = totals.empty() || saved_.empty()
                                ? Tensor()
                                : means_of(totals.data(), saved_[0].statistics.count);
  std::vector<Tensor> dxs;
  for (size_t p = 0; p < dys.size(); ++p) {
    const Saved& saved = saved_[p];
    const Tensor& dy = dys[p];
    const Tensor device_means =
        step_means.defined()
            ? step_means
            : means_of(mine.data() + p * static_cast<size_t>(width), saved.statistics.count);
    const Tensor& mean_rstd = saved.statistics.mean_rstd;
    Tensor dx = Tensor::empty(dy.shape(), dy.device());
    backend::Backend& backend = backend::backend_for(dy.device());
    backend.batch_norm_backward_input(saved.input.data(), dy.data(), mean_rstd.data(),
                                      mean_rstd.data() + channels_, weight_.value.data(),
                                      device_means.data(), device_means.data() + channels_,
                                      dx.data(), dy.size(0), channels_, spatial_of(saved.input));
    // This pass's share: d weight = sum dy * xhat, d bias = sum dy, rounded once.
    const double* pass_sums = static_cast<const double*>(device_sums[p]->data());
    backend.round_to_float(pass_sums + channels_, weight_.grad.data(), channels_);
    backend.round_to_float(pass_sums, bias_.grad.data(), channels_);
    pass_grads_done(static_cast<int>(p));
    dxs.push_back(dx);
  }
  saved_.clear();
  return dxs;
}

void BatchNorm::initialize(uint64_t /*seed*/, uint32_t /*stream*/) {
  weight_.value.fill(1.0f);
  bias_.value.fill(0.0f);
  running_mean_.value.fill(0.0f);
  running_var_.value.fill(1.0f);
}

}  // namespace lockstep::nn
