// Validation during training: it runs after every Nth epoch on the test split, or on the held-out
// end of the training data, which training then leaves out; its results reach the summary and
// the metrics log; the best checkpoint is written when the accuracy improves and only then;
// the best so far survives a resume; bad options are refused with clear messages.
#include "train/validation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/base/exit_codes.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

class ValidationTest : public TrainerTest {
 protected:
  // Options whose learning rate is too small to move a weight: every validation has the same
  // accuracy, so only the first one is a best.
  TrainerOptions frozen(const std::filesystem::path& folder) const {
    TrainerOptions o = options(folder);
    o.optimizer = "sgd";
    o.lr = 1e-30;
    return o;
  }

  static std::vector<nlohmann::json> records(const std::filesystem::path& path,
                                             const std::string& kind) {
    std::vector<nlohmann::json> found;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json record = nlohmann::json::parse(line);
      if (record["kind"] == kind) found.push_back(record);
    }
    return found;
  }

  static std::vector<int64_t> epochs_of(const RunSummary& summary) {
    std::vector<int64_t> epochs;
    for (const EpochValidation& v : summary.validations) epochs.push_back(v.epoch);
    return epochs;
  }

  static std::vector<bool> bests_of(const RunSummary& summary) {
    std::vector<bool> bests;
    for (const EpochValidation& v : summary.validations) bests.push_back(v.best);
    return bests;
  }
};

// Property: validate_every N evaluates after epochs N, 2N, ... on every sample of the test split
// (20 of synthetic:120), and each result is a "validation" record of the metrics log after
// its epoch's record, with its sample count and whether it was the best.
TEST_F(ValidationTest, RunsAfterEveryNthEpochOnTheTestSplit) {
  TrainerOptions o = options();
  o.epochs = 5;
  o.validate_every = 2;
  o.metrics = (dir_ / "metrics.jsonl").string();
  const RunSummary summary = run(o);
  ASSERT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(epochs_of(summary), (std::vector<int64_t>{2, 4}));
  for (const EpochValidation& v : summary.validations) {
    EXPECT_EQ(v.metrics.samples, 20);
    EXPECT_GE(v.metrics.accuracy, 0.0);
    EXPECT_GT(v.metrics.loss, 0.0);
  }
  EXPECT_EQ(summary.last_step, 5 * kStepsPerEpoch);

  const std::vector<nlohmann::json> logged = records(o.metrics, "validation");
  ASSERT_EQ(logged.size(), 2u);
  for (size_t i = 0; i < logged.size(); ++i) {
    const EpochValidation& v = summary.validations[i];
    EXPECT_EQ(logged[i]["epoch"], v.epoch);
    EXPECT_EQ(logged[i]["step"], v.epoch * kStepsPerEpoch);
    EXPECT_EQ(logged[i]["samples"], 20);
    EXPECT_EQ(logged[i]["accuracy"].get<double>(), v.metrics.accuracy);
    EXPECT_EQ(logged[i]["loss"].get<double>(), v.metrics.loss);
    EXPECT_EQ(logged[i]["best"].get<bool>(), v.best);
  }
  EXPECT_EQ(records(o.metrics, "epoch").size(), 5u);

  o.validate_every = 0;
  o.metrics = (dir_ / "none.jsonl").string();
  EXPECT_TRUE(run(o).validations.empty());
  EXPECT_TRUE(records(o.metrics, "validation").empty());
}

