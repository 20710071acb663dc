// TrainerOptions: everything a training run is told (model, data, augmentation, optimizer,
// validation, checkpoints, resume, stops, logging, device), with the train program's defaults,
// and the check of their values that every run makes before it starts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lockstep/runtime/device_binding.h"
#include "lockstep/train/lr_schedule.h"

namespace lockstep::train {

// Adam at 0.001 takes mlp past 85% test accuracy on Fashion-MNIST in 2 epochs (86-87%).
inline constexpr const char* kDefaultOptimizer = "adam";
inline constexpr double kDefaultSgdLr = 0.05;
inline constexpr double kDefaultLr = 0.001;  // rmsprop, adam, adamw
inline constexpr double kDefaultSgdMomentum = 0.9;

// Which of the settings a checkpoint records were given for this run. A resume takes the
// checkpoint's value of every setting not given; a given one wins (the optimizer and seed
// must then equal the checkpoint's, and a given model must build the checkpoint's weights).
struct GivenSettings {
  bool model = false;
  bool data = false;
  bool epochs = false;
  bool batch_size = false;
  bool optimizer = false;
  bool seed = false;
  bool micro_batch = false;
  bool max_steps = false;
  bool lr_schedule = false;
  bool lr_steps = false;
  bool lr_decay = false;
  bool warmup_epochs = false;
  bool augment = false;
  bool validate_every = false;
  bool validation_split = false;
};

struct TrainerOptions {
  std::string model = "mlp";  // a built-in model (nn::builtin_model_names) or a JSON spec path
  // Empty: each BatchNorm layer's mode as the spec says. "sync" or "ghost": every BatchNorm
  // layer's mode (nn::BatchNormMode), written into the spec the run builds and records.
  std::string batch_norm;
  std::string data = "fashion-mnist";  // a data source text (data::load_train_test)
  int64_t epochs = 1;                  // epochs of the whole run (a resume continues up to it)
  int64_t batch_size = 128;            // global batch, split across ranks
  std::string optimizer = kDefaultOptimizer;  // one of optim::optimizer_names()
  // Unset: the optimizer's default (kDefaultSgdLr or kDefaultLr, kDefaultSgdMomentum for sgd)
  // or, on a resume, the checkpoint's value.
  std::optional<double> lr, momentum, weight_decay;
  // The rate of each step: the base rate above, scheduled (--lr-schedule, --lr-steps,
  // --lr-decay, --warmup-epochs).
  LrSchedule lr_schedule;
  int64_t seed = 1;  // weights, data order and dropout
  // Transforms of the training images (data::parse_augmentation): none, crop, flip or
  // crop,flip; keyed by (seed, epoch, sample), so any number of ranks trains alike.
  std::string augment = "none";
  std::string input = "scatter";  // parallel::parse_input_mode: scatter or sharded
  double bucket_mb = 25.0;        // gradient fusion bucket size in MiB
  int64_t micro_batch = 16;       // DataParallelOptions::micro_batch (0: off)
  std::string checkpoint;         // a file rewritten at every checkpoint, or
  std::string checkpoint_dir;     // a folder of ckpt-<step>.safetensors (created if needed)
  int64_t checkpoint_every = 0;   // also checkpoint every N steps (0: at epoch ends only)
  int64_t keep_checkpoints = 2;   // checkpoint_dir keeps the newest this many
  std::string checkpoint_errors = "stop";  // a failed checkpoint: stop (exit 5) or continue
  // Evaluate after every Nth epoch (0: never): on the test split, or with validation_split in
  // (0, 1) on the last round(F x N) training samples, which training then leaves out.
  int64_t validate_every = 0;
  double validation_split = 0.0;
  // A copy of the checkpoint with the best validation accuracy so far (none).
  std::string best_checkpoint;
  // Empty: a fresh run. A path: continue the run saved there. "auto": the newest valid
  // checkpoint of checkpoint_dir (or the checkpoint file), else a fresh run.
  std::string resume;
  int64_t max_steps = 0;              // stop, with a checkpoint, at this step (0: no limit)
  double collective_timeout = 300.0;  // seconds a rank waits in a collective (exit code 3)
  int64_t log_every = 50;             // steps per metrics record
  std::string metrics;                // JSON-lines metrics file written by rank 0 (none)
  std::string progress = "auto";      // runtime::parse_progress_style: bar, lines or auto
  runtime::DeviceRequest device;
  bool profile = false;        // print the time per step in each phase at the end
  bool profile_ranks = false;  // with profile: a row per rank too
  std::string trace;           // Chrome trace of rank 0's phases and collectives (none)
  GivenSettings given;         // which of the settings above a resume must not replace
};

// Throws lockstep::Error naming the first option (by its train flag, "--epochs") whose value
// is out of range or not one of the accepted texts, and the value found.
void validate_options(const TrainerOptions& options);

// Throws lockstep::Error when --validation-split or --best-checkpoint is given without
// --validate-every. validate_options makes this check for a fresh run; a resumed run makes it
// once it has adopted the checkpoint's --validate-every.
void validate_validation_options(const TrainerOptions& options);

}  // namespace lockstep::train
