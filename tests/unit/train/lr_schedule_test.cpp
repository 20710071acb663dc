// Learning-rate schedules: each kind's rate at chosen steps against its closed form, warm-up
// included; the optimizer wrapper takes each step at the scheduled rate and records the base
// rate; a run stopped mid-schedule and resumed ends at the uninterrupted run's weights; bad
// schedule options are refused naming the flag and the value.
#include "lockstep/train/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/base/exit_codes.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

using LrScheduleRunTest = TrainerTest;

constexpr double kBase = 0.5;
constexpr int64_t kSteps = 10;  // steps per epoch in the closed-form tests

LrSchedule schedule(std::string kind, std::vector<int64_t> steps = {}, double decay = 0.1,
                    int64_t warmup = 0) {
  return {std::move(kind), std::move(steps), decay, warmup};
}

double cosine(int64_t step, int64_t total) {
  return kBase * 0.5 * (1.0 + std::cos(std::numbers::pi * static_cast<double>(step) / total));
}

// Property: constant keeps the base rate at every step of the run.
TEST(LrScheduleTest, ConstantIsTheBaseRateAtEveryStep) {
  for (const int64_t step : {0, 1, 9, 10, 29}) {
    EXPECT_EQ(learning_rate_at(schedule("constant"), kBase, step, kSteps, 3), kBase) << step;
  }
  EXPECT_TRUE(is_constant(schedule("constant")));
  EXPECT_FALSE(is_constant(schedule("constant", {}, 0.1, 1)));
}

// Property: step multiplies the base rate by the decay once per listed epoch that has ended
// (PyTorch's MultiStepLR with milestones in epochs): epochs 2 and 4 of 10 steps each.
TEST(LrScheduleTest, StepDecaysAfterEachListedEpoch) {
  const LrSchedule s = schedule("step", {2, 4}, 0.1);
  const std::vector<std::pair<int64_t, double>> expected = {{0, kBase},
                                                            {19, kBase},
                                                            {20, kBase * 0.1},
                                                            {39, kBase * 0.1},
                                                            {40, kBase * 0.1 * 0.1},
                                                            {59, kBase * 0.1 * 0.1}};
  for (const auto& [step, lr] : expected) {
    EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, step, kSteps, 6), lr) << step;
  }
}

// Property: cosine is CosineAnnealingLR with T_max the steps of the whole run and eta_min 0:
// the base rate at step 0, half of it at T/2, a quarter-turn point at T/3, near 0 at the end.
TEST(LrScheduleTest, CosineAnnealsToZeroOverTheWholeRun) {
  const LrSchedule s = schedule("cosine");
  const int64_t total = 3 * kSteps;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, 0, kSteps, 3), kBase);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, 10, kSteps, 3), kBase * 0.75);
  EXPECT_NEAR(learning_rate_at(s, kBase, 15, kSteps, 3), kBase * 0.5, 1e-15);
  for (const int64_t step : {1, 7, 22, 29}) {
    EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, step, kSteps, 3), cosine(step, total)) << step;
  }
  EXPECT_GT(learning_rate_at(s, kBase, total - 1, kSteps, 3), 0.0);
  EXPECT_LT(learning_rate_at(s, kBase, total - 1, kSteps, 3), kBase * 0.01);
}

