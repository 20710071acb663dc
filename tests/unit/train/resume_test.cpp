// Resume: "auto" starts fresh where nothing was written, continues from the newest valid
// checkpoint to the very weights of an uninterrupted run, skips a damaged newest checkpoint,
// and a resumed run adopts the checkpoint's settings only where none were given.
#include <gtest/gtest.h>

#include <filesystem>

#include "lockstep/base/error.h"
#include "lockstep/base/exit_codes.h"
#include "lockstep/io/checkpoint_dir.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

class ResumeTest : public TrainerTest {
 protected:
  // An uninterrupted run of two epochs; returns its final checkpoint.
  std::filesystem::path straight_run() {
    const std::filesystem::path folder = dir_ / "straight";
    EXPECT_EQ(run(options(folder)).exit_code, kExitOk);
    return io::checkpoint_path(folder, 2 * kStepsPerEpoch);
  }

  // The rest of the run saved in `folder`, by --resume auto with no step limit.
  RunSummary resume_auto(const std::filesystem::path& folder) {
    TrainerOptions o = options(folder);
    o.resume = "auto";
    o.max_steps = 0;  // given: the stopped part's limit is not adopted
    return run(o);
  }
};

// Property: resume auto in a folder without checkpoints is a fresh start that trains the whole
// run (not an error, not a silent no-op).
TEST_F(ResumeTest, AutoWithoutACheckpointStartsFresh) {
  const RunSummary summary = resume_auto(dir_ / "empty");
  EXPECT_EQ(summary.exit_code, kExitOk);
  EXPECT_TRUE(summary.resumed_from.empty());
  EXPECT_EQ(summary.first_step, 0);
  EXPECT_EQ(summary.last_step, 2 * kStepsPerEpoch);
  EXPECT_TRUE(summary.test.has_value());
}

// Property: a run stopped mid-epoch and resumed with auto continues from its newest checkpoint
// and ends with the weights and optimizer state of a run that never stopped, bit for bit.
TEST_F(ResumeTest, AutoContinuesFromTheNewestCheckpointToTheSameWeights) {
  const std::filesystem::path expected = straight_run();
  const std::filesystem::path folder = dir_ / "stopped";
  TrainerOptions first = options(folder);
  first.max_steps = 13;  // past the epoch-end checkpoint of step 10, mid second epoch
  ASSERT_EQ(run(first).exit_code, kExitOk);
  ASSERT_EQ(steps_in(folder), (std::vector<int64_t>{10, 13}));

  const RunSummary resumed = resume_auto(folder);
  EXPECT_EQ(resumed.exit_code, kExitOk);
  EXPECT_EQ(resumed.resumed_from, io::checkpoint_path(folder, 13));
  EXPECT_EQ(resumed.first_step, 13);
  EXPECT_EQ(resumed.last_step, 2 * kStepsPerEpoch);
  EXPECT_TRUE(same_run_state(io::checkpoint_path(folder, 2 * kStepsPerEpoch), expected));
}

// Property: a torn newest checkpoint is skipped; the run continues from the newest one that
// reads back whole and still reaches the uninterrupted run's weights.
TEST_F(ResumeTest, AutoSkipsADamagedNewestCheckpoint) {
  const std::filesystem::path expected = straight_run();
  const std::filesystem::path folder = dir_ / "damaged";
  TrainerOptions first = options(folder);
  first.checkpoint_every = 4;
  first.max_steps = 12;
  ASSERT_EQ(run(first).exit_code, kExitOk);
  ASSERT_EQ(steps_in(folder), (std::vector<int64_t>{10, 12}));  // 4 and 8 pruned (keep 2)
  const std::filesystem::path newest = io::checkpoint_path(folder, 12);
  std::filesystem::resize_file(newest, std::filesystem::file_size(newest) / 2);

  const RunSummary resumed = resume_auto(folder);
  EXPECT_EQ(resumed.exit_code, kExitOk);
  EXPECT_EQ(resumed.resumed_from, io::checkpoint_path(folder, 10));
  EXPECT_EQ(resumed.first_step, 10);
  EXPECT_TRUE(same_run_state(io::checkpoint_path(folder, 2 * kStepsPerEpoch), expected));
}

// Property: a resume takes the checkpoint's batch size, seed, optimizer, data, micro-batch,
// epochs and step limit where none were given, keeps the given ones, and refuses a given
// optimizer or seed that differs from the checkpoint's.
TEST_F(ResumeTest, AdoptsTheCheckpointSettingsOnlyWhereNoneWereGiven) {
  const std::filesystem::path folder = dir_ / "adopt";
  TrainerOptions first = options(folder);
  first.optimizer = "sgd";
  first.epochs = 1;
  first.micro_batch = 5;
  ASSERT_EQ(run(first).exit_code, kExitOk);

  TrainerOptions later;  // defaults throughout, as a bare command line
  later.model = first.model;
  later.progress = "lines";
  later.device.device = "cpu";
  later.checkpoint_dir = folder.string();
  later.resume = "auto";
  later.epochs = 2;
  later.given.epochs = true;
  Trainer trainer(*world_, runtime::ProcessInfo{}, later);
  EXPECT_EQ(trainer.run(), kExitOk);
  const TrainerOptions& adopted = trainer.options();
  EXPECT_EQ(adopted.batch_size, 10);
  EXPECT_EQ(adopted.seed, 5);
  EXPECT_EQ(adopted.optimizer, "sgd");
  EXPECT_EQ(adopted.data, "synthetic:120");
  EXPECT_EQ(adopted.micro_batch, 5);
  EXPECT_EQ(adopted.epochs, 2);
  EXPECT_EQ(trainer.summary().last_step, 2 * kStepsPerEpoch);

  TrainerOptions other_optimizer = later;
  other_optimizer.optimizer = "adam";
  other_optimizer.given.optimizer = true;
  Trainer refused(*world_, runtime::ProcessInfo{}, other_optimizer);
  EXPECT_THROW(
      {
        try {
          refused.run();
        } catch (const Error& e) {
          EXPECT_NE(e.message().find("was trained with optimizer 'sgd', --optimizer says 'adam'"),
                    std::string::npos)
              << e.message();
          throw;
        }
      },
      Error);
}

}  // namespace
}  // namespace lockstep::train::testing
