// TrainerOptions checks: each bad value is refused when the Trainer is made, before any
// work, with a message naming the option and the value; the optimizer list is optim's own.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "lockstep/base/error.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "lockstep/optim/optimizer.h"
#include "trainer_test_support.h"

namespace lockstep::train::testing {
namespace {

using TrainerOptionsTest = TrainerTest;

// Property: every check of the train program holds for the library too: a Trainer with a bad
// option throws lockstep::Error with the message the program prints.
TEST_F(TrainerOptionsTest, BadValuesAreRefusedNamingTheOptionAndValue) {
  const SpoiledOptions cases = {
      {[](TrainerOptions& o) { o.epochs = 0; }, "--epochs must be at least 1, found 0"},
      {[](TrainerOptions& o) { o.batch_size = -3; }, "--batch-size must be at least 1, found -3"},
      {[](TrainerOptions& o) { o.optimizer = "adagrad"; },
       "--optimizer must be sgd, rmsprop, adam or adamw, found 'adagrad'"},
      {[](TrainerOptions& o) { o.bucket_mb = 0; }, "--bucket-mb must be in (0, 4096], found 0"},
      {[](TrainerOptions& o) { o.keep_checkpoints = 0; },
       "--keep-checkpoints must be at least 1, found 0"},
      {[](TrainerOptions& o) { o.checkpoint_errors = "ignore"; },
       "--checkpoint-errors must be stop or continue, found 'ignore'"},
      {[](TrainerOptions& o) { o.checkpoint = "c.safetensors"; },
       "--checkpoint and --checkpoint-dir exclude each other; give one"},
      {[](TrainerOptions& o) {
         o.checkpoint_dir.clear();
         o.resume = "auto";
       },
       "--resume auto needs --checkpoint-dir (or --checkpoint) to look in"},
      {[](TrainerOptions& o) { o.max_steps = -1; }, "--max-steps must be at least 0, found -1"},
      {[](TrainerOptions& o) { o.collective_timeout = 0; },
       "--collective-timeout must be a positive number of seconds, found 0"},
      {[](TrainerOptions& o) { o.input = "broadcast"; }, "broadcast"},
      {[](TrainerOptions& o) { o.progress = "dots"; }, "dots"},
      {[](TrainerOptions& o) { o.batch_norm = "local"; },
       "--batch-norm must be sync or ghost, found 'local'"},
  };
  expect_each_refused(cases);
}

// Property: --batch-norm sets the mode of every BatchNorm layer in the spec the run builds and
// records (so a resume rebuilds the same model), and is refused for a model without BatchNorm.
TEST_F(TrainerOptionsTest, BatchNormModeIsWrittenIntoTheRecordedSpec) {
  TrainerOptions o = options(dir_ / "ghost");
  o.model = "resnet20";
  o.batch_norm = "ghost";
  o.max_steps = 1;
  run(o);
  const std::vector<int64_t> steps = steps_in(dir_ / "ghost");
  ASSERT_FALSE(steps.empty());
  const io::Checkpoint saved =
      io::read_checkpoint(io::list_checkpoints(dir_ / "ghost").front().path);
  int batch_norms = 0;
  for (const nlohmann::json& layer : saved.model_spec.at("layers")) {
    if (layer.at("type") == "BatchNorm") {
      EXPECT_EQ(layer.at("mode"), "ghost");
      ++batch_norms;
    }
  }
  EXPECT_EQ(batch_norms, 21);
  TrainerOptions plain = options(dir_ / "plain");
  plain.batch_norm = "sync";
  try {
    run(plain);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("--batch-norm sync: model 'small' has no BatchNorm layer"),
              std::string::npos)
        << e.message();
  }
}

// Property: every optimizer make_optimizer knows is accepted, and the list is the one the
// optimizer part names (no copy of it to drift).
TEST_F(TrainerOptionsTest, AcceptsEveryOptimizerOfTheOptimizerPart) {
  EXPECT_EQ(optim::optimizer_names(),
            (std::vector<std::string>{"sgd", "rmsprop", "adam", "adamw"}));
  for (const std::string& name : optim::optimizer_names()) {
    TrainerOptions o = options();
    o.optimizer = name;
    EXPECT_NO_THROW(validate_options(o)) << name;
    EXPECT_NO_THROW(optim::make_optimizer(name, nlohmann::json::object())) << name;
  }
}

}  // namespace
}  // namespace lockstep::train::testing
