// The settings of a training run that its checkpoints record (trainer_state.extra), so that a
// resume rebuilds the same run and predict finds the data it was trained on.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::io {

struct RunSettings {
  std::optional<int64_t> batch_size;   // global batch, >= 1
  std::optional<int64_t> epochs;       // epochs of the whole run, >= 1
  std::optional<int64_t> max_steps;    // steps of the whole run, >= 0 (0: no limit)
  std::optional<int64_t> micro_batch;  // rows per micro-batch, >= 0 (0: off)
  std::optional<std::string> data;     // the data source text ("synthetic:3000", ...)
  // The learning-rate schedule (train::LrSchedule): its kind ("constant", "step", "cosine"),
  // the epochs of a step decay (each >= 1), the decay factor (> 0), the warm-up epochs (>= 0).
  std::optional<std::string> lr_schedule;
  std::optional<std::vector<int64_t>> lr_steps;
  std::optional<double> lr_decay;
  std::optional<int64_t> warmup_epochs;
};

// The JSON object stored as trainer_state.extra; unset fields are left out.
nlohmann::json run_settings_json(const RunSettings& settings);

// Reads the fields of `extra` that are present, of the right type and in range; anything else
// (older checkpoints, other keys) is left unset, never an error.
RunSettings read_run_settings(const nlohmann::json& extra);

}  // namespace lockstep::io
