// Checkpoint folders: ckpt-<step>.safetensors names parse back to their step and nothing else
// does; listing is newest first; the newest valid checkpoint is found past torn, corrupt and
// misnamed files; pruning keeps the newest K up to the new step, leaves higher steps alone and
// removes the temporaries of interrupted writes.
#include "lockstep/io/checkpoint_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::read_file;
using lockstep::testing::TempDir;
using lockstep::testing::write_file;

class CheckpointDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const nlohmann::json spec = {
        {"name", "tiny"}, {"input_shape", {3}}, {"layers", {{{"type", "Dense"}, {"units", 2}}}}};
    model_ = nn::build_model(spec, 3);
    optimizer_ = optim::make_optimizer("sgd", nlohmann::json::object());
  }

  std::filesystem::path save(int64_t step) {
    TrainerState state;
    state.step = step;
    const std::filesystem::path path = checkpoint_path(dir_.path(), step);
    save_checkpoint(path, *model_, *optimizer_, state);
    return path;
  }

  std::vector<int64_t> steps() const {
    std::vector<int64_t> found;
    for (const CheckpointFile& file : list_checkpoints(dir_.path())) found.push_back(file.step);
    return found;
  }

  TempDir dir_;
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
};

TEST(CheckpointNames, StepRoundTripsAndOtherNamesAreNotCheckpoints) {
  EXPECT_EQ(checkpoint_path("/runs/a", 120), std::filesystem::path("/runs/a/ckpt-120.safetensors"));
  EXPECT_EQ(checkpoint_step("/runs/a/ckpt-120.safetensors"), 120);
  EXPECT_EQ(checkpoint_step("ckpt-0.safetensors"), 0);
  for (const char* name :
       {"ckpt-.safetensors", "ckpt--1.safetensors", "ckpt-+1.safetensors", "ckpt-1x.safetensors",
        "ckpt-1.safetensors.tmp-1-2-3", ".ckpt-1.safetensors.tmp-1-2-3", "ckpt-1.npy",
        "run.safetensors", "ckpt-99999999999999999999.safetensors"}) {
    EXPECT_FALSE(checkpoint_step(name)) << name;
  }
}

TEST_F(CheckpointDir, ListsNewestFirstAndIgnoresOtherFiles) {
  for (const int64_t step : {3, 20, 10}) save(step);
  write_file(dir_ / ".ckpt-30.safetensors.tmp-1-0-abc", "partial");
  write_file(dir_ / "notes.txt", "x");
  std::filesystem::create_directory(dir_ / "ckpt-40.safetensors");  // a folder, not a file
  EXPECT_EQ(steps(), std::vector<int64_t>({20, 10, 3}));
  EXPECT_TRUE(list_checkpoints(dir_ / "missing").empty());
}

TEST_F(CheckpointDir, NewestValidSkipsTornCorruptAndMisnamedFiles) {
  save(3);
  const std::string good = read_file(save(6));
  write_file(dir_ / "ckpt-9.safetensors", good.substr(0, good.size() - 1));  // torn
  write_file(dir_ / "ckpt-12.safetensors", "");                              // zero length
  write_file(dir_ / "ckpt-15.safetensors", good);  // intact, but holds step 6
  const NewestCheckpoint newest = read_newest_checkpoint(dir_.path());
  ASSERT_TRUE(newest.checkpoint);
  EXPECT_EQ(newest.checkpoint->state.step, 6);
  EXPECT_EQ(newest.checkpoint->path, dir_ / "ckpt-6.safetensors");
  ASSERT_EQ(newest.skipped.size(), 3u);
  EXPECT_EQ(newest.skipped[0].path, dir_ / "ckpt-15.safetensors");
  EXPECT_NE(newest.skipped[0].reason.find("holds step 6, its name says 15"), std::string::npos)
      << newest.skipped[0].reason;
  EXPECT_EQ(newest.skipped[1].path, dir_ / "ckpt-12.safetensors");
  EXPECT_EQ(newest.skipped[2].path, dir_ / "ckpt-9.safetensors");
  for (const SkippedCheckpoint& skipped : newest.skipped) EXPECT_FALSE(skipped.reason.empty());
}

TEST_F(CheckpointDir, NothingValidGivesNoCheckpointAndEveryFileSkipped) {
  write_file(dir_ / "ckpt-1.safetensors", "garbage");
  const NewestCheckpoint newest = read_newest_checkpoint(dir_.path());
  EXPECT_FALSE(newest.checkpoint);
  EXPECT_EQ(newest.skipped.size(), 1u);
  const NewestCheckpoint empty = read_newest_checkpoint(dir_ / "missing");
  EXPECT_FALSE(empty.checkpoint);
  EXPECT_TRUE(empty.skipped.empty());
}

TEST_F(CheckpointDir, PruneKeepsNewestUpToTheNewStepAndRemovesTemporaries) {
  for (const int64_t step : {2, 4, 6, 8, 30}) save(step);  // 30: from an abandoned timeline
  write_file(dir_ / ".ckpt-10.safetensors.tmp-77-0-beef", "left by a crash");
  write_file(dir_ / "notes.txt", "kept");
  const PruneResult pruned = prune_checkpoints(dir_.path(), 8, 2);
  EXPECT_TRUE(pruned.failed.empty());
  EXPECT_EQ(pruned.removed.size(), 3u);  // ckpt-4, ckpt-2 and the temporary
  EXPECT_EQ(steps(), std::vector<int64_t>({30, 8, 6}));
  EXPECT_FALSE(std::filesystem::exists(dir_ / ".ckpt-10.safetensors.tmp-77-0-beef"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "notes.txt"));
  prune_checkpoints(dir_.path(), 8, 1);
  EXPECT_EQ(steps(), std::vector<int64_t>({30, 8}));
}

}  // namespace
}  // namespace lockstep::io
