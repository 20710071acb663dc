// Adam and AdamW: hyperparameter checks, JSON form, and the fused update on the parameter's
// device.
#include "lockstep/optim/adam.h"

#include "lockstep/backend/backend.h"
#include "optim/hyperparameters.h"

namespace lockstep::optim {
namespace {

const AdamOptions& checked(const AdamOptions& options, const char* who) {
  detail::check_learning_rate(who, options.lr);
  detail::check_decay_rate(who, "beta1", options.beta1);
  detail::check_decay_rate(who, "beta2", options.beta2);
  detail::check_positive(who, "epsilon", options.epsilon);
  detail::check_non_negative(who, "weight_decay", options.weight_decay);
  return options;
}

AdamOptions read_options(const char* who, AdamOptions options, const nlohmann::json& json) {
  detail::HyperparameterReader reader(who, json);
  reader.read("lr", options.lr);
  reader.read("beta1", options.beta1);
  reader.read("beta2", options.beta2);
  reader.read("epsilon", options.epsilon);
  reader.read("weight_decay", options.weight_decay);
  reader.finish();
  return options;
}

AdamOptions as_adam_options(const AdamWOptions& o) {
  return {o.lr, o.beta1, o.beta2, o.epsilon, o.weight_decay};
}

}  // namespace

Adam::Adam(AdamOptions options) : Adam(options, false) {}

Adam::Adam(const AdamOptions& options, bool decoupled_weight_decay)
    : SlotOptimizer({"exp_avg", "exp_avg_sq"}),
      options_(checked(options, decoupled_weight_decay ? "adamw" : "adam")),
      decoupled_(decoupled_weight_decay) {}

std::unique_ptr<Adam> Adam::from_hyperparameters(const nlohmann::json& hyperparameters) {
  return std::make_unique<Adam>(read_options("adam", AdamOptions{}, hyperparameters));
}

nlohmann::json Adam::hyperparameters() const {
  return {{"lr", options_.lr},
          {"beta1", options_.beta1},
          {"beta2", options_.beta2},
          {"epsilon", options_.epsilon},
          {"weight_decay", options_.weight_decay}};
}

void Adam::set_learning_rate(float lr) {
  detail::check_learning_rate(decoupled_ ? "adamw" : "adam", lr);
  options_.lr = lr;
}

void Adam::update(const Span& span, float grad_scale, int64_t step) {
  backend::AdamUpdate u;
  u.lr = options_.lr;
  u.beta1 = options_.beta1;
  u.beta2 = options_.beta2;
  u.epsilon = options_.epsilon;
  u.weight_decay = options_.weight_decay;
  u.grad_scale = grad_scale;
  u.decoupled_weight_decay = decoupled_;
  u.step = step;
  backend::backend_for(span.device)
      .adam_update(span.value, span.grad, span.slots[0], span.slots[1], span.n, u);
}

AdamW::AdamW(AdamWOptions options) : Adam(as_adam_options(options), true) {}

std::unique_ptr<AdamW> AdamW::from_hyperparameters(const nlohmann::json& hyperparameters) {
  const AdamOptions options =
      read_options("adamw", as_adam_options(AdamWOptions{}), hyperparameters);
  return std::make_unique<AdamW>(AdamWOptions{options.lr, options.beta1, options.beta2,
                                              options.epsilon, options.weight_decay});
}

}  // namespace lockstep::optim
