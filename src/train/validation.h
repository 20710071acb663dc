// Validation during training: which samples it runs on (the test split, or the last part of the
// training data held out), the evaluation at the end of every Nth epoch, the best accuracy so
// far (which checkpoints record, so that a resume goes on comparing against it) and the copy
// of the checkpoint that reached it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/data/data_source.h"
#include "lockstep/data/dataset.h"
#include "lockstep/io/checkpoint_writer.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/progress.h"
#include "lockstep/train/trainer.h"
#include "lockstep/train/trainer_options.h"

namespace lockstep::train {

// The best validation accuracy of a run so far and the epoch it ended.
struct BestValidation {
  double accuracy = 0.0;
  int64_t epoch = 0;  // 1-based; 0: no validation yet

  bool any() const { return epoch > 0; }
  // Only a strictly higher accuracy improves on it (the first one always does), so a run that
  // stalls keeps its earliest best checkpoint.
  bool improved_by(double candidate) const { return !any() || candidate > accuracy; }
};

// `best` into trainer_state.extra ("best_validation_accuracy", "best_validation_epoch"), and
// back; missing or malformed fields (older checkpoints) read as no validation yet.
void record_best_validation(nlohmann::json& extra, const BestValidation& best);
BestValidation read_best_validation(const nlohmann::json& extra);

// What a run trains on and what it validates on.
struct TrainingSets {
  data::Dataset train, validation;
  std::string validation_name;  // "the test split" or "the held-out training data"
};

// The training split and the validation set the options ask for: with validation_split F, the
// last round(F x N) of the N training samples (at least one, and at least one must stay),
// which training leaves out; else the test split. Ranks that hold no data (scatter mode) get
// empty sets. Throws lockstep::Error when the split leaves nothing to train on.
TrainingSets training_sets(const TrainerOptions& options, const data::TrainTestData& data);

class Validation {
 public:
  // Collective (the best checkpoint's writer checks its folder on rank 0). Borrows everything;
  // `set` is this rank's validation data (empty on ranks that hold none), `best` what the
  // resumed checkpoint recorded (none for a fresh run).
  Validation(const TrainerOptions& options, comm::Communicator& world,
             parallel::DataParallel& engine, const data::Dataset& set, std::string set_name,
             BestValidation best, runtime::TrainingProgress& progress);

  // Collective, at the end of epoch `epoch` (0-based): evaluates when the epoch is the
  // validate_every-th (outside the training clock), and keeps the best so far.
  std::optional<EpochValidation> after_epoch(int64_t epoch);
  // Logs the validation of after_epoch on rank 0.
  void report(const EpochValidation& validation) const;
  // Whether the validation of epoch `epoch` (0-based) was the best so far: the best checkpoint
  // is due.
  bool improved_at(int64_t epoch) const {
    return !results_.empty() && results_.back().epoch == epoch + 1 && results_.back().best;
  }

  const BestValidation& best() const { return best_; }
  const std::vector<EpochValidation>& results() const { return results_; }
  io::CheckpointWriter& best_writer() { return best_writer_; }

 private:
  const TrainerOptions& options_;
  parallel::DataParallel& engine_;
  const data::Dataset& set_;
  std::string set_name_;
  BestValidation best_;
  runtime::TrainingProgress& progress_;
  io::CheckpointWriter best_writer_;
  std::vector<EpochValidation> results_;
};

}  // namespace lockstep::train
