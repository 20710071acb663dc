// max_steps: a run stops at exactly that step, mid-epoch or at an epoch's end, with a
// checkpoint of that step and exit code 0; a resume at or past the limit trains nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "lockstep/base/exit_codes.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

using MaxStepsTest = TrainerTest;

// Property: max_steps mid-epoch ends training after exactly that step, writes its checkpoint
// (recording where in the epoch the run stands) and still evaluates, with exit code 0.
TEST_F(MaxStepsTest, StopsMidEpochAtExactlyThatStepWithACheckpoint) {
  const std::filesystem::path folder = dir_ / "run";
  TrainerOptions o = options(folder);
  o.max_steps = 7;
  const RunSummary summary = run(o);
  EXPECT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(summary.last_step, 7);
  EXPECT_EQ(summary.last_checkpoint, io::checkpoint_path(folder, 7));
  EXPECT_TRUE(summary.test.has_value());
  EXPECT_EQ(steps_in(folder), (std::vector<int64_t>{7}));
  const io::Checkpoint saved = io::read_checkpoint(io::checkpoint_path(folder, 7));
  EXPECT_EQ(saved.state.step, 7);
  EXPECT_EQ(saved.state.epoch, 0);
  EXPECT_EQ(saved.state.position_in_epoch, 70);
}

// Property: a limit on an epoch's last step stops there too (the epoch callback's stop ends
// fit), with the epoch-end checkpoint: the next epoch, from its first sample.
TEST_F(MaxStepsTest, StopsAtAnEpochEnd) {
  const std::filesystem::path folder = dir_ / "run";
  TrainerOptions o = options(folder);
  o.epochs = 3;
  o.max_steps = kStepsPerEpoch;
  const RunSummary summary = run(o);
  EXPECT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(summary.last_step, kStepsPerEpoch);
  EXPECT_EQ(steps_in(folder), (std::vector<int64_t>{kStepsPerEpoch}));
  const io::Checkpoint saved = io::read_checkpoint(io::checkpoint_path(folder, kStepsPerEpoch));
  EXPECT_EQ(saved.state.epoch, 1);
  EXPECT_EQ(saved.state.position_in_epoch, 0);
}

// Property: a resume of a run that reached its limit (adopted from the checkpoint, or given
// lower) takes no step and writes nothing, and still exits 0.
TEST_F(MaxStepsTest, ResumePastTheLimitTrainsNothing) {
  const std::filesystem::path folder = dir_ / "run";
  TrainerOptions o = options(folder);
  o.max_steps = 7;
  ASSERT_EQ(run(o).exit_code, kExitOk);
  const auto written = std::filesystem::last_write_time(io::checkpoint_path(folder, 7));

  for (const bool given : {false, true}) {
    SCOPED_TRACE(given ? "max_steps 5 given" : "max_steps adopted");
    TrainerOptions again = options(folder);
    again.resume = "auto";
    again.max_steps = given ? 5 : 0;
    again.given.max_steps = given;
    const RunSummary summary = run(again);
    EXPECT_EQ(summary.exit_code, kExitOk);
    EXPECT_EQ(summary.resumed_from, io::checkpoint_path(folder, 7));
    EXPECT_EQ(summary.first_step, 7);
    EXPECT_EQ(summary.last_step, 7);
    EXPECT_EQ(steps_in(folder), (std::vector<int64_t>{7}));
    EXPECT_EQ(std::filesystem::last_write_time(io::checkpoint_path(folder, 7)), written);
  }
}

}  // namespace
}  // namespace lockstep::train::testing