// Property: the held-out set is the last round(F x N) training samples (at least one, and one
// must be left), in order, and training keeps the rest.
TEST_F(ValidationTest, TheSplitHoldsOutTheLastTrainingSamples) {
  std::vector<float> ids(10);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<float>(i);
  data::TrainTestData data;
  data.train = data::Dataset(Tensor::from_vector({10, 1}, ids), Tensor::from_vector({10}, ids));
  data.test = data.train.slice(0, 2);
  TrainerOptions o = options();
  const auto split = [&](double fraction) {
    o.validation_split = fraction;
    return training_sets(o, data);
  };
  const TrainingSets sets = split(0.3);
  EXPECT_EQ(sets.train.inputs().to_vector(), std::vector<float>(ids.begin(), ids.begin() + 7));
  EXPECT_EQ(sets.validation.labels().to_vector(), std::vector<float>(ids.begin() + 7, ids.end()));
  EXPECT_EQ(sets.validation_name, "the held-out training data");
  EXPECT_EQ(split(0.25).validation.size(), 3);  // 2.5 rounds up
  EXPECT_EQ(split(0.01).validation.size(), 1);  // never none
  EXPECT_EQ(split(0.9).train.size(), 1);
  EXPECT_EQ(split(0).validation.size(), 2);  // no split: the test split
  EXPECT_EQ(split(0).validation_name, "the test split");
  try {
    split(0.96);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("--validation-split 0.96 holds out 10 of the 10 training "
                               "samples; none would be left to train on"),
              std::string::npos)
        << e.message();
  }
  EXPECT_EQ(training_sets(o, data::TrainTestData{}).train.size(), 0);  // a rank without data
}

// Property: with --validation-split 0.2 a run validates on the last 20 of the 100 training
// samples and trains on the other 80: 8 steps an epoch, and other weights than a run on all
// 100.
TEST_F(ValidationTest, TheSplitIsTakenOutOfTraining) {
  TrainerOptions o = options(dir_ / "split");
  o.validate_every = 1;
  o.validation_split = 0.2;
  const RunSummary summary = run(o);
  ASSERT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(summary.last_step, 2 * 8);
  ASSERT_EQ(summary.validations.size(), 2u);
  EXPECT_EQ(summary.validations[0].metrics.samples, 20);
  ASSERT_TRUE(summary.test.has_value());
  EXPECT_EQ(summary.test->samples, 20);  // the test split is still the final evaluation
  const io::Checkpoint saved = io::read_checkpoint(io::checkpoint_path(dir_ / "split", 16));
  EXPECT_EQ(saved.state.extra["validation_split"].get<double>(), 0.2);
  EXPECT_EQ(saved.state.extra["validate_every"].get<int64_t>(), 1);
}

// Property: the best checkpoint is written after each validation whose accuracy is above every
// earlier one, and holds the state of that epoch's end: the same bytes of weights and
// optimizer state as the regular checkpoint of that step, the best accuracy recorded.
TEST_F(ValidationTest, TheBestCheckpointFollowsEachImprovement) {
  TrainerOptions o = options(dir_ / "run");
  o.epochs = 4;
  o.validate_every = 1;
  o.keep_checkpoints = 100;
  o.optimizer = "sgd";
  o.lr = 0.5;  // large steps: the accuracy moves both ways
  o.best_checkpoint = (dir_ / "best.safetensors").string();
  const RunSummary summary = run(o);
  ASSERT_EQ(summary.exit_code, kExitOk);
  ASSERT_EQ(summary.validations.size(), 4u);
  double best = -1.0;
  int64_t best_epoch = 0;
  for (const EpochValidation& v : summary.validations) {
    EXPECT_EQ(v.best, v.metrics.accuracy > best) << "epoch " << v.epoch;
    if (v.best) {
      best = v.metrics.accuracy;
      best_epoch = v.epoch;
    }
  }
  // Not vacuous: a later validation improved, and another did not.
  const std::vector<bool> bests = bests_of(summary);
  EXPECT_GE(std::count(bests.begin() + 1, bests.end(), true), 1);
  EXPECT_GE(std::count(bests.begin(), bests.end(), false), 1);
  const io::Checkpoint saved = io::read_checkpoint(o.best_checkpoint);
  EXPECT_EQ(saved.state.step, best_epoch * kStepsPerEpoch);
  EXPECT_EQ(saved.state.extra["best_validation_accuracy"].get<double>(), best);
  EXPECT_EQ(saved.state.extra["best_validation_epoch"].get<int64_t>(), best_epoch);
  EXPECT_TRUE(same_run_state(o.best_checkpoint,
                             io::checkpoint_path(dir_ / "run", best_epoch * kStepsPerEpoch)));
  const io::Checkpoint last = io::read_checkpoint(io::checkpoint_path(dir_ / "run", 40));
  EXPECT_EQ(last.state.extra["best_validation_accuracy"].get<double>(), best);
}

