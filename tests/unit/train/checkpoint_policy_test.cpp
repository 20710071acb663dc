// Checkpoint cadence and folder policy: every N steps and at every epoch end, files named
// ckpt-<step>.safetensors of which the folder keeps the newest K, or one file rewritten; a
// write that fails stops the run with kExitCheckpointFailed, or is warned about and passed
// over under checkpoint_errors "continue".
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "lockstep/base/exit_codes.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

class CheckpointPolicyTest : public TrainerTest {
 protected:
  // The names of the entries of `folder`, sorted.
  static std::vector<std::string> names_in(const std::filesystem::path& folder) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Puts a folder (not empty) where the checkpoint of `step` goes, so that its rename fails.
  static void block_checkpoint(const std::filesystem::path& folder, int64_t step) {
    std::filesystem::create_directories(io::checkpoint_path(folder, step));
    lockstep::testing::write_file(io::checkpoint_path(folder, step) / "in-the-way", "x");
  }
};

// Property: with checkpoint_every 4 over two epochs of 10 steps the run checkpoints at steps
// 4, 8, 12, 16 and at the epoch ends 10 and 20, each file named ckpt-<step>.safetensors and
// holding that step and its place in the epoch.
TEST_F(CheckpointPolicyTest, EveryNStepsAndAtEpochEnds) {
  const std::filesystem::path folder = dir_ / "run";
  TrainerOptions o = options(folder);
  o.checkpoint_every = 4;
  o.keep_checkpoints = 100;
  ASSERT_EQ(run(o).exit_code, kExitOk);
  EXPECT_EQ(names_in(folder),
            (std::vector<std::string>{"ckpt-10.safetensors", "ckpt-12.safetensors",
                                      "ckpt-16.safetensors", "ckpt-20.safetensors",
                                      "ckpt-4.safetensors", "ckpt-8.safetensors"}));
  for (const int64_t step : steps_in(folder)) {
    const io::Checkpoint saved = io::read_checkpoint(io::checkpoint_path(folder, step));
    EXPECT_EQ(saved.state.step, step);
    EXPECT_EQ(saved.state.epoch, step / kStepsPerEpoch);
    EXPECT_EQ(saved.state.position_in_epoch, (step % kStepsPerEpoch) * o.batch_size);
  }
}

// Property: without checkpoint_every a run checkpoints at epoch ends only.
TEST_F(CheckpointPolicyTest, EpochEndsOnlyByDefault) {
  const std::filesystem::path folder = dir_ / "run";
  TrainerOptions o = options(folder);
  o.epochs = 3;
  o.keep_checkpoints = 100;
  ASSERT_EQ(run(o).exit_code, kExitOk);
  EXPECT_EQ(steps_in(folder), (std::vector<int64_t>{10, 20, 30}));
}

// Property: the folder keeps the newest keep_checkpoints files and nothing else (no older
// checkpoint, no temporary).
TEST_F(CheckpointPolicyTest, FolderKeepsTheNewestK) {
  const std::filesystem::path folder = dir_ / "run";
  TrainerOptions o = options(folder);
  o.checkpoint_every = 4;
  o.keep_checkpoints = 3;
  const RunSummary summary = run(o);
  ASSERT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(names_in(folder),
            (std::vector<std::string>{"ckpt-12.safetensors", "ckpt-16.safetensors",
                                      "ckpt-20.safetensors"}));
  EXPECT_EQ(summary.last_checkpoint, io::checkpoint_path(folder, 20));
}

// Property: a single checkpoint file is rewritten at each checkpoint and ends holding the
// last step; nothing else is written beside it.
TEST_F(CheckpointPolicyTest, SingleFileHoldsTheLastCheckpoint) {
  const std::filesystem::path folder = dir_ / "single";
  std::filesystem::create_directories(folder);
  TrainerOptions o = options();
  o.checkpoint = (folder / "run.safetensors").string();
  o.checkpoint_every = 3;
  ASSERT_EQ(run(o).exit_code, kExitOk);
  EXPECT_EQ(names_in(folder), (std::vector<std::string>{"run.safetensors"}));
  EXPECT_EQ(io::read_checkpoint(folder / "run.safetensors").state.step, 2 * kStepsPerEpoch);
}

// Property: under checkpoint_errors "stop" (the default) a failed write ends the run at that
// step with kExitCheckpointFailed and no evaluation; the previous checkpoint stays intact and
// is the one the summary names.
TEST_F(CheckpointPolicyTest, FailedWriteStopsTheRun) {
  const std::filesystem::path folder = dir_ / "run";
  block_checkpoint(folder, 8);
  TrainerOptions o = options(folder);
  o.checkpoint_every = 4;
  const RunSummary summary = run(o);
  EXPECT_EQ(summary.exit_code, kExitCheckpointFailed);
  EXPECT_EQ(summary.last_step, 8);
  EXPECT_EQ(summary.last_checkpoint, io::checkpoint_path(folder, 4));
  EXPECT_FALSE(summary.test.has_value());
  EXPECT_EQ(io::read_checkpoint(io::checkpoint_path(folder, 4)).state.step, 4);
}

// Property: under checkpoint_errors "continue" a failed write is passed over: the run trains
// to its end, writes every later checkpoint, evaluates and exits 0.
TEST_F(CheckpointPolicyTest, FailedWriteContinuesWhenAskedTo) {
  const std::filesystem::path folder = dir_ / "run";
  block_checkpoint(folder, 8);
  TrainerOptions o = options(folder);
  o.checkpoint_every = 4;
  o.keep_checkpoints = 100;
  o.checkpoint_errors = "continue";
  const RunSummary summary = run(o);
  EXPECT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(summary.last_step, 2 * kStepsPerEpoch);
  EXPECT_TRUE(summary.test.has_value());
  EXPECT_EQ(summary.last_checkpoint, io::checkpoint_path(folder, 20));
  for (const int64_t step : {4, 10, 12, 16, 20}) {
    EXPECT_EQ(io::read_checkpoint(io::checkpoint_path(folder, step)).state.step, step);
  }
  EXPECT_TRUE(std::filesystem::is_directory(io::checkpoint_path(folder, 8)));
}

}  // namespace
}  // namespace lockstep::train::testing
