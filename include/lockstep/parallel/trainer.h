// Trainer: the training loop of one process — batches in the sampler's order, forward,
// SUM-loss, backward, one optimizer step scaled by 1/batch — plus evaluation and prediction.
// The data-parallel engine splits each of these global batches across ranks.
#pragma once

#include <cstdint>
#include <functional>

#include "lockstep/core/device.h"
#include "lockstep/core/tensor.h"
#include "lockstep/data/dataset.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/sequential.h"
#include "lockstep/optim/optimizer.h"

namespace lockstep::parallel {

struct TrainConfig {
  int64_t batch_size = 128;  // global batch: samples per optimizer step
  uint64_t seed = 1;         // keys the data order and the dropout masks
  bool shuffle = true;
};

// Loss and accuracy over `samples` rows: loss is the mean of the per-sample losses.
struct Metrics {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t samples = 0;
};

class Trainer {
 public:
  // The model, loss and optimizer are borrowed and must outlive the trainer. The model's
  // parameters must already live on `device`.
  Trainer(nn::Sequential& model, nn::Loss& loss, optim::Optimizer& optimizer, Device device);

  // One pass over `data` in the order global_order(size, seed, epoch); the last batch may be
  // partial. `on_step` (optional) sees each step's number and batch metrics.
  Metrics train_epoch(const data::Dataset& data, int64_t epoch, const TrainConfig& config,
                      const std::function<void(int64_t, const Metrics&)>& on_step = {});

  // Loss and accuracy over the whole data set in eval mode (every row, in order).
  Metrics evaluate(const data::Dataset& data, int64_t batch_size);

  // Model outputs for inputs [N, ...] in eval mode, in row order, on the CPU.
  Tensor predict(const Tensor& inputs, int64_t batch_size);

  // Optimizer steps taken so far (keys the dropout masks; restored from checkpoints).
  int64_t step() const { return step_; }
  void set_step(int64_t step) { step_ = step; }

 private:
  // Forward + loss (+ backward and update when training) over one batch already on device.
  nn::LossValue run_batch(const Tensor& inputs, const Tensor& targets, bool training,
                          uint64_t seed);

  nn::Sequential& model_;
  nn::Loss& loss_;
  optim::Optimizer& optimizer_;
  Device device_;
  int64_t step_ = 0;
  Tensor output_grad_;  // reused across steps
};

}  // namespace lockstep::parallel
