// Sgd: stochastic gradient descent with PyTorch's rule for momentum, Nesterov momentum and
// (L2) weight decay; one "momentum" slot per parameter when momentum > 0.
#pragma once

#include <memory>

#include "lockstep/optim/slot_optimizer.h"

namespace lockstep::optim {

// PyTorch's defaults (torch.optim.SGD): lr 1e-3, no momentum, no weight decay.
struct SgdOptions {
  float lr = 0.001f;
  float momentum = 0.0f;      // in [0, 1)
  float weight_decay = 0.0f;  // >= 0, added to the gradient as weight_decay * param
  bool nesterov = false;      // needs momentum > 0
};

// Per element, with g = grad_scale * grad + weight_decay * p:
//   v = momentum * v + g;  p -= lr * (nesterov ? g + momentum * v : v)   (v starts at 0)
class Sgd final : public SlotOptimizer {
 public:
  // Throws lockstep::Error naming the first hyperparameter out of range.
  explicit Sgd(SgdOptions options = {});

  // Keys "lr", "momentum", "weight_decay", "nesterov"; absent keys keep SgdOptions' defaults.
  static std::unique_ptr<Sgd> from_hyperparameters(const nlohmann::json& hyperparameters);

  std::string name() const override { return "sgd"; }
  nlohmann::json hyperparameters() const override;
  float learning_rate() const override { return options_.lr; }
  void set_learning_rate(float lr) override;
  const SgdOptions& options() const { return options_; }

 private:
  void update(const Span& span, float grad_scale, int64_t step) override;

  SgdOptions options_;
};

}  // namespace lockstep::optim
