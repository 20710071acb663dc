// Adam and AdamW with PyTorch's rules: bias-corrected moving averages of the gradient and
// its square; Adam adds L2 weight decay to the gradient, AdamW decays the weights directly.
// Slots per parameter: "exp_avg" and "exp_avg_sq".
#pragma once

#include <memory>

#include "lockstep/optim/slot_optimizer.h"

namespace lockstep::optim {

// PyTorch's defaults (torch.optim.Adam).
struct AdamOptions {
  float lr = 0.001f;
  float beta1 = 0.9f;         // in [0, 1)
  float beta2 = 0.999f;       // in [0, 1)
  float epsilon = 1e-8f;      // > 0
  float weight_decay = 0.0f;  // >= 0
};

// PyTorch's defaults (torch.optim.AdamW): as Adam's but weight decay 0.01. A type of its own
// so that AdamWOptions{.lr = 0.01f} keeps that default.
struct AdamWOptions {
  float lr = 0.001f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.01f;
};

// Per element at step t (from 1), with g = grad_scale * grad (+ weight_decay * p for Adam;
// AdamW first sets p *= 1 - lr * weight_decay):
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
class Adam : public SlotOptimizer {
 public:
  // Throws lockstep::Error naming the first hyperparameter out of range.
  explicit Adam(AdamOptions options = {});

  // Keys "lr", "beta1", "beta2", "epsilon", "weight_decay"; absent keys keep the defaults.
  static std::unique_ptr<Adam> from_hyperparameters(const nlohmann::json& hyperparameters);

  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  nlohmann::json hyperparameters() const override;
  float learning_rate() const override { return options_.lr; }
  void set_learning_rate(float lr) override;
  const AdamOptions& options() const { return options_; }
  // True for AdamW.
  bool decoupled_weight_decay() const { return decoupled_; }

 protected:
  Adam(const AdamOptions& options, bool decoupled_weight_decay);

 private:
  void update(const Span& span, float grad_scale, int64_t step) override;

  AdamOptions options_;
  bool decoupled_;
};

class AdamW final : public Adam {
 public:
  explicit AdamW(AdamWOptions options = {});

  // The keys of Adam; an absent "weight_decay" means 0.01.
  static std::unique_ptr<AdamW> from_hyperparameters(const nlohmann::json& hyperparameters);
};

}  // namespace lockstep::optim
