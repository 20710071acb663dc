// CheckpointWriter and find_resume_checkpoint on a one-process communicator: saves land as
// ckpt-<step> with rotation and are not repeated for the same step; a failed save is reported
// (naming the newest intact checkpoint), not thrown; "auto" finds the newest valid checkpoint,
// starts fresh in an empty folder and refuses a folder of only corrupt files.
#include "lockstep/io/checkpoint_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "io_test_util.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::TempDir;
using lockstep::testing::write_file;
using testing::throws_error_containing;

class CheckpointWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const nlohmann::json spec = {
        {"name", "tiny"}, {"input_shape", {3}}, {"layers", {{{"type", "Dense"}, {"units", 2}}}}};
    model_ = nn::build_model(spec, 3);
    optimizer_ = optim::make_optimizer("sgd", nlohmann::json::object());
  }

  TrainerState at(int64_t step) const {
    TrainerState state;
    state.step = step;
    return state;
  }

  std::unique_ptr<comm::Communicator> world_ = comm::make_local_communicator();
  TempDir dir_;
  std::filesystem::path folder_ = dir_ / "made" / "here";
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
};

TEST_F(CheckpointWriterTest, SavesIntoACreatedFolderKeepingTheNewest) {
  int64_t hooked = -1;
  CheckpointWriter writer(*world_, {{}, folder_, 2}, {}, [&](int64_t step) { hooked = step; });
  ASSERT_TRUE(std::filesystem::is_directory(folder_));
  for (const int64_t step : {1, 2, 3}) {
    const SaveOutcome outcome = writer.save(*model_, *optimizer_, at(step));
    EXPECT_TRUE(outcome.written) << outcome.error;
    EXPECT_EQ(outcome.path, checkpoint_path(folder_, step));
    EXPECT_EQ(hooked, step);
  }
  EXPECT_EQ(writer.last_step(), 3);
  EXPECT_EQ(writer.last_written(), checkpoint_path(folder_, 3));
  EXPECT_EQ(writer.status_at(3),
            "checkpoint '" + checkpoint_path(folder_, 3).string() + "' written");
  EXPECT_EQ(list_checkpoints(folder_).size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(checkpoint_path(folder_, 1)));
  // The same step again (an epoch end right after a periodic checkpoint) writes nothing.
  hooked = -1;
  EXPECT_FALSE(writer.save(*model_, *optimizer_, at(3)).written);
  EXPECT_EQ(hooked, -1);
}

TEST_F(CheckpointWriterTest, FailedSaveIsReportedWithTheNewestIntactCheckpoint) {
  CheckpointWriter writer(*world_, {{}, folder_, 2}, "resumed.safetensors",
                          [](int64_t step) { LOCKSTEP_THROW("disk gone at step " << step); });
  const SaveOutcome outcome = writer.save(*model_, *optimizer_, at(4));
  EXPECT_FALSE(outcome.written);
  EXPECT_TRUE(outcome.failed());
  EXPECT_NE(outcome.error.find("checkpoint of step 4 could not be written: disk gone at step 4"),
            std::string::npos)
      << outcome.error;
  EXPECT_NE(outcome.error.find("the newest intact checkpoint is 'resumed.safetensors'"),
            std::string::npos)
      << outcome.error;
  EXPECT_TRUE(list_checkpoints(folder_).empty());
  EXPECT_EQ(writer.last_step(), -1);
  EXPECT_EQ(writer.status_at(4),
            "its checkpoint could not be written; the newest intact one is "
            "'resumed.safetensors'");
}

TEST_F(CheckpointWriterTest, DisabledWriterDoesNothing) {
  CheckpointWriter writer(*world_, {});
  EXPECT_FALSE(writer.enabled());
  EXPECT_EQ(writer.status_at(1), "no checkpoint written (none configured)");
  const SaveOutcome outcome = writer.save(*model_, *optimizer_, at(1));
  EXPECT_FALSE(outcome.written);
  EXPECT_FALSE(outcome.failed());
}

TEST_F(CheckpointWriterTest, UnusableTargetsAreErrors) {
  write_file(dir_ / "file", "x");
  EXPECT_TRUE(throws_error_containing(
      [&] {
        CheckpointWriter(*world_, {{}, dir_ / "file" / "sub"});
      },
      {"cannot be created"}));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        CheckpointWriter(*world_, {dir_ / "missing" / "run.safetensors", {}});
      },
      {"does not exist"}));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        CheckpointWriter(*world_, {{}, folder_, 0});
      },
      {"keep must be at least 1"}));
}

TEST_F(CheckpointWriterTest, ResumeAutoFindsTheNewestValidCheckpoint) {
  CheckpointWriter writer(*world_, {{}, folder_, 3});
  writer.save(*model_, *optimizer_, at(5));
  writer.save(*model_, *optimizer_, at(7));
  write_file(checkpoint_path(folder_, 9), "torn");
  const ResumePoint point = find_resume_checkpoint(*world_, "auto", {{}, folder_, 3});
  ASSERT_TRUE(point.checkpoint);
  EXPECT_EQ(point.checkpoint->state.step, 7);
  ASSERT_EQ(point.skipped.size(), 1u);
  EXPECT_EQ(point.skipped[0].path, checkpoint_path(folder_, 9));
}

TEST_F(CheckpointWriterTest, ResumeAutoStartsFreshWhereNothingWasWritten) {
  EXPECT_FALSE(find_resume_checkpoint(*world_, "auto", {{}, dir_ / "none", 2}).checkpoint);
  EXPECT_FALSE(
      find_resume_checkpoint(*world_, "auto", {dir_ / "run.safetensors", {}, 2}).checkpoint);
  EXPECT_FALSE(find_resume_checkpoint(*world_, "", {{}, folder_, 2}).checkpoint);
}

TEST_F(CheckpointWriterTest, ResumeAutoRefusesOnlyCorruptFilesAndNowhereToLook) {
  std::filesystem::create_directories(folder_);
  write_file(checkpoint_path(folder_, 3), "torn");
  EXPECT_TRUE(throws_error_containing(
      [&] {
        find_resume_checkpoint(*world_, "auto", {{}, folder_, 2});
      },
      {"no valid checkpoint in '" + folder_.string() + "'", "ckpt-3.safetensors"}));
  EXPECT_TRUE(throws_error_containing([&] { find_resume_checkpoint(*world_, "auto", {}); },
                                      {"no checkpoint folder or file"}));
}

TEST_F(CheckpointWriterTest, ResumeByPathReadsThatFile) {
  CheckpointWriter writer(*world_, {dir_ / "run.safetensors", {}, 2});
  writer.save(*model_, *optimizer_, at(11));
  const ResumePoint point =
      find_resume_checkpoint(*world_, (dir_ / "run.safetensors").string(), {});
  ASSERT_TRUE(point.checkpoint);
  EXPECT_EQ(point.checkpoint->state.step, 11);
  EXPECT_TRUE(throws_error_containing(
      [&] { find_resume_checkpoint(*world_, (dir_ / "absent.safetensors").string(), {}); },
      {"absent.safetensors"}));
}

}  // namespace
}  // namespace lockstep::io
