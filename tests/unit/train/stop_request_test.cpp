// A stop request (a preemption signal, here SIGUSR1 raised in this process) ends the run at
// the next step boundary with a checkpoint of that step and kExitPreempted; a resume then
// finishes the run as if it had never stopped.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "lockstep/base/exit_codes.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "lockstep/runtime/preemption.h"
#include "support/capture_stream.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

class StopRequestTest : public TrainerTest {
 protected:
  void SetUp() override {
    runtime::install_preemption_handlers();
    runtime::clear_preemption_signal();
  }
  // The signal must not stop the runs of later tests in this process.
  void TearDown() override { runtime::clear_preemption_signal(); }

  // Raises SIGUSR1 during step `step` (before its boundary); returns the run's summary.
  RunSummary run_signalled_at(const TrainerOptions& o, int64_t step) {
    return run(o, [step](const parallel::StepReport& r) {
      if (r.step == step) std::raise(SIGUSR1);
    });
  }
};

// Property: a request during a step mid-epoch stops the run at that step's boundary: no
// further step, a checkpoint of that step, exit code kExitPreempted, no final evaluation.
TEST_F(StopRequestTest, StopsAtTheNextStepBoundaryWithACheckpoint) {
  const std::filesystem::path folder = dir_ / "run";
  lockstep::testing::CapturedStream out(stdout);
  const RunSummary summary = run_signalled_at(options(folder), 3);
  const std::string text = out.text();
  EXPECT_EQ(summary.exit_code, kExitPreempted);
  EXPECT_EQ(summary.last_step, 3);
  EXPECT_EQ(summary.last_checkpoint, io::checkpoint_path(folder, 3));
  EXPECT_FALSE(summary.test.has_value());
  EXPECT_EQ(steps_in(folder), (std::vector<int64_t>{3}));
  EXPECT_NE(text.find("preempted by SIGUSR1 (received by rank 0): stopped at step 3, "
                      "checkpoint '" +
                      io::checkpoint_path(folder, 3).string() + "' written"),
            std::string::npos)
      << text;
}

// Property: a request during an epoch's last step stops at the epoch end, after the epoch's
// checkpoint (the next epoch from its start), with kExitPreempted.
TEST_F(StopRequestTest, StopsAtAnEpochEnd) {
  const std::filesystem::path folder = dir_ / "run";
  const RunSummary summary = run_signalled_at(options(folder), kStepsPerEpoch);
  EXPECT_EQ(summary.exit_code, kExitPreempted);
  EXPECT_EQ(summary.last_step, kStepsPerEpoch);
  const io::Checkpoint saved = io::read_checkpoint(io::checkpoint_path(folder, kStepsPerEpoch));
  EXPECT_EQ(saved.state.epoch, 1);
  EXPECT_EQ(saved.state.position_in_epoch, 0);
}

// Property: the preempted run, resumed with auto, ends with the weights and optimizer state of
// a run that was never stopped, bit for bit.
TEST_F(StopRequestTest, ResumeAfterAStopReachesTheUninterruptedWeights) {
  const std::filesystem::path straight = dir_ / "straight", folder = dir_ / "run";
  ASSERT_EQ(run(options(straight)).exit_code, kExitOk);
  ASSERT_EQ(run_signalled_at(options(folder), 14).exit_code, kExitPreempted);
  runtime::clear_preemption_signal();
  TrainerOptions rest = options(folder);
  rest.resume = "auto";
  const RunSummary summary = run(rest);
  EXPECT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(summary.first_step, 14);
  EXPECT_TRUE(same_run_state(io::checkpoint_path(folder, 2 * kStepsPerEpoch),
                             io::checkpoint_path(straight, 2 * kStepsPerEpoch)));
}

}  // namespace
}  // namespace lockstep::train::testing
