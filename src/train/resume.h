// The resume policy: which checkpoint a run continues (a path, or "auto": the newest valid
// one), which of its settings the run adopts, and the state each checkpoint records so that
// a later resume can rebuild the same run.
#pragma once

#include <cstdint>
#include <optional>

#include "lockstep/comm/communicator.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_writer.h"
#include "lockstep/train/trainer_options.h"
#include "train/validation.h"

namespace lockstep::train {

// Collective. The checkpoint options.resume names (none when it is empty, or "auto" found
// nothing to resume), with its settings adopted into `options`. Rank 0 warns about each
// newer file it skipped as torn or corrupt.
std::optional<io::Checkpoint> find_resume_point(comm::Communicator& world, TrainerOptions& options,
                                                const io::CheckpointTarget& target);

// A resumed run keeps the checkpoint's settings unless `options` were given them; the
// optimizer and seed must then agree (the data order of the epoch in progress hangs on
// them), and the position in the epoch must fall on a batch boundary. Another given
// augmentation or validation split is warned about: the run goes on, but not as it would
// have without the stop.
void adopt_checkpoint_options(TrainerOptions& options, const io::Checkpoint& checkpoint);

// Where the run stands and how to rebuild it: what a checkpoint records beyond the weights and
// the optimizer state, the best validation so far included.
io::TrainerState run_state(const TrainerOptions& options, int world_size, int64_t step,
                           int64_t epoch, int64_t position_in_epoch,
                           const BestValidation& best = {});

}  // namespace lockstep::train
