// Checkpoint folders: a run writes DIR/ckpt-<step>.safetensors, keeps the newest few, and a
// resume picks the newest one that reads back whole, skipping torn or corrupt files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lockstep/io/checkpoint.h"

namespace lockstep::io {

// "ckpt-<step>.safetensors" in `folder`.
std::filesystem::path checkpoint_path(const std::filesystem::path& folder, int64_t step);

// The step a file name "ckpt-<step>.safetensors" stands for; nullopt for any other name.
std::optional<int64_t> checkpoint_step(const std::filesystem::path& file);

struct CheckpointFile {
  int64_t step = 0;
  std::filesystem::path path;
};

// The checkpoint files of `folder`, newest (highest step) first; none when the folder does
// not exist. Temporaries of unfinished writes are not checkpoints and are not listed.
std::vector<CheckpointFile> list_checkpoints(const std::filesystem::path& folder);

// A checkpoint file a resume passed over, and why.
struct SkippedCheckpoint {
  std::filesystem::path path;
  std::string reason;
};

struct NewestCheckpoint {
  std::optional<Checkpoint> checkpoint;    // the newest file that reads back whole
  std::vector<SkippedCheckpoint> skipped;  // newer files that do not, newest first
};

// Reads the files of list_checkpoints newest first and returns the first one read_checkpoint
// accepts (format, sizes, checksum) whose step matches its name, with every newer one it
// rejected. An empty folder gives
// no checkpoint and nothing skipped.
NewestCheckpoint read_newest_checkpoint(const std::filesystem::path& folder);

// What pruning did: files removed, and files it could not remove (with the reason).
struct PruneResult {
  std::vector<std::filesystem::path> removed;
  std::vector<SkippedCheckpoint> failed;
};

// After ckpt-<newest_step> is in place: keeps it and the keep - 1 newest checkpoints of lower
// steps, removes the older ones, and removes temporaries left in `folder` by interrupted
// writes (a folder belongs to one run, whose rank 0 is the only writer). Files of higher steps
// than newest_step are left alone. Never throws for a file it cannot remove.
PruneResult prune_checkpoints(const std::filesystem::path& folder, int64_t newest_step,
                              int64_t keep);

}  // namespace lockstep::io
