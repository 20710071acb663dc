// --augment in the Trainer: it changes the training, checkpoints record it, a resume that does
// not give it adopts it and ends at the uninterrupted run's weights, and a bad text is refused
// naming the option.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "lockstep/base/exit_codes.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

using AugmentationRunTest = TrainerTest;

// Property: a run with crop,flip stopped mid-epoch and resumed with auto, given no --augment,
// adopts the checkpoint's augmentation and ends with the weights and optimizer state of the
// uninterrupted run, bit for bit; the augmentation changes the weights (so the comparison is
// not vacuous) and every checkpoint records it.
TEST_F(AugmentationRunTest, AResumeAdoptsTheAugmentationAndEndsAtTheSameWeights) {
  const int64_t last = 2 * kStepsPerEpoch;
  TrainerOptions straight = options(dir_ / "straight");
  straight.augment = "flip,crop";
  ASSERT_EQ(run(straight).exit_code, kExitOk);
  const std::filesystem::path expected = io::checkpoint_path(dir_ / "straight", last);
  EXPECT_EQ(io::read_checkpoint(expected).state.extra["augment"], "crop,flip");

  TrainerOptions first = options(dir_ / "stopped");
  first.augment = "crop,flip";
  first.max_steps = 13;
  ASSERT_EQ(run(first).exit_code, kExitOk);
  TrainerOptions later = options(dir_ / "stopped");  // --augment not given: "none", not given
  later.resume = "auto";
  later.max_steps = 0;
  Trainer trainer(*world_, runtime::ProcessInfo{}, later);
  ASSERT_EQ(trainer.run(), kExitOk);
  EXPECT_EQ(trainer.options().augment, "crop,flip");
  EXPECT_TRUE(same_run_state(io::checkpoint_path(dir_ / "stopped", last), expected));

  ASSERT_EQ(run(options(dir_ / "plain")).exit_code, kExitOk);
  const io::Checkpoint plain = io::read_checkpoint(io::checkpoint_path(dir_ / "plain", last));
  EXPECT_EQ(plain.state.extra["augment"], "none");
  EXPECT_NE(plain.parameters[0].tensor.to_vector(),
            io::read_checkpoint(expected).parameters[0].tensor.to_vector());
}

// Property: a given --augment wins over the checkpoint's (as other given settings do).
TEST_F(AugmentationRunTest, AGivenAugmentationWinsOverTheCheckpoints) {
  TrainerOptions first = options(dir_ / "run");
  first.augment = "crop";
  first.max_steps = 5;
  ASSERT_EQ(run(first).exit_code, kExitOk);
  TrainerOptions later = options(dir_ / "run");
  later.resume = "auto";
  later.max_steps = 0;
  later.augment = "flip";
  later.given.augment = true;
  Trainer trainer(*world_, runtime::ProcessInfo{}, later);
  ASSERT_EQ(trainer.run(), kExitOk);
  EXPECT_EQ(trainer.options().augment, "flip");
  const io::Checkpoint end =
      io::read_checkpoint(io::checkpoint_path(dir_ / "run", 2 * kStepsPerEpoch));
  EXPECT_EQ(end.state.extra["augment"], "flip");
}

// Property: an unknown or repeated name is refused when the Trainer is made, naming --augment,
// what it accepts and what it found.
TEST_F(AugmentationRunTest, BadTextsAreRefusedNamingTheOption) {
  const SpoiledOptions cases = {
      {[](TrainerOptions& o) { o.augment = "crop,rotate"; },
       "--augment: expected a comma list of crop and flip (crop,flip), or none, found 'rotate' "
       "in 'crop,rotate'"},
      {[](TrainerOptions& o) { o.augment = "flip,flip"; }, "found 'flip' twice in 'flip,flip'"},
      {[](TrainerOptions& o) { o.augment = "crop,"; }, "found an empty name in 'crop,'"},
  };
  expect_each_refused(cases);
}

}  // namespace
}  // namespace lockstep::train::testing
