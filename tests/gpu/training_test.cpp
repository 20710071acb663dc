// Whole models on the GPU against the CPU: 20 training steps of the built-in mlp and of a
// small cnn (padding, strides, both poolings, dropout, every activation) reach the CPU's
// weights and losses within 1e-4 relative, and a model moved to the GPU predicts what the CPU
// predicts (within 1e-4 relative). Every test skips when no GPU answers.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"
#include "lockstep/data/dataset.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"

namespace lockstep::gpu_testing {
namespace {

constexpr uint64_t kModelSeed = 11;
constexpr int kSteps = 20;

// A small CNN that takes every layer kind and geometry the CUDA kernels distinguish.
nlohmann::json small_cnn_spec() {
  return {{"name", "small_cnn"},
          {"input_shape", {2, 12, 12}},
          {"layers",
           {{{"type", "Conv2D"}, {"filters", 6}, {"kernel_size", 3}, {"padding", "same"}},
            {{"type", "ReLU"}},
            {{"type", "MaxPool2D"}, {"pool_size", 2}},
            {{"type", "Conv2D"},
             {"filters", 8},
             {"kernel_size", {3, 2}},
             {"strides", {1, 2}},
             {"padding", {1, 0}}},
            {{"type", "Tanh"}},
            {{"type", "AvgPool2D"}, {"pool_size", {2, 1}}},
            {{"type", "Flatten"}},
            {{"type", "Dropout"}, {"rate", 0.25}},
            {{"type", "Dense"}, {"units", 16}},
            {{"type", "GELU"}},
            {{"type", "Dense"}, {"units", 12}},
            {{"type", "Sigmoid"}},
            {{"type", "Dense"}, {"units", 4}}}}};
}

struct TrainingResult {
  std::vector<double> losses;                       // loss sum of each step
  std::vector<std::vector<float>> initial_weights;  // every parameter before the first step
  std::vector<std::vector<float>> weights;          // every parameter after the last step
};

std::vector<float> concatenated(const std::vector<std::vector<float>>& parts) {
  std::vector<float> all;
  for (const std::vector<float>& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

// kSteps steps of SGD with momentum on consecutive batches of `data`, on `device`. The
// learning rate is small on purpose: GEMM rounding differs between cuBLAS and OpenBLAS, and
// when such a difference flips the sign of a ReLU input, that sample's gradient for the unit
// changes by a finite amount, a jump proportional to the learning rate that later steps
// amplify. At lr 0.005 one flip stays below the tolerance; at lr 0.05 the mlp's 784 raw
// pixel inputs make it a 1e-3 change (measured with GEMMs perturbed by a few ulps).
TrainingResult train(const nlohmann::json& spec, const data::Dataset& data, int64_t batch,
                     Device device) {
  std::unique_ptr<nn::Model> model = nn::build_model(spec, kModelSeed);
  model->to(device);
  std::unique_ptr<optim::Optimizer> optimizer =
      optim::make_optimizer("sgd", {{"lr", 0.005}, {"momentum", 0.9}});
  nn::CrossEntropyLoss loss;
  TrainingResult result;
  for (nn::Parameter* p : model->parameters()) {
    result.initial_weights.push_back(p->value.to_vector());
  }
  for (int step = 0; step < kSteps; ++step) {
    const int64_t first = (step * batch) % data.size();
    const Tensor x = data.inputs().rows(first, first + batch).to(device);
    const Tensor y = data.labels().rows(first, first + batch).to(device);
    nn::ForwardContext context;
    context.training = true;
    context.seed = 5;
    context.step = static_cast<uint64_t>(step);
    context.first_sample = 0;
    const Tensor output = model->forward(x, context);
    Tensor grad;
    result.losses.push_back(loss.forward_backward(output, y, grad).sum);
    model->backward(grad);
    optimizer->step(model->parameters(), 1.0f / static_cast<float>(batch));
  }
  for (nn::Parameter* p : model->parameters()) result.weights.push_back(p->value.to_vector());
  return result;
}

void expect_same_training(const nlohmann::json& spec, const data::Dataset& data, int64_t batch) {
  const TrainingResult on_cpu = train(spec, data, batch, Device::cpu());
  const TrainingResult on_gpu = train(spec, data, batch, gpu_device());
  ASSERT_EQ(on_gpu.losses.size(), on_cpu.losses.size());
  for (size_t s = 0; s < on_cpu.losses.size(); ++s) {
    EXPECT_NEAR(on_gpu.losses[s], on_cpu.losses[s], 1e-4 * std::abs(on_cpu.losses[s]))
        << "step " << s;
  }
  // Training moved the weights far beyond the tolerance, so equal weights are not just the
  // equal initial weights.
  const std::vector<float> cpu_weights = concatenated(on_cpu.weights);
  EXPECT_GT(relative_error(cpu_weights, concatenated(on_cpu.initial_weights)), 5e-3);
  ASSERT_EQ(on_gpu.weights.size(), on_cpu.weights.size());
  ::testing::Message per_parameter;
  for (size_t i = 0; i < on_cpu.weights.size(); ++i) {
    per_parameter << " " << relative_error(on_gpu.weights[i], on_cpu.weights[i]);
  }
  EXPECT_LE(relative_error(concatenated(on_gpu.weights), cpu_weights), 1e-4)
      << "relative error per parameter:" << per_parameter;
}

class CudaTrainingTest : public GpuTest {};

TEST_F(CudaTrainingTest, TwentyStepsOfTheMlpEqualTheCpu) {
  const data::Dataset data = data::make_synthetic(kSteps * 32, {1, 28, 28}, 10, 3);
  expect_same_training(nn::builtin_spec("mlp"), data, 32);
}

TEST_F(CudaTrainingTest, TwentyStepsOfASmallCnnWithDropoutEqualTheCpu) {
  const data::Dataset data = data::make_synthetic(kSteps * 16, {2, 12, 12}, 4, 4);
  expect_same_training(small_cnn_spec(), data, 16);
}

// predict on the GPU: a model built on the CPU and moved over gives the CPU's outputs.
void expect_same_predictions(const nlohmann::json& spec, const Shape& input_shape) {
  std::unique_ptr<nn::Model> on_cpu = nn::build_model(spec, kModelSeed);
  std::unique_ptr<nn::Model> on_gpu = nn::build_model(spec, kModelSeed);
  on_gpu->to(gpu_device());
  const data::Dataset data = data::make_synthetic(8, input_shape, 10, 6);
  const nn::ForwardContext eval;  // training false: dropout is the identity
  const Tensor expected = on_cpu->forward(data.inputs(), eval);
  const Tensor actual = on_gpu->forward(data.inputs().to(gpu_device()), eval);
  EXPECT_EQ(actual.device(), gpu_device());
  EXPECT_EQ(actual.shape(), expected.shape());
  // Looser than one op's 1e-5: a whole forward pass compounds every layer's rounding, and
  // the logits of an untrained model are small sums with much cancellation.
  EXPECT_LE(relative_error(actual.to_vector(), expected.to_vector()), 1e-4);
}

TEST_F(CudaTrainingTest, ModelsMovedToTheGpuPredictWhatTheCpuPredicts) {
  {
    SCOPED_TRACE("mlp");
    expect_same_predictions(nn::builtin_spec("mlp"), {1, 28, 28});
  }
  {
    SCOPED_TRACE("cnn");
    expect_same_predictions(nn::builtin_spec("cnn"), {1, 28, 28});
  }
  {
    SCOPED_TRACE("small_cnn");
    expect_same_predictions(small_cnn_spec(), {2, 12, 12});
  }
}

}  // namespace
}  // namespace lockstep::gpu_testing
