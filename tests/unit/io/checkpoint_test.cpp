// Tests of checkpoints: a save/read/restore round trip gives identical weights, optimizer
// state and trainer state; models, optimizers and metadata that do not fit are refused.
#include "lockstep/io/checkpoint.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "io_test_util.h"
#include "lockstep/io/safetensors.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::random_tensor;
using lockstep::testing::TempDir;
using testing::throws_error_containing;

// Gives every parameter a random gradient (from `seed`) and takes one optimizer step.
void take_step(nn::Model& model, optim::Optimizer& optimizer, uint64_t seed) {
  for (nn::Parameter* p : model.parameters()) {
    if (!p->grad.defined()) p->grad = Tensor::zeros(p->value.shape());
    p->grad.copy_from(random_tensor(p->value.shape(), seed++));
  }
  optimizer.step(model.parameters(), 1.0f / 32);
}

// Passes when both lists hold the same names in the same order with bitwise equal values.
::testing::AssertionResult same_tensors(const NamedTensors& actual, const NamedTensors& expected) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << actual.size() << " tensors, expected " << expected.size();
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i].name != expected[i].name ||
        actual[i].tensor.shape() != expected[i].tensor.shape() ||
        actual[i].tensor.to_vector() != expected[i].tensor.to_vector()) {
      return ::testing::AssertionFailure()
             << "tensor " << i << " is '" << actual[i].name << "' "
             << to_string(actual[i].tensor.shape()) << ", expected '" << expected[i].name << "' "
             << to_string(expected[i].tensor.shape()) << " (or the values differ)";
    }
  }
  return ::testing::AssertionSuccess();
}

NamedTensors weights_of(nn::Model& model) {
  NamedTensors weights;
  for (const nn::Parameter* p : model.parameters()) weights.push_back({p->name, p->value.clone()});
  return weights;
}

TrainerState sample_state() {
  TrainerState state;
  state.step = 1;
  state.epoch = 3;
  state.position_in_epoch = 640;
  state.seed = 18446744073709551557ull;  // above int64: the seed is stored unsigned
  state.world_size = 4;
  state.extra = {{"loss", "cross_entropy"}, {"batch_size", 64}};
  return state;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = nn::build_model(nn::builtin_spec("mlp"), 7);
    optimizer_ = optim::make_optimizer("adam", nlohmann::json::object());
    take_step(*model_, *optimizer_, 100);
    save_checkpoint(path_, *model_, *optimizer_, sample_state());
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "run.ckpt";
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
};

TEST_F(CheckpointTest, RoundTripRestoresWeightsOptimizerStateAndTrainerState) {
  const Checkpoint checkpoint = read_checkpoint(path_);
  EXPECT_EQ(checkpoint.model_spec, model_->spec());
  EXPECT_EQ(checkpoint.optimizer_name, "adam");
  EXPECT_EQ(checkpoint.optimizer_hyperparameters, optimizer_->hyperparameters());
  EXPECT_EQ(checkpoint.state, sample_state());

  auto model = nn::build_model(nn::builtin_spec("mlp"), 8);  // other seed: other weights
  auto optimizer = optim::make_optimizer("adam", nlohmann::json::object());
  ASSERT_FALSE(same_tensors(weights_of(*model), weights_of(*model_)));
  restore_checkpoint(checkpoint, *model, *optimizer);
  EXPECT_TRUE(same_tensors(weights_of(*model), weights_of(*model_)));
  EXPECT_TRUE(same_tensors(optimizer->state(), optimizer_->state()));

  // A resumed run continues bit for bit: the same gradients give the same next weights.
  take_step(*model_, *optimizer_, 200);
  take_step(*model, *optimizer, 200);
  EXPECT_TRUE(same_tensors(weights_of(*model), weights_of(*model_)));
}

TEST_F(CheckpointTest, FileHoldsParametersByNameAndOptimizerStateUnderItsPrefix) {
  const SafetensorsFile file = read_safetensors(path_);
  NamedTensors expected;
  for (const nn::Parameter* p : model_->parameters()) expected.push_back({p->name, p->value});
  for (const NamedTensor& s : optimizer_->state())
    expected.push_back({"optim/" + s.name, s.tensor});
  EXPECT_TRUE(same_tensors(file.tensors, expected));
  EXPECT_EQ(file.metadata.at("format"), "lockstep-checkpoint");
  EXPECT_EQ(file.metadata.at("version"), "2");
  EXPECT_EQ(file.metadata.at("optimizer"), "adam");
  EXPECT_EQ(file.metadata.at("step"), "1");
  EXPECT_EQ(file.metadata.at("epoch"), "3");
  EXPECT_EQ(file.metadata.at("seed"), "18446744073709551557");
  EXPECT_EQ(nlohmann::json::parse(file.metadata.at("model_spec")), model_->spec());
  const auto trainer = nlohmann::json::parse(file.metadata.at("trainer_state"));
  EXPECT_EQ(trainer.at("position_in_epoch"), 640);
  EXPECT_EQ(trainer.at("world_size"), 4);
  EXPECT_EQ(trainer.at("extra").at("loss"), "cross_entropy");
}

