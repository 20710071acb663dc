// The model and optimizer a run trains and the point where training begins: built from the
// options for a fresh run, or rebuilt from the checkpoint a run resumes.
#pragma once

#include <memory>

#include "lockstep/io/checkpoint.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/train/trainer_options.h"

namespace lockstep::train {

struct RunStart {
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  io::TrainerState state;  // step, epoch and position where training begins
};

// The model of options.model with weights drawn from options.seed, and the optimizer with
// the given hyperparameters over its defaults.
RunStart fresh_run(const TrainerOptions& options);

// The checkpoint's model (or options.model when given, which must then fit the weights) and
// optimizer, restored from it: the given hyperparameters over the checkpoint's.
RunStart resumed_run(const TrainerOptions& options, const io::Checkpoint& checkpoint);

}  // namespace lockstep::train
