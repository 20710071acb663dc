// The step-boundary policy: what happens between two training steps, the same on every rank —
// a checkpoint when one is due (and the best checkpoint after a validation that improved), and
// a stop when a preemption signal reached any rank, the run
// reached max_steps, or a checkpoint failed under checkpoint_errors "stop".
#pragma once

#include <cstdint>

#include "lockstep/base/exit_codes.h"
#include "lockstep/io/checkpoint_writer.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/preemption.h"
#include "lockstep/runtime/progress.h"
#include "lockstep/train/trainer_options.h"
#include "train/validation.h"

namespace lockstep::train {

class StepBoundary {
 public:
  // Borrows everything; `options` are the run's, with a resumed checkpoint's settings adopted.
  StepBoundary(const TrainerOptions& options, int world_size, parallel::DataParallel& engine,
               io::CheckpointWriter& writer, runtime::TrainingProgress& progress,
               Validation& validation);

  // Collective, after every step: agrees on a preemption request, checkpoints when due and
  // says whether training stops. A step that ends an epoch leaves both to on_epoch.
  parallel::FitControl on_step(const parallel::StepReport& report);
  // Collective, after every epoch (and its validation): writes the best checkpoint when the
  // validation improved on the best so far, checkpoints, and stops when on_step decided to.
  parallel::FitControl on_epoch(int64_t epoch);

  // Once fit returned: kExitOk (the run ended, or stopped at max_steps), kExitPreempted or
  // kExitCheckpointFailed.
  int exit_code() const { return exit_code_; }

 private:
  // Rank 0 writes, every rank hears the outcome: a failure stops every rank or none. False
  // when training must stop.
  bool save(io::CheckpointWriter& writer, int64_t epoch, int64_t position_in_epoch);
  // Reports the stop (max_steps or preemption) and sets the exit code.
  parallel::FitControl stop();

  const TrainerOptions& options_;
  int world_size_;
  parallel::DataParallel& engine_;
  io::CheckpointWriter& writer_;
  runtime::TrainingProgress& progress_;
  Validation& validation_;
  runtime::PreemptionNotice notice_;
  bool stopping_ = false;
  int exit_code_ = kExitOk;
};

}  // namespace lockstep::train
