// Optimizer: updates parameters from their SUM-gradients; its state is a list of named
// tensors so a checkpoint can hold it and a resume can continue bit for bit.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lockstep/nn/parameter.h"
#include "lockstep/tensor/named_tensor.h"

namespace lockstep::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // "sgd", "rmsprop", "adam", "adamw".
  virtual std::string name() const = 0;
  // Everything needed to rebuild this optimizer with make_optimizer (lr, momentum, ...).
  virtual nlohmann::json hyperparameters() const = 0;

  // One update of every parameter from grad * grad_scale (the trainer passes
  // 1/global_batch). Parameters are matched to their state by name.
  virtual void step(const std::vector<nn::Parameter*>& parameters, float grad_scale) = 0;

  // State tensors named "<parameter name>.<slot>" (e.g. "0.weight.momentum"), plus "step".
  virtual NamedTensors state() const = 0;
  // Replaces the state with `state` (as returned by state()); throws lockstep::Error when a
  // name or shape does not fit `parameters`.
  virtual void load_state(const NamedTensors& state,
                          const std::vector<nn::Parameter*>& parameters) = 0;

  virtual float learning_rate() const = 0;
  virtual void set_learning_rate(float lr) = 0;
};

// Builds an optimizer by name from hyperparameters (missing keys take the defaults of the
// named rule: Keras's for RMSprop, PyTorch's for SGD and Adam/AdamW).
std::unique_ptr<Optimizer> make_optimizer(const std::string& name,
                                          const nlohmann::json& hyperparameters);

// The names make_optimizer knows: sgd, rmsprop, adam, adamw.
const std::vector<std::string>& optimizer_names();
// Those names for a message: "sgd, rmsprop, adam or adamw".
std::string optimizer_names_text();

}  // namespace lockstep::optim
