// Rmsprop: Keras's RMSprop (no momentum, not centred) with optional L2 weight decay; one
// "mean_square" slot per parameter.
#pragma once

#include <memory>

#include "lockstep/optim/slot_optimizer.h"

namespace lockstep::optim {

// Keras's defaults (keras.optimizers.RMSprop).
struct RmspropOptions {
  float lr = 0.001f;
  float rho = 0.9f;           // in [0, 1): decay of the moving mean of squared gradients
  float epsilon = 1e-7f;      // > 0
  float weight_decay = 0.0f;  // >= 0, added to the gradient as weight_decay * param
};

// Per element, with g = grad_scale * grad + weight_decay * p (the rule of
// backend::Backend::rmsprop_update):
//   ms = rho * ms + (1 - rho) * g^2;  p -= lr * g / (sqrt(ms) + epsilon)   (ms starts at 0)
class Rmsprop final : public SlotOptimizer {
 public:
  // Throws lockstep::Error naming the first hyperparameter out of range.
  explicit Rmsprop(RmspropOptions options = {});

  // Keys "lr", "rho", "epsilon", "weight_decay"; absent keys keep RmspropOptions' defaults.
  static std::unique_ptr<Rmsprop> from_hyperparameters(const nlohmann::json& hyperparameters);

  std::string name() const override { return "rmsprop"; }
  nlohmann::json hyperparameters() const override;
  float learning_rate() const override { return options_.lr; }
  void set_learning_rate(float lr) override;
  const RmspropOptions& options() const { return options_; }

 private:
  void update(const Span& span, float grad_scale, int64_t step) override;

  RmspropOptions options_;
};

}  // namespace lockstep::optim
