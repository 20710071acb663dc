// Sgd: hyperparameter checks, JSON form, and the fused update on the parameter's device.
#include "lockstep/optim/sgd.h"

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "optim/hyperparameters.h"

namespace lockstep::optim {
namespace {

// Plain SGD keeps no slot; with momentum it keeps the velocity.
std::vector<std::string> sgd_slots(const SgdOptions& options) {
  if (options.momentum > 0.0f) return {"momentum"};
  return {};
}

const SgdOptions& checked(const SgdOptions& options) {
  detail::check_learning_rate("sgd", options.lr);
  detail::check_decay_rate("sgd", "momentum", options.momentum);
  detail::check_non_negative("sgd", "weight_decay", options.weight_decay);
  LOCKSTEP_CHECK(!options.nesterov || options.momentum > 0.0f,
                 "sgd: nesterov needs momentum > 0, found momentum " << options.momentum);
  return options;
}

}  // namespace

Sgd::Sgd(SgdOptions options) : SlotOptimizer(sgd_slots(checked(options))), options_(options) {}

std::unique_ptr<Sgd> Sgd::from_hyperparameters(const nlohmann::json& hyperparameters) {
  SgdOptions options;
  detail::HyperparameterReader reader("sgd", hyperparameters);
  reader.read("lr", options.lr);
  reader.read("momentum", options.momentum);
  reader.read("weight_decay", options.weight_decay);
  reader.read("nesterov", options.nesterov);
  reader.finish();
  return std::make_unique<Sgd>(options);
}

nlohmann::json Sgd::hyperparameters() const {
  return {{"lr", options_.lr},
          {"momentum", options_.momentum},
          {"weight_decay", options_.weight_decay},
          {"nesterov", options_.nesterov}};
}

void Sgd::set_learning_rate(float lr) {
  detail::check_learning_rate("sgd", lr);
  options_.lr = lr;
}

void Sgd::update(const Span& span, float grad_scale, int64_t /*step*/) {
  backend::SgdUpdate u;
  u.lr = options_.lr;
  u.momentum = options_.momentum;
  u.weight_decay = options_.weight_decay;
  u.grad_scale = grad_scale;
  u.nesterov = options_.nesterov;
  float* velocity = span.slots.empty() ? nullptr : span.slots[0];
  backend::backend_for(span.device).sgd_update(span.value, span.grad, velocity, span.n, u);
}

}  // namespace lockstep::optim
