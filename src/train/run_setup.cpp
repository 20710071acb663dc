// Building a run's model and optimizer from the options or from a checkpoint: the model spec
// (built-in or a file), the hyperparameters given over the defaults or the checkpoint's.
#include "train/run_setup.h"

#include <algorithm>
#include <fstream>
#include <string>

#include "lockstep/base/error.h"

namespace lockstep::train {

namespace {

nlohmann::json load_spec(const std::string& model) {
  const std::vector<std::string>& builtin = nn::builtin_model_names();
  if (std::find(builtin.begin(), builtin.end(), model) != builtin.end()) {
    return nn::builtin_spec(model);
  }
  std::ifstream in(model);
  LOCKSTEP_CHECK(in.good(),
                 "--model must be mlp, cnn, resnet20, xception or a readable model "
                 "spec file, found '"
                     << model << "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    LOCKSTEP_THROW("--model: '" << model << "' is not valid JSON: " << e.what());
  }
}

// The spec with every BatchNorm layer in `mode` (sync or ghost); unchanged when mode is empty.
nlohmann::json with_batch_norm_mode(nlohmann::json spec, const std::string& mode) {
  if (mode.empty()) return spec;
  int changed = 0;
  if (spec.contains("layers") && spec["layers"].is_array()) {
    for (nlohmann::json& layer : spec["layers"]) {
      if (layer.is_object() && layer.value("type", std::string()) == "BatchNorm") {
        layer["mode"] = mode;
        ++changed;
      }
    }
  }
  LOCKSTEP_CHECK(changed > 0, "--batch-norm " << mode << ": model '"
                                              << spec.value("name", std::string("?"))
                                              << "' has no BatchNorm layer");
  return spec;
}

// The given hyperparameters on top of `base` (the checkpoint's, on a resume); what neither
// sets takes the defaults of TrainerOptions.
nlohmann::json hyperparameters(const TrainerOptions& o, nlohmann::json base) {
  LOCKSTEP_CHECK(!o.momentum || o.optimizer == "sgd",
                 "--momentum applies to sgd only, the optimizer is " << o.optimizer);
  if (!base.is_object()) base = nlohmann::json::object();
  if (o.lr) base["lr"] = *o.lr;
  if (!base.contains("lr")) base["lr"] = o.optimizer == "sgd" ? kDefaultSgdLr : kDefaultLr;
  if (o.optimizer == "sgd" && (o.momentum || !base.contains("momentum"))) {
    base["momentum"] = o.momentum.value_or(kDefaultSgdMomentum);
  }
  if (o.weight_decay) base["weight_decay"] = *o.weight_decay;
  return base;
}

}  // namespace

RunStart fresh_run(const TrainerOptions& o) {
  RunStart run;
  run.model = nn::build_model(with_batch_norm_mode(load_spec(o.model), o.batch_norm),
                              static_cast<uint64_t>(o.seed));
  run.optimizer = optim::make_optimizer(o.optimizer, hyperparameters(o, {}));
  return run;
}

RunStart resumed_run(const TrainerOptions& o, const io::Checkpoint& ck) {
  RunStart run;
  // A given --batch-norm that differs from the checkpoint's mode makes another model, which
  // restoring the checkpoint refuses, naming the difference.
  const nlohmann::json spec =
      with_batch_norm_mode(o.given.model ? load_spec(o.model) : ck.model_spec, o.batch_norm);
  try {
    run.model = nn::build_model(spec, ck.state.seed);
  } catch (const Error& e) {
    LOCKSTEP_THROW("--resume: cannot rebuild the model of checkpoint '" << ck.path.string()
                                                                        << "': " << e.message());
  }
  run.optimizer =
      optim::make_optimizer(o.optimizer, hyperparameters(o, ck.optimizer_hyperparameters));
  io::restore_checkpoint(ck, *run.model, *run.optimizer);
  run.state = ck.state;
  return run;
}

}  // namespace lockstep::train
