// Trainer: a whole training run as the train program makes it, on every rank of a job: resume
// (a checkpoint file or "auto"), checkpoint cadence and folder policy, stops at max_steps or
// on a preemption signal, validation every N epochs and the best checkpoint, progress and
// metrics log, the final test evaluation and the profile.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "lockstep/base/exit_codes.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/runtime.h"
#include "lockstep/train/trainer_options.h"

namespace lockstep::train {

// An evaluation at the end of an epoch (--validate-every), on the test split or the held-out
// training samples (--validation-split).
struct EpochValidation {
  int64_t epoch = 0;  // 1-based: the epoch it ended
  parallel::Metrics metrics;
  double seconds = 0.0;  // the evaluation's wall time
  // Its accuracy is above every earlier one of the run (also those before a resume); the
  // best checkpoint, if any, was written after it.
  bool best = false;
};

// How a run went, the same on every rank.
struct RunSummary {
  int exit_code = kExitOk;
  std::filesystem::path resumed_from;  // the checkpoint the run continued; empty: a fresh run
  int64_t first_step = 0;              // steps taken before this run began
  int64_t last_step = 0;               // steps taken when it ended
  // The newest intact checkpoint: the last one written, else the one resumed from (empty:
  // none).
  std::filesystem::path last_checkpoint;
  // The final evaluation on the test split; none when the run ended with another exit code
  // than kExitOk.
  std::optional<parallel::Metrics> test;
  // The validations this run made, in order (none without validate_every).
  std::vector<EpochValidation> validations;
};

class Trainer {
 public:
  // Sees every step, on every rank, before the trainer checkpoints or stops there.
  using StepObserver = std::function<void(const parallel::StepReport&)>;

  // A run over the ranks of `world` (which must outlive the Trainer); `process` places this
  // rank on its node for the device binding. Checks `options` (validate_options): a bad value
  // throws lockstep::Error before anything else happens.
  Trainer(comm::Communicator& world, const runtime::ProcessInfo& process, TrainerOptions options);
  // The world and process of `runtime`.
  Trainer(runtime::Runtime& runtime, TrainerOptions options);

  // Collective: every rank runs it. Trains up to options.epochs (or max_steps), checkpointing
  // and validating on the way, then evaluates the test split. Returns the exit code:
  //   kExitOk                the run ended, or stopped at max_steps with a checkpoint
  //   kExitPreempted         a preemption signal reached some rank (once the program called
  //                          runtime::install_preemption_handlers): every rank stopped at the
  //                          next step boundary, after a checkpoint
  //   kExitCheckpointFailed  a checkpoint could not be written and checkpoint_errors is "stop"
  // Bad options, files or data throw lockstep::Error (on the ranks that see them; under
  // runtime::run_guarded that ends the job). A Trainer runs once.
  int run();

  // `observer` sees each step of run() (the caller's own logging, or a test's timing of a
  // stop request); set before run().
  void set_step_observer(StepObserver observer) { observer_ = std::move(observer); }

  // The options in force; after run() with the settings of a resumed checkpoint adopted.
  const TrainerOptions& options() const { return options_; }
  // Filled by run().
  const RunSummary& summary() const { return summary_; }

 private:
  comm::Communicator& world_;
  runtime::ProcessInfo process_;
  TrainerOptions options_;
  RunSummary summary_;
  StepObserver observer_;
  bool ran_ = false;
};

}  // namespace lockstep::train
