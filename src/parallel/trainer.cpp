// The single-process training loop: sampler order -> batches -> forward, SUM-loss, backward,
// optimizer step with grad_scale = 1/batch. Evaluation and prediction run in eval mode.
#include "lockstep/parallel/trainer.h"

#include <algorithm>
#include <span>
#include <vector>

#include "lockstep/core/error.h"
#include "lockstep/data/sampler.h"

namespace lockstep::parallel {

namespace {

Shape batch_shape(const Tensor& whole, int64_t rows) {
  Shape shape = whole.shape();
  shape[0] = rows;
  return shape;
}

Metrics to_metrics(const nn::LossValue& total) {
  Metrics m;
  m.samples = total.rows;
  if (total.rows > 0) {
    m.loss = total.sum / static_cast<double>(total.rows);
    m.accuracy = static_cast<double>(total.correct) / static_cast<double>(total.rows);
  }
  return m;
}

// A batch on the training device; CPU tensors are used in place rather than copied.
Tensor on_device(const Tensor& t, const Device& device) {
  return t.device() == device ? t : t.to(device);
}

void accumulate(nn::LossValue& total, const nn::LossValue& part) {
  total.sum += part.sum;
  total.rows += part.rows;
  total.correct += part.correct;
}

}  // namespace

Trainer::Trainer(nn::Sequential& model, nn::Loss& loss, optim::Optimizer& optimizer,
                 Device device)
    : model_(model), loss_(loss), optimizer_(optimizer), device_(device) {
  for (nn::Parameter* p : model_.parameters()) {
    LOCKSTEP_CHECK(p->value.device() == device_,
                   "Trainer: parameter " << p->name << " lives on " << p->value.device().str()
                                         << ", expected " << device_.str());
  }
}

nn::LossValue Trainer::run_batch(const Tensor& inputs, const Tensor& targets, bool training,
                                 uint64_t seed) {
  nn::ForwardContext context;
  context.training = training;
  context.seed = seed;
  context.step = static_cast<uint64_t>(step_);
  context.first_sample = 0;  // one process holds the whole global batch
  const Tensor output = model_.forward(inputs, context);
  const nn::LossValue value = loss_.forward_backward(output, targets, output_grad_);
  if (training) {
    model_.backward(output_grad_);
    optimizer_.step(model_.parameters(), 1.0f / static_cast<float>(value.rows));
    ++step_;
  }
  return value;
}

Metrics Trainer::train_epoch(const data::Dataset& data, int64_t epoch, const TrainConfig& config,
                             const std::function<void(int64_t, const Metrics&)>& on_step) {
  LOCKSTEP_CHECK(config.batch_size > 0,
                 "Trainer: batch size must be positive, found " << config.batch_size);
  const int64_t n = data.size();
  const std::vector<int64_t> order = data::global_order(n, config.seed, epoch, config.shuffle);
  Tensor host_inputs, host_targets;
  nn::LossValue total;
  for (int64_t begin = 0; begin < n; begin += config.batch_size) {
    const int64_t rows = std::min(config.batch_size, n - begin);
    if (!host_inputs.defined() || host_inputs.size(0) != rows) {
      host_inputs = Tensor::empty(batch_shape(data.inputs(), rows));
      host_targets = Tensor::empty(batch_shape(data.labels(), rows));
    }
    data.gather_batch(std::span<const int64_t>(order).subspan(static_cast<size_t>(begin),
                                                              static_cast<size_t>(rows)),
                      host_inputs, host_targets);
    const nn::LossValue value =
        run_batch(on_device(host_inputs, device_), on_device(host_targets, device_), true,
                  config.seed);
    accumulate(total, value);
    if (on_step) on_step(step_, to_metrics(value));
  }
  return to_metrics(total);
}

Metrics Trainer::evaluate(const data::Dataset& data, int64_t batch_size) {
  LOCKSTEP_CHECK(batch_size > 0, "Trainer: batch size must be positive, found " << batch_size);
  nn::LossValue total;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, data.size());
    accumulate(total, run_batch(on_device(data.inputs().rows(begin, end), device_),
                                on_device(data.labels().rows(begin, end), device_), false, 0));
  }
  return to_metrics(total);
}

Tensor Trainer::predict(const Tensor& inputs, int64_t batch_size) {
  LOCKSTEP_CHECK(batch_size > 0, "Trainer: batch size must be positive, found " << batch_size);
  LOCKSTEP_CHECK(inputs.dim() >= 1, "Trainer::predict: inputs need a batch dimension, shape is "
                                        << to_string(inputs.shape()));
  const int64_t n = inputs.size(0);
  Shape out_shape = model_.output_shape();
  out_shape.insert(out_shape.begin(), n);
  Tensor outputs = Tensor::empty(out_shape);
  nn::ForwardContext context;  // eval mode: no noise
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, n);
    Tensor part = outputs.rows(begin, end);
    part.copy_from(model_.forward(on_device(inputs.rows(begin, end), device_), context));
  }
  return outputs;
}

}  // namespace lockstep::parallel