// Property: warm-up (Goyal et al. 2017) ramps linearly from base/(W*S) at step 0 to the base
// rate at step W*S - 1, then the schedule goes on at its own value for that step.
TEST(LrScheduleTest, WarmUpRampsLinearlyThenTheScheduleContinues) {
  const int64_t warmup_steps = 2 * kSteps;
  for (const std::string kind : {"constant", "step", "cosine"}) {
    SCOPED_TRACE(kind);
    const LrSchedule s =
        schedule(kind, kind == "step" ? std::vector<int64_t>{3} : std::vector<int64_t>{}, 0.1, 2);
    EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, 0, kSteps, 5), kBase / warmup_steps);
    EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, 4, kSteps, 5), kBase * 5 / warmup_steps);
    EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, 9, kSteps, 5), kBase / 2);
    EXPECT_DOUBLE_EQ(learning_rate_at(s, kBase, warmup_steps - 1, kSteps, 5), kBase);
    LrSchedule without = s;
    without.warmup_epochs = 0;
    for (const int64_t step : {warmup_steps, int64_t{31}, int64_t{49}}) {
      EXPECT_EQ(learning_rate_at(s, kBase, step, kSteps, 5),
                learning_rate_at(without, kBase, step, kSteps, 5))
          << step;
    }
  }
  EXPECT_DOUBLE_EQ(learning_rate_at(schedule("cosine", {}, 0.1, 2), kBase, 20, kSteps, 5),
                   cosine(20, 50));
  EXPECT_DOUBLE_EQ(learning_rate_at(schedule("step", {3}, 0.1, 2), kBase, 30, kSteps, 5),
                   kBase * 0.1);
}

// Records the rate of every step it takes.
class RecordingOptimizer final : public optim::Optimizer {
 public:
  explicit RecordingOptimizer(std::vector<float>& seen) : seen_(seen) {}
  std::string name() const override { return "sgd"; }
  nlohmann::json hyperparameters() const override { return {{"lr", lr_}}; }
  void step(const std::vector<nn::Parameter*>&, float) override { seen_.push_back(lr_); }
  NamedTensors state() const override { return {}; }
  void load_state(const NamedTensors&, const std::vector<nn::Parameter*>&) override {}
  float learning_rate() const override { return lr_; }
  void set_learning_rate(float lr) override { lr_ = lr; }

 private:
  std::vector<float>& seen_;
  float lr_ = 0.25f;
};

// Property: the scheduled optimizer takes step t (counted from the steps already taken, as on a
// resume) at learning_rate_at(t) and shows only the base rate outside a step, so checkpoints
// record the base rate; a constant schedule leaves the optimizer as it is.
TEST(LrScheduleTest, ScheduledOptimizerTakesEachStepAtTheScheduledRate) {
  std::vector<float> seen;
  const LrSchedule s = schedule("cosine", {}, 0.1, 1);
  const std::unique_ptr<optim::Optimizer> optimizer =
      scheduled_optimizer(std::make_unique<RecordingOptimizer>(seen), s, kSteps, 3, 7);
  for (int i = 0; i < 6; ++i) optimizer->step({}, 1.0f);
  ASSERT_EQ(seen.size(), 6u);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(seen[i], static_cast<float>(learning_rate_at(s, 0.25, 7 + i, kSteps, 3))) << i;
  }
  EXPECT_EQ(optimizer->learning_rate(), 0.25f);
  EXPECT_EQ(optimizer->hyperparameters()["lr"].get<float>(), 0.25f);

  auto plain = std::make_unique<RecordingOptimizer>(seen);
  const optim::Optimizer* address = plain.get();
  EXPECT_EQ(scheduled_optimizer(std::move(plain), schedule("constant"), kSteps, 3, 0).get(),
            address);
}

