// Checkpoints read by the reference Python reader (safetensors.numpy), as a NumPy or PyTorch
// user would load them: names, PyTorch layouts (Dense weight [out, in]), values, metadata.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "lockstep/io/checkpoint.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::TempDir;

const std::string kScript = std::string(LOCKSTEP_TEST_PYTHON_DIR) + "/check_checkpoint.py";

// Exit status of a shell command, or -1 when it did not exit normally.
int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool python_has_safetensors() {
  return run_command("python3 -c 'import numpy, safetensors.numpy' > /dev/null 2>&1") == 0;
}

// Runs check_checkpoint.py on `path` with `expected`; its report goes to the test log.
int check_with_python(const std::filesystem::path& path, const nlohmann::json& expected) {
  return run_command("python3 -u '" + kScript + "' '" + path.string() + "' '" + expected.dump() +
                     "' 2>&1");
}

class CheckpointPythonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!python_has_safetensors()) {
      GTEST_SKIP() << "python3 with numpy and safetensors is not available";
    }
    model_ = nn::build_model(nn::builtin_spec("mlp"), 11);
    optimizer_ = optim::make_optimizer("adam", nlohmann::json::object());
    // One step with made-up gradients, so biases and optimizer moments are not all zero.
    uint64_t seed = 50;
    for (nn::Parameter* p : model_->parameters()) {
      if (!p->grad.defined()) p->grad = Tensor::zeros(p->value.shape());
      p->grad.copy_from(lockstep::testing::random_tensor(p->value.shape(), seed++));
    }
    optimizer_->step(model_->parameters(), 1.0f / 32);
    TrainerState state;
    state.step = 1;
    state.seed = 11;
    save_checkpoint(path_, *model_, *optimizer_, state);
  }

  // The mlp's parameters written out by hand (not read from the model), so a transposed
  // or renamed Dense weight fails: Flatten is layer 0, the Dense layers are 1, 3 and 5.
  nlohmann::json expected_mlp() {
    nlohmann::json expected;
    expected["parameters"] = {{"1.weight", {256, 784}}, {"1.bias", {256}},
                              {"3.weight", {256, 256}}, {"3.bias", {256}},
                              {"5.weight", {10, 256}},  {"5.bias", {10}}};
    expected["metadata"] = {{"format", "lockstep-checkpoint"},
                            {"version", "2"},
                            {"optimizer", "adam"},
                            {"step", "1"},
                            {"seed", "11"}};
    for (const nn::Parameter* p : model_->parameters()) {
      double sum = 0;
      for (const float v : p->value.to_vector()) sum += v;
      expected["sums"][p->name] = sum;
    }
    return expected;
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "mlp.ckpt";
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
};

TEST_F(CheckpointPythonTest, ReferenceReaderSeesPyTorchLayoutsValuesAndMetadata) {
  EXPECT_EQ(check_with_python(path_, expected_mlp()), 0);
}

// The check itself can fail: a transposed Dense weight or a wrong sum is reported.
TEST_F(CheckpointPythonTest, ReferenceCheckRejectsWrongExpectations) {
  nlohmann::json transposed = expected_mlp();
  transposed["parameters"]["1.weight"] = {784, 256};
  EXPECT_EQ(check_with_python(path_, transposed), 1);
  nlohmann::json wrong_sum = expected_mlp();
  wrong_sum["sums"]["5.bias"] = 1000.0;
  EXPECT_EQ(check_with_python(path_, wrong_sum), 1);
}

}  // namespace
}  // namespace lockstep::io
