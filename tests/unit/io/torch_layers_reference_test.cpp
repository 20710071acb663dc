// DepthwiseConv2D, SeparableConv2D, GlobalAveragePooling2D and LayerNorm against PyTorch: a
// model saved with save_weights, rebuilt and loaded by name in PyTorch, must give the output
// and the gradients of a sum loss within 1e-5 (tests/python/torch_reference_layers.py).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "lockstep/io/model_weights.h"
#include "lockstep/io/safetensors.h"
#include "lockstep/nn/model.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::random_tensor;
using lockstep::testing::TempDir;

const std::string kScript = std::string(LOCKSTEP_TEST_PYTHON_DIR) + "/torch_reference_layers.py";
// Debian's interpreter, where python3-torch installs torch (not whichever python3 is first on
// the PATH).
const std::string kPython = "/usr/bin/python3";

// Exit status of a shell command, or -1 when it did not exit normally.
int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool python_has_torch() {
  return run_command("timeout 120 " + kPython + " -c 'import torch' > /dev/null 2>&1") == 0;
}

// Every field of the four layers, with strides, padding, depth multipliers, biases on and off;
// the last LayerNorm is affine so that the sum loss has non-trivial gradients.
const nlohmann::json kSpec = {
    {"name", "torch-reference"},
    {"input_shape", {3, 8, 7}},
    {"layers",
     {{{"type", "DepthwiseConv2D"},
       {"kernel_size", {3, 2}},
       {"strides", {2, 1}},
       {"padding", {1, 0}},
       {"depth_multiplier", 2}},
      {{"type", "Tanh"}},
      {{"type", "SeparableConv2D"},
       {"filters", 5},
       {"kernel_size", 3},
       {"padding", "same"},
       {"depth_multiplier", 2}},
      {{"type", "LayerNorm"}, {"elementwise_affine", false}},
      {{"type", "SeparableConv2D"}, {"filters", 4}, {"kernel_size", 2}, {"use_bias", false}},
      {{"type", "DepthwiseConv2D"}, {"kernel_size", 2}, {"use_bias", false}},
      {{"type", "LayerNorm"}, {"eps", 0.001}},
      {{"type", "GlobalAveragePooling2D"}},
      {{"type", "LayerNorm"}}}}};

// Finite differences check a layer against itself; this checks the layouts, channel orders
// and definitions against the library users compare with. It runs under Debian's
// /usr/bin/python3 with python3-torch and skips when that Python has no torch.
class TorchLayersReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!python_has_torch()) {
      GTEST_SKIP() << kPython << " cannot import torch (Debian's python3-torch is not installed)";
    }
    model_ = nn::build_model(kSpec, 5);
    // Random values everywhere (biases too), so that a transposed or misplaced parameter shows.
    uint64_t seed = 100;
    for (nn::Parameter* p : model_->parameters()) {
      const bool scale = p->name.find("weight") != std::string::npos && p->value.dim() == 1;
      p->value.copy_from(
          random_tensor(p->value.shape(), seed++, scale ? 0.5f : -0.5f, scale ? 1.5f : 0.5f));
    }
    const Tensor x = random_tensor({4, 3, 8, 7}, 7, -2.0f, 2.0f);
    const Tensor y = model_->forward(x, nn::ForwardContext{}).clone();
    const Tensor dx = model_->backward(Tensor::full(y.shape(), 1.0f)).clone();  // loss sum(y)
    expected_ = {{"input", x}, {"output", y}, {"input_grad", dx}};
    for (nn::Parameter* p : model_->parameters()) {
      expected_.push_back({"grad/" + p->name, p->grad.clone()});
    }
    save_weights(weights_, *model_);
  }

  // Runs the PyTorch check on the weights and `expected`; its report goes to the test log.
  int check_with_torch(const NamedTensors& expected) {
    write_safetensors(expected_path_, expected);
    return run_command("OMP_NUM_THREADS=1 timeout 300 " + kPython + " -u '" + kScript + "' '" +
                       weights_.string() + "' '" + expected_path_.string() + "' 2>&1");
  }

  TempDir dir_;
  std::filesystem::path weights_ = dir_ / "weights.safetensors";
  std::filesystem::path expected_path_ = dir_ / "expected.safetensors";
  std::unique_ptr<nn::Model> model_;
  NamedTensors expected_;
};

TEST_F(TorchLayersReferenceTest, ForwardAndGradientsMatchPyTorch) {
  EXPECT_EQ(model_->output_shape(), (Shape{4}));
  EXPECT_EQ(check_with_torch(expected_), 0);
}

// The check itself can fail: a gradient off by 1e-3 in one element is reported.
TEST_F(TorchLayersReferenceTest, TheCheckCatchesAWrongGradient) {
  NamedTensors wrong = expected_;
  for (NamedTensor& entry : wrong) {
    if (entry.name != "grad/0.weight") continue;
    entry.tensor = entry.tensor.clone();
    entry.tensor.data()[3] += 1e-3f;
  }
  EXPECT_EQ(check_with_torch(wrong), 1);
}

}  // namespace
}  // namespace lockstep::io