TEST_F(CheckpointTest, LoadRunRebuildsModelAndOptimizer) {
  const LoadedRun run = load_run(path_);
  ASSERT_TRUE(run.model && run.optimizer);
  EXPECT_EQ(run.model->spec(), model_->spec());
  EXPECT_EQ(run.optimizer->name(), "adam");
  EXPECT_EQ(run.optimizer->hyperparameters(), optimizer_->hyperparameters());
  EXPECT_EQ(run.state, sample_state());
  EXPECT_TRUE(same_tensors(weights_of(*run.model), weights_of(*model_)));
  EXPECT_TRUE(same_tensors(run.optimizer->state(), optimizer_->state()));
}

TEST_F(CheckpointTest, OtherArchitectureIsRefusedNamingParametersAndLeftUnchanged) {
  auto cnn = nn::build_model(nn::builtin_spec("cnn"), 1);
  auto optimizer = optim::make_optimizer("adam", nlohmann::json::object());
  const NamedTensors before = weights_of(*cnn);
  EXPECT_TRUE(throws_error_containing(
      [&] { restore_checkpoint(read_checkpoint(path_), *cnn, *optimizer); },
      {path_.string(), "missing parameters '0.weight' [32, 1, 5, 5]",
       "extra parameters '1.bias' [256], '1.weight' [256, 784]",
       "'3.weight' is [256, 256] in the checkpoint, [64, 32, 5, 5] in the model",
       "model spec differs"}));
  EXPECT_TRUE(same_tensors(weights_of(*cnn), before));
}

TEST_F(CheckpointTest, OtherLayerWidthIsRefusedNamingShapeAndSpecField) {
  nlohmann::json spec = nn::builtin_spec("mlp");
  spec["layers"][1]["units"] = 128;
  auto narrow = nn::build_model(spec, 1);
  auto optimizer = optim::make_optimizer("adam", nlohmann::json::object());
  EXPECT_TRUE(throws_error_containing(
      [&] { restore_checkpoint(read_checkpoint(path_), *narrow, *optimizer); },
      {"'1.weight' is [256, 784] in the checkpoint, [128, 784] in the model",
       "/layers/1/units (checkpoint 256, model 128)"}));
}

TEST_F(CheckpointTest, OtherOptimizerIsRefused) {
  auto model = nn::build_model(nn::builtin_spec("mlp"), 8);
  auto sgd = optim::make_optimizer("sgd", nlohmann::json::object());
  const NamedTensors before = weights_of(*model);
  EXPECT_TRUE(
      throws_error_containing([&] { restore_checkpoint(read_checkpoint(path_), *model, *sgd); },
                              {path_.string(), "optimizer 'adam'", "uses 'sgd'"}));
  EXPECT_TRUE(same_tensors(weights_of(*model), before));
}

// Each malformed metadata entry is reported with its key, whatever the other keys hold.
TEST_F(CheckpointTest, MalformedMetadataIsRefusedNamingTheKey) {
  const SafetensorsFile good = read_safetensors(path_);
  struct Case {
    std::string key;
    std::string value;  // "<erase>" removes the key
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"format", "<erase>", "metadata key 'format' is missing"},
      {"format", "pytorch", "format is 'pytorch', expected 'lockstep-checkpoint'"},
      {"version", "3", "version is '3', this build reads versions 1 to 2"},
      {"step", "<erase>", "metadata key 'step' is missing"},
      {"step", "12x", "'step' is '12x', expected a non-negative integer"},
      {"step", "-3", "'step' is '-3'"},
      {"epoch", "", "'epoch' is ''"},
      {"seed", "18446744073709551616", "'seed' is '18446744073709551616'"},
      {"model_spec", "{not json", "'model_spec' is not valid JSON"},
      {"model_spec", "[]", "'model_spec' is a JSON array, expected an object"},
      {"optimizer", "<erase>", "metadata key 'optimizer' is missing"},
      {"optimizer_hyperparameters", "3", "'optimizer_hyperparameters' is a JSON number"},
      {"trainer_state", "<erase>", "metadata key 'trainer_state' is missing"},
      {"trainer_state", R"({"world_size":1})", "trainer_state has no field 'position_in_epoch'"},
      {"trainer_state", R"({"position_in_epoch":0,"world_size":0})", "field 'world_size' is 0"},
      {"trainer_state", R"({"position_in_epoch":0,"world_size":4294967296})",
       "field 'world_size' is 4294967296"},
      {"trainer_state", R"({"position_in_epoch":18446744073709551615,"world_size":1})",
       "field 'position_in_epoch' is 18446744073709551615"},
      {"trainer_state", R"({"position_in_epoch":"5","world_size":1})",
       "field 'position_in_epoch' is \"5\""},
  };
  const auto bad_path = dir_ / "bad.ckpt";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key + " = " + c.value);
    std::map<std::string, std::string> metadata = good.metadata;
    if (c.value == "<erase>") {
      metadata.erase(c.key);
    } else {
      metadata[c.key] = c.value;
    }
    write_safetensors(bad_path, good.tensors, metadata);
    EXPECT_TRUE(throws_error_containing([&] { read_checkpoint(bad_path); },
                                        {bad_path.string(), c.expected}));
  }
}

TEST_F(CheckpointTest, PlainSafetensorsFileIsNotACheckpoint) {
  const auto plain = dir_ / "plain.safetensors";
  write_safetensors(plain, {{"x", Tensor::zeros({2})}});
  EXPECT_TRUE(throws_error_containing([&] { load_run(plain); },
                                      {plain.string(), "metadata key 'format' is missing"}));
}

}  // namespace
}  // namespace lockstep::io
