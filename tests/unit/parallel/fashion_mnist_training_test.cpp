// End to end on the real data set: single-process training of `mlp` on all of Fashion-MNIST
// for two epochs reaches >= 82% test accuracy, and its checkpoint opens with the reference
// safetensors reader holding PyTorch-layout ([out, in]) Dense weights.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "lockstep/comm/communicator.h"
#include "lockstep/data/idx_dataset.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "support/test_support.h"

namespace lockstep::parallel {
namespace {

const std::filesystem::path kDataDir = LOCKSTEP_FASHION_MNIST_DIR;

bool python_has_safetensors() {
  return std::system("python3 -c 'import numpy, safetensors.numpy' >/dev/null 2>&1") == 0;
}

TEST(FashionMnistTraining, MlpReaches82PercentInTwoEpochsAndCheckpointLoadsInPython) {
  if (!std::filesystem::exists(kDataDir / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not found in " << kDataDir
                 << " (apt-get install dataset-fashion-mnist)";
  }
  const data::Dataset train = data::load_fashion_mnist(kDataDir, "train");
  const data::Dataset test = data::load_fashion_mnist(kDataDir, "test");
  auto local = comm::make_local_communicator();
  auto model = nn::build_model(nn::builtin_spec("mlp"), 1);
  DataParallel trainer(*model, *local, Device::cpu());
  trainer.compile(std::make_unique<nn::CrossEntropyLoss>(),
                  optim::make_optimizer("sgd", {{"lr", 0.05}, {"momentum", 0.9}}));
  FitOptions options;
  options.epochs = 2;
  options.batch_size = 128;
  options.seed = 1;
  trainer.fit(train, options);

  const Metrics result = trainer.evaluate(test, 1000);
  std::printf("mlp after 2 epochs: test loss %.4f, test accuracy %.4f\n", result.loss,
              result.accuracy);
  EXPECT_EQ(result.samples, 10000);
  EXPECT_GE(result.accuracy, 0.82);

  testing::TempDir dir;
  const std::filesystem::path checkpoint = dir / "mlp.safetensors";
  io::TrainerState state;
  state.step = trainer.step();
  state.epoch = 2;
  state.seed = options.seed;
  io::save_checkpoint(checkpoint, *model, trainer.optimizer(), state);
  if (!python_has_safetensors()) {
    GTEST_SKIP() << "python3 lacks numpy/safetensors (pip install numpy safetensors): "
                    "the checkpoint was written but not read back in Python";
  }
  const std::string expected =
      R"({"parameters": {"1.weight": [256, 784], "1.bias": [256], "3.weight": [256, 256],)"
      R"( "3.bias": [256], "5.weight": [10, 256], "5.bias": [10]},)"
      R"( "metadata": {"format": "lockstep-checkpoint", "step": ")" +
      std::to_string(trainer.step()) + R"("}})";
  const std::string command = "python3 '" LOCKSTEP_TEST_PYTHON_DIR "/check_checkpoint.py' '" +
                              checkpoint.string() + "' '" + expected + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

}  // namespace
}  // namespace lockstep::parallel
