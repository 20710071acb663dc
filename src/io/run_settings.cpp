// RunSettings to and from a checkpoint's trainer_state.extra, tolerant of missing fields.
#include "lockstep/io/run_settings.h"

namespace lockstep::io {

namespace {

std::optional<int64_t> integer_at_least(const nlohmann::json& extra, const char* key, int64_t low) {
  if (!extra.contains(key) || !extra[key].is_number_integer()) return std::nullopt;
  if (extra[key].is_number_unsigned() && extra[key].get<uint64_t>() > INT64_MAX) return {};
  const int64_t value = extra[key].get<int64_t>();
  return value >= low ? std::optional<int64_t>(value) : std::nullopt;
}

}  // namespace

nlohmann::json run_settings_json(const RunSettings& settings) {
  nlohmann::json extra = nlohmann::json::object();
  if (settings.batch_size) extra["batch_size"] = *settings.batch_size;
  if (settings.epochs) extra["epochs"] = *settings.epochs;
  if (settings.max_steps) extra["max_steps"] = *settings.max_steps;
  if (settings.micro_batch) extra["micro_batch"] = *settings.micro_batch;
  if (settings.data) extra["data"] = *settings.data;
  if (settings.lr_schedule) extra["lr_schedule"] = *settings.lr_schedule;
  if (settings.lr_steps) extra["lr_steps"] = *settings.lr_steps;
  if (settings.lr_decay) extra["lr_decay"] = *settings.lr_decay;
  if (settings.warmup_epochs) extra["warmup_epochs"] = *settings.warmup_epochs;
  return extra;
}

RunSettings read_run_settings(const nlohmann::json& extra) {
  RunSettings settings;
  if (!extra.is_object()) return settings;
  settings.batch_size = integer_at_least(extra, "batch_size", 1);
  settings.epochs = integer_at_least(extra, "epochs", 1);
  settings.max_steps = integer_at_least(extra, "max_steps", 0);
  settings.micro_batch = integer_at_least(extra, "micro_batch", 0);
  if (extra.contains("data") && extra["data"].is_string()) {
    settings.data = extra["data"].get<std::string>();
  }
  if (extra.contains("lr_schedule") && extra["lr_schedule"].is_string()) {
    settings.lr_schedule = extra["lr_schedule"].get<std::string>();
  }
  if (extra.contains("lr_steps") && extra["lr_steps"].is_array()) {
    std::vector<int64_t> steps;
    for (const nlohmann::json& step : extra["lr_steps"]) {
      if (!step.is_number_integer() ||
          (step.is_number_unsigned() && step.get<uint64_t>() > INT64_MAX) ||
          step.get<int64_t>() < 1) {
        steps.clear();
        break;
      }
      steps.push_back(step.get<int64_t>());
    }
    if (steps.size() == extra["lr_steps"].size()) settings.lr_steps = steps;
  }
  if (extra.contains("lr_decay") && extra["lr_decay"].is_number()) {
    const double decay = extra["lr_decay"].get<double>();
    if (decay > 0) settings.lr_decay = decay;
  }
  settings.warmup_epochs = integer_at_least(extra, "warmup_epochs", 0);
  return settings;
}

}  // namespace lockstep::io
