// Checkpoints: one safetensors file holding the model parameters and buffers under their names
// ("0.weight", Dense weights [out, in]; "1.running_mean"), the optimizer state under
// "optim/<name>", and in its metadata the model spec, the optimizer and its hyperparameters, the
// trainer state and a checksum of everything else.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/tensor/named_tensor.h"

namespace lockstep::io {

inline constexpr const char* kCheckpointFormat = "lockstep-checkpoint";
// Version 2 adds the checksum, which it requires; version 1 files (no checksum) still load.
inline constexpr int kCheckpointVersion = 2;
inline constexpr int kOldestCheckpointVersion = 1;
// Optimizer state tensors are stored under this prefix, parameters under their own names.
inline constexpr const char* kOptimizerStatePrefix = "optim/";

// Where a run stands, so that a resume continues where it stopped: with the weights and the
// optimizer state (Adam's moments and step count), these fix every later step, since the data
// order hangs on (seed, epoch) and dropout on (seed, step, sample).
struct TrainerState {
  int64_t step = 0;               // optimizer updates taken
  int64_t epoch = 0;              // current epoch
  int64_t position_in_epoch = 0;  // samples of the current epoch already consumed
  uint64_t seed = 0;              // run seed (weights, shuffling, dropout)
  int world_size = 1;             // ranks the run had when it was saved
  nlohmann::json extra;           // anything else the trainer keeps (loss name, batch size)

  bool operator==(const TrainerState& other) const = default;
};

struct Checkpoint {
  nlohmann::json model_spec;
  std::string optimizer_name;
  nlohmann::json optimizer_hyperparameters;
  TrainerState state;
  NamedTensors parameters;       // "0.weight", "0.bias", ... (CPU)
  NamedTensors optimizer_state;  // as Optimizer::state() names them, without the prefix (CPU)
  std::filesystem::path path;    // the file it was read from, for error messages
};

// Writes `model`'s parameters, `optimizer`'s state and `state` to `path` atomically: a crash
// leaves the previous checkpoint intact. The metadata carries a CRC-32 of the rest (key
// "checksum"). `before_rename` runs when the temporary is complete, before the rename.
void save_checkpoint(const std::filesystem::path& path, nn::Model& model,
                     const optim::Optimizer& optimizer, const TrainerState& state,
                     const std::function<void()>& before_rename = {});

// Reads and checks a checkpoint: format and version, every metadata key, numeric fields, and
// the checksum (required from version 2 on, so that a flipped byte in its key is caught too).
Checkpoint read_checkpoint(const std::filesystem::path& path);

// Copies the weights into `model` and the state into `optimizer`, after checking that every
// parameter is present with the right shape, nothing is extra, the spec matches model.spec()
// and the optimizer has the stored name. The weights are copied last: when anything does not
// fit, the model is left unchanged.
void restore_checkpoint(const Checkpoint& checkpoint, nn::Model& model,
                        optim::Optimizer& optimizer);

struct LoadedRun {
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  TrainerState state;
};

// Rebuilds the model from the stored spec and the optimizer from its stored name and
// hyperparameters, then restores both from the checkpoint at `path`.
LoadedRun load_run(const std::filesystem::path& path);

}  // namespace lockstep::io