// Property: bad schedule options are refused when the Trainer is made, naming the flag and the
// value; "1,,2" and other non-lists are refused when --lr-steps is read.
TEST_F(LrScheduleRunTest, BadScheduleOptionsAreRefusedNamingTheOptionAndValue) {
  const SpoiledOptions cases = {
      {[](TrainerOptions& o) { o.lr_schedule.kind = "linear"; },
       "--lr-schedule must be constant, step or cosine, found 'linear'"},
      {[](TrainerOptions& o) {
         o.lr_schedule = schedule("step", {3, 2});
       },
       "--lr-steps must be increasing epochs of at least 1, found '3,2'"},
      {[](TrainerOptions& o) { o.lr_schedule = schedule("step", {0}); },
       "--lr-steps must be increasing epochs of at least 1, found '0'"},
      {[](TrainerOptions& o) { o.lr_schedule = schedule("step", {1}, 0); },
       "--lr-decay must be in (0, 1], found 0"},
      {[](TrainerOptions& o) { o.lr_schedule = schedule("step", {1}, 1.5); },
       "--lr-decay must be in (0, 1], found 1.5"},
      {[](TrainerOptions& o) { o.lr_schedule.warmup_epochs = -1; },
       "--warmup-epochs must be at least 0, found -1"},
      {[](TrainerOptions& o) { o.lr_schedule.kind = "step"; },
       "--lr-schedule step needs --lr-steps"},
      {[](TrainerOptions& o) { o.lr_schedule = schedule("cosine", {2}); },
       "--lr-steps applies to --lr-schedule step only, the schedule is cosine"},
  };
  expect_each_refused(cases);
  for (const std::string text : {"1,,2", "1,", "x", "2,3.5", ",1"}) {
    SCOPED_TRACE(text);
    try {
      parse_lr_steps(text);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(e.message().find("--lr-steps must be comma-separated epochs (1,5,10), found '" +
                                 text + "'"),
                std::string::npos)
          << e.message();
    }
  }
  EXPECT_EQ(parse_lr_steps("3,10,20"), (std::vector<int64_t>{3, 10, 20}));
  EXPECT_EQ(lr_steps_text({3, 10, 20}), "3,10,20");
}

// Property: a run with a warm-up and a cosine schedule stopped mid-schedule (mid-epoch) and
// resumed with auto, given no schedule options, adopts the checkpoint's schedule and ends
// with the weights and optimizer state of the uninterrupted run, bit for bit; the schedule
// changes the weights (so the comparison is not vacuous) and checkpoints keep the base rate.
TEST_F(LrScheduleRunTest, AResumeMidScheduleEndsAtTheUninterruptedWeights) {
  const auto scheduled = [&](const std::filesystem::path& folder) {
    TrainerOptions o = options(folder);
    o.optimizer = "sgd";
    o.lr = 0.05;
    o.lr_schedule = schedule("cosine", {}, 0.1, 1);
    return o;
  };
  const int64_t last = 2 * kStepsPerEpoch;
  ASSERT_EQ(run(scheduled(dir_ / "straight")).exit_code, kExitOk);
  const std::filesystem::path expected = io::checkpoint_path(dir_ / "straight", last);

  TrainerOptions first = scheduled(dir_ / "stopped");
  first.max_steps = 13;  // after the warm-up epoch, mid second epoch
  ASSERT_EQ(run(first).exit_code, kExitOk);

  TrainerOptions later = options(dir_ / "stopped");  // no schedule and no rate given
  later.optimizer = "sgd";
  later.resume = "auto";
  later.max_steps = 0;
  Trainer trainer(*world_, runtime::ProcessInfo{}, later);
  ASSERT_EQ(trainer.run(), kExitOk);
  EXPECT_EQ(trainer.summary().first_step, 13);
  EXPECT_EQ(trainer.options().lr_schedule.kind, "cosine");
  EXPECT_EQ(trainer.options().lr_schedule.warmup_epochs, 1);
  EXPECT_TRUE(same_run_state(io::checkpoint_path(dir_ / "stopped", last), expected));

  const io::Checkpoint saved = io::read_checkpoint(expected);
  EXPECT_EQ(saved.optimizer_hyperparameters["lr"].get<float>(), 0.05f);

  TrainerOptions constant = scheduled(dir_ / "constant");
  constant.lr_schedule = LrSchedule{};
  ASSERT_EQ(run(constant).exit_code, kExitOk);
  EXPECT_NE(io::read_checkpoint(io::checkpoint_path(dir_ / "constant", last))
                .parameters[0]
                .tensor.to_vector(),
            saved.parameters[0].tensor.to_vector());
}

}  // namespace
}  // namespace lockstep::train::testing
