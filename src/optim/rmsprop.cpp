// Rmsprop: hyperparameter checks, JSON form, and the fused update on the parameter's device.
#include "lockstep/optim/rmsprop.h"

#include "lockstep/backend/backend.h"
#include "optim/hyperparameters.h"

namespace lockstep::optim {
namespace {

const RmspropOptions& checked(const RmspropOptions& options) {
  detail::check_learning_rate("rmsprop", options.lr);
  detail::check_decay_rate("rmsprop", "rho", options.rho);
  detail::check_positive("rmsprop", "epsilon", options.epsilon);
  detail::check_non_negative("rmsprop", "weight_decay", options.weight_decay);
  return options;
}

}  // namespace

Rmsprop::Rmsprop(RmspropOptions options)
    : SlotOptimizer({"mean_square"}), options_(checked(options)) {}

std::unique_ptr<Rmsprop> Rmsprop::from_hyperparameters(const nlohmann::json& hyperparameters) {
  RmspropOptions options;
  detail::HyperparameterReader reader("rmsprop", hyperparameters);
  reader.read("lr", options.lr);
  reader.read("rho", options.rho);
  reader.read("epsilon", options.epsilon);
  reader.read("weight_decay", options.weight_decay);
  reader.finish();
  return std::make_unique<Rmsprop>(options);
}

nlohmann::json Rmsprop::hyperparameters() const {
  return {{"lr", options_.lr},
          {"rho", options_.rho},
          {"epsilon", options_.epsilon},
          {"weight_decay", options_.weight_decay}};
}

void Rmsprop::set_learning_rate(float lr) {
  detail::check_learning_rate("rmsprop", lr);
  options_.lr = lr;
}

void Rmsprop::update(const Span& span, float grad_scale, int64_t /*step*/) {
  backend::RmspropUpdate u;
  u.lr = options_.lr;
  u.rho = options_.rho;
  u.epsilon = options_.epsilon;
  u.weight_decay = options_.weight_decay;
  u.grad_scale = grad_scale;
  backend::backend_for(span.device).rmsprop_update(span.value, span.grad, span.slots[0], span.n, u);
}

}  // namespace lockstep::optim
