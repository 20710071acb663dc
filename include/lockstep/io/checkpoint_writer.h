// Checkpoints of a running job: rank 0 writes each one and every rank learns the outcome, so
// that all ranks decide alike whether to go on after a failed write; and the checkpoint a
// resume starts from, chosen on rank 0 ("auto": the newest valid one) and read on every rank.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"

namespace lockstep::io {

// Where a run checkpoints: one file rewritten each time, or a folder of
// ckpt-<step>.safetensors files of which the newest `keep` stay. Neither: no checkpoints.
struct CheckpointTarget {
  std::filesystem::path file;
  std::filesystem::path folder;
  int64_t keep = 2;

  bool enabled() const { return !file.empty() || !folder.empty(); }
};

// The result of one save, equal on every rank except `warnings`.
struct SaveOutcome {
  bool written = false;               // false also when there was nothing to do
  std::filesystem::path path;         // the file written, or that could not be written
  std::string error;                  // why not, naming the newest intact checkpoint
  std::vector<std::string> warnings;  // rank 0: old files that could not be removed

  bool failed() const { return !error.empty(); }
};

class CheckpointWriter {
 public:
  // Runs on rank 0 after a temporary is complete, before it is renamed into place (a test
  // hook); gets the step the checkpoint holds.
  using BeforeRename = std::function<void(int64_t step)>;

  // Collective. Rank 0 creates the folder, or checks that the file's folder exists; a
  // failure throws lockstep::Error on every rank, before any training. `resumed_from` is the
  // checkpoint the run started from, if any: the newest intact one until a save succeeds.
  CheckpointWriter(comm::Communicator& communicator, CheckpointTarget target,
                   std::filesystem::path resumed_from = {}, BeforeRename before_rename = {});

  bool enabled() const { return target_.enabled(); }
  const CheckpointTarget& target() const { return target_; }
  // The last checkpoint written, else the one resumed from (empty: none).
  const std::filesystem::path& last_written() const { return last_written_; }
  // The step of the last checkpoint written (-1: none yet).
  int64_t last_step() const { return last_step_; }
  // For a stop at `step`: "checkpoint 'DIR/ckpt-7.safetensors' written", or why there is none
  // and which is the newest intact one.
  std::string status_at(int64_t step) const;

  // Collective (a no-op when disabled or when state.step was saved already). Rank 0 writes the
  // checkpoint atomically, then, in a folder, removes checkpoints beyond the newest `keep`;
  // every rank gets the same outcome. A failed write (no space, file too large, ...) leaves
  // the previous checkpoints as they were and is reported, not thrown: the caller decides
  // whether to stop.
  SaveOutcome save(nn::Model& model, const optim::Optimizer& optimizer, const TrainerState& state);

 private:
  SaveOutcome write_on_root(nn::Model& model, const optim::Optimizer& optimizer,
                            const TrainerState& state);
  std::filesystem::path path_for(int64_t step) const;

  comm::Communicator& communicator_;
  CheckpointTarget target_;
  BeforeRename before_rename_;
  std::filesystem::path last_written_;
  int64_t last_step_ = -1;
};

// The checkpoint a run resumes from, the same on every rank.
struct ResumePoint {
  std::optional<Checkpoint> checkpoint;    // none: start fresh
  std::vector<SkippedCheckpoint> skipped;  // newer files passed over as torn or corrupt
};

// Collective. `resume` empty: no checkpoint. A path: every rank reads that file. "auto": rank
// 0 looks in the target (the newest valid ckpt-<step>.safetensors of the folder, or the file
// if it exists) and every rank reads its choice; nothing there means a fresh start, but files
// that are all torn or corrupt are an error (their run is not silently restarted). Errors
// throw lockstep::Error on every rank.
ResumePoint find_resume_checkpoint(comm::Communicator& communicator, const std::string& resume,
                                   const CheckpointTarget& target);

}  // namespace lockstep::io