// Property: a validation that does not improve on the best leaves the best checkpoint alone: a
// run whose accuracy never changes keeps the copy of its first validation.
TEST_F(ValidationTest, NoImprovementNoBestCheckpoint) {
  TrainerOptions o = frozen(dir_ / "run");
  o.epochs = 3;
  o.validate_every = 1;
  o.best_checkpoint = (dir_ / "best.safetensors").string();
  const RunSummary summary = run(o);
  ASSERT_EQ(summary.exit_code, kExitOk);
  EXPECT_EQ(bests_of(summary), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(summary.validations[0].metrics.accuracy, summary.validations[2].metrics.accuracy);
  EXPECT_EQ(io::read_checkpoint(o.best_checkpoint).state.step, kStepsPerEpoch);
}

// Property: the best accuracy so far is in every checkpoint, so a run stopped mid-epoch and
// resumed compares against it: the resumed run does not take its first validation for a new
// best, leaves the best checkpoint of before the stop in place, and adopts validate_every.
TEST_F(ValidationTest, AResumeKeepsTheBestSoFar) {
  TrainerOptions first = frozen(dir_ / "stopped");
  first.epochs = 3;
  first.validate_every = 1;
  first.best_checkpoint = (dir_ / "best.safetensors").string();
  first.max_steps = 13;
  const RunSummary before = run(first);
  ASSERT_EQ(before.exit_code, kExitOk);
  EXPECT_EQ(bests_of(before), (std::vector<bool>{true}));
  const io::Checkpoint stop = io::read_checkpoint(io::checkpoint_path(dir_ / "stopped", 13));
  EXPECT_EQ(stop.state.extra["best_validation_epoch"].get<int64_t>(), 1);

  TrainerOptions later = frozen(dir_ / "stopped");
  later.epochs = 3;
  later.best_checkpoint = first.best_checkpoint;  // validate_every comes from the checkpoint
  later.resume = "auto";
  later.max_steps = 0;
  Trainer trainer(*world_, runtime::ProcessInfo{}, later);
  ASSERT_EQ(trainer.run(), kExitOk);
  EXPECT_EQ(trainer.options().validate_every, 1);
  EXPECT_EQ(epochs_of(trainer.summary()), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(bests_of(trainer.summary()), (std::vector<bool>{false, false}));
  EXPECT_EQ(io::read_checkpoint(first.best_checkpoint).state.step, kStepsPerEpoch);
  const io::Checkpoint end = io::read_checkpoint(io::checkpoint_path(dir_ / "stopped", 30));
  EXPECT_EQ(end.state.extra["best_validation_epoch"].get<int64_t>(), 1);
}

// Property: a run with a held-out split and a best checkpoint, stopped mid-epoch and resumed
// with no validation options given, adopts the split and ends where the uninterrupted run
// ends: the same weights, the same validations from the stop on, the same best checkpoint.
TEST_F(ValidationTest, AResumedRunValidatesAsTheUninterruptedOne) {
  const auto validated = [&](const std::string& name) {
    TrainerOptions o = options(dir_ / name);
    o.epochs = 3;
    o.optimizer = "sgd";
    o.lr = 0.5;
    o.validate_every = 1;
    o.validation_split = 0.2;
    o.best_checkpoint = (dir_ / (name + "-best.safetensors")).string();
    return o;
  };
  const RunSummary straight = run(validated("straight"));
  ASSERT_EQ(straight.exit_code, kExitOk);

  TrainerOptions first = validated("stopped");
  first.max_steps = 11;  // mid second epoch (8 steps an epoch)
  ASSERT_EQ(run(first).exit_code, kExitOk);
  TrainerOptions later = options(dir_ / "stopped");
  later.epochs = 3;
  later.optimizer = "sgd";
  later.best_checkpoint = first.best_checkpoint;
  later.resume = "auto";
  later.max_steps = 0;
  Trainer trainer(*world_, runtime::ProcessInfo{}, later);
  ASSERT_EQ(trainer.run(), kExitOk);
  EXPECT_EQ(trainer.options().validation_split, 0.2);
  EXPECT_EQ(trainer.summary().last_step, 24);
  EXPECT_TRUE(same_run_state(io::checkpoint_path(dir_ / "stopped", 24),
                             io::checkpoint_path(dir_ / "straight", 24)));
  ASSERT_EQ(trainer.summary().validations.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const EpochValidation& resumed = trainer.summary().validations[i];
    const EpochValidation& uninterrupted = straight.validations[i + 1];
    EXPECT_EQ(resumed.epoch, uninterrupted.epoch);
    EXPECT_EQ(resumed.metrics.accuracy, uninterrupted.metrics.accuracy);
    EXPECT_EQ(resumed.best, uninterrupted.best) << "epoch " << resumed.epoch;
  }
  EXPECT_TRUE(same_run_state(first.best_checkpoint, dir_ / "straight-best.safetensors"));
}

// Property: bad validation options are refused when the Trainer is made, naming the option and
// the value; combinations that make no sense name what is missing.
TEST_F(ValidationTest, BadOptionsAreRefused) {
  const SpoiledOptions cases = {
      {[](TrainerOptions& o) { o.validate_every = -1; },
       "--validate-every must be at least 0 (0: never), found -1"},
      {[](TrainerOptions& o) {
         o.validate_every = 1;
         o.validation_split = 1;
       },
       "--validation-split must be a fraction in (0, 1), found 1"},
      {[](TrainerOptions& o) {
         o.validate_every = 1;
         o.validation_split = -0.5;
       },
       "--validation-split must be a fraction in (0, 1), found -0.5"},
      {[](TrainerOptions& o) { o.validation_split = 0.2; },
       "--validation-split needs --validate-every"},
      {[](TrainerOptions& o) { o.best_checkpoint = "best.safetensors"; },
       "--best-checkpoint needs --validate-every"},
      {[](TrainerOptions& o) {
         o.validate_every = 1;
         o.checkpoint_dir.clear();
         o.checkpoint = "run.safetensors";
         o.best_checkpoint = "run.safetensors";
       },
       "--best-checkpoint must differ from --checkpoint, found 'run.safetensors' for both"},
  };
  expect_each_refused(cases);

  TrainerOptions all = options(dir_ / "all");
  all.validate_every = 1;
  all.validation_split = 0.999;  // 100 of 100
  Trainer trainer(*world_, runtime::ProcessInfo{}, all);
  try {
    trainer.run();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("--validation-split 0.999 holds out 100 of the 100 training "
                               "samples"),
              std::string::npos)
        << e.message();
  }
}

// Property: trainer_state.extra keeps the best validation and reads it back; missing or
// malformed fields read as no validation yet.
TEST(BestValidationTest, RecordedAndReadBack) {
  nlohmann::json extra = nlohmann::json::object();
  record_best_validation(extra, {});
  EXPECT_TRUE(extra.empty());
  record_best_validation(extra, {0.75, 3});
  const BestValidation read = read_best_validation(extra);
  EXPECT_EQ(read.accuracy, 0.75);
  EXPECT_EQ(read.epoch, 3);
  EXPECT_TRUE(read.improved_by(0.76));
  EXPECT_FALSE(read.improved_by(0.75));
  EXPECT_TRUE(BestValidation{}.improved_by(0.0));
  for (const nlohmann::json& bad :
       {nlohmann::json{{"best_validation_accuracy", "high"}, {"best_validation_epoch", 1}},
        nlohmann::json{{"best_validation_accuracy", 1.5}, {"best_validation_epoch", 1}},
        nlohmann::json{{"best_validation_accuracy", 0.5}, {"best_validation_epoch", 0}},
        nlohmann::json{{"best_validation_accuracy", 0.5}}, nlohmann::json::array()}) {
    EXPECT_FALSE(read_best_validation(bad).any()) << bad.dump();
  }
}

}  // namespace
}  // namespace lockstep::train::testing
