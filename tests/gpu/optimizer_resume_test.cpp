// A resume on the GPU: the train app restores the optimizer state while the model is still on
// the CPU, then the engine moves the model to its GPU. The slots must follow their parameters
// there at the next step, and the resumed run must continue as the uninterrupted one does.
// Every test skips when no GPU answers.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/tensor/named_tensor.h"

namespace lockstep::gpu_testing {
namespace {

constexpr int64_t kBatch = 16;

nlohmann::json model_spec() {
  return {{"name", "tiny"},
          {"input_shape", {1, 5, 5}},
          {"layers",
           {{{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 12}},
            {{"type", "Tanh"}},
            {{"type", "Dense"}, {"units", 3}}}}};
}

// `steps` Adam steps on batches first_step, first_step + 1, ... of `data`, on the model's
// device.
void train(nn::Model& model, optim::Optimizer& optimizer, const data::Dataset& data, int first_step,
           int steps) {
  const Device device = model.parameters().front()->value.device();
  nn::CrossEntropyLoss loss;
  for (int step = first_step; step < first_step + steps; ++step) {
    const int64_t first = (step * kBatch) % data.size();
    const Tensor x = data.inputs().rows(first, first + kBatch).to(device);
    const Tensor y = data.labels().rows(first, first + kBatch).to(device);
    nn::ForwardContext context;
    context.training = true;
    Tensor grad;
    loss.forward_backward(model.forward(x, context), y, grad);
    model.backward(grad);
    optimizer.step(model.parameters(), 1.0f / static_cast<float>(kBatch));
  }
}

class OptimizerResumeTest : public GpuTest {};

TEST_F(OptimizerResumeTest, StateLoadedOnTheCpuFollowsTheModelToTheGpu) {
  const data::Dataset data = data::make_synthetic(8 * kBatch, {1, 5, 5}, 3, 2);
  const nlohmann::json settings = {{"lr", 0.01}};

  // The uninterrupted run, on the CPU: 4 steps, a snapshot, 4 more.
  std::unique_ptr<nn::Model> original = nn::build_model(model_spec(), 9);
  std::unique_ptr<optim::Optimizer> original_optimizer = optim::make_optimizer("adam", settings);
  train(*original, *original_optimizer, data, 0, 4);
  const std::vector<float> saved_weights = model_weights(*original);
  const NamedTensors saved_state = original_optimizer->state();
  train(*original, *original_optimizer, data, 4, 4);

  // The resumed one: weights and state restored on the CPU, then the model moves to the GPU.
  std::unique_ptr<nn::Model> resumed = nn::build_model(model_spec(), 9);
  size_t offset = 0;
  for (nn::Parameter* p : resumed->parameters()) {
    const auto n = static_cast<size_t>(p->value.numel());
    const std::vector<float> part(saved_weights.begin() + static_cast<std::ptrdiff_t>(offset),
                                  saved_weights.begin() + static_cast<std::ptrdiff_t>(offset + n));
    p->value = Tensor::from_vector(p->value.shape(), part);
    offset += n;
  }
  std::unique_ptr<optim::Optimizer> resumed_optimizer = optim::make_optimizer("adam", settings);
  resumed_optimizer->load_state(saved_state, resumed->parameters());
  resumed->to(gpu_device());
  train(*resumed, *resumed_optimizer, data, 4, 4);

  for (const NamedTensor& slot : resumed_optimizer->state()) {
    if (slot.name == "step") continue;
    EXPECT_EQ(slot.tensor.device(), gpu_device()) << slot.name << " stayed behind";
  }
  // Far from the snapshot, and where the uninterrupted run went.
  EXPECT_GT(relative_error(model_weights(*original), saved_weights), 1e-3);
  EXPECT_LE(relative_error(model_weights(*resumed), model_weights(*original)), 1e-5);
}

}  // namespace
}  // namespace lockstep::gpu_testing
