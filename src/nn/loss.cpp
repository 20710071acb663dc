// CrossEntropyLoss and MeanSquaredErrorLoss: shape checks, then one backend call that returns
// the SUM over rows and writes the gradient of that sum; LossAccumulator, where a training
// step's passes add their values without waiting for the device.
#include "lockstep/nn/loss.h"

#include "backend/op_checks.h"
#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"

namespace lockstep::nn {

namespace {

// Makes `grad` a tensor of `shape` on `device`, keeping its storage when it already fits.
void prepare_grad(Tensor& grad, const Shape& shape, const Device& device) {
  if (grad.defined() && grad.device() == device && grad.shape() == shape) return;
  grad = Tensor::empty(shape, device);
}

// The label tensor [rows] of one-hot (or soft) targets [rows, classes]: each row's first
// maximum. Computed on the host, as the targets are input data of the size of the logits.
Tensor target_argmax(const Tensor& targets) {
  const int64_t rows = targets.size(0), classes = targets.size(1);
  const std::vector<float> values = targets.to_vector();
  std::vector<float> labels(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) best = row[c] > row[best] ? c : best;
    labels[static_cast<size_t>(r)] = static_cast<float>(best);
  }
  return Tensor::from_vector({rows}, labels).to(targets.device());
}

// The cross-entropy's checks; true when the target holds class labels.
bool check_cross_entropy(const Tensor& output, const Tensor& target) {
  LOCKSTEP_CHECK(output.dim() == 2 && output.size(1) > 0, "cross_entropy: output has shape "
                                                              << to_string(output.shape())
                                                              << ", expected [rows, classes]");
  check_same_device(output, target, "cross_entropy: output and target");
  const int64_t rows = output.size(0);
  LOCKSTEP_CHECK(target.shape() == Shape{rows} || target.shape() == output.shape(),
                 "cross_entropy: target has shape "
                     << to_string(target.shape()) << ", expected [" << rows
                     << "] (class labels) or " << to_string(output.shape()) << " (probabilities)");
  return target.dim() == 1;
}

}  // namespace

LossAccumulator::LossAccumulator(Device device) : storage_(sizeof(backend::LossTotals), device) {
  clear();
}

void LossAccumulator::clear() {
  const backend::LossTotals zero;
  backend::backend_for(device()).copy_from_host(storage_.data(), &zero, sizeof(zero));
  host_ = {};
}

backend::LossTotals* LossAccumulator::device_totals() {
  return static_cast<backend::LossTotals*>(storage_.data());
}

void LossAccumulator::add(const LossValue& value) {
  host_.sum += value.sum;
  host_.rows += value.rows;
  host_.correct += value.correct;
}

LossValue LossAccumulator::read() {
  backend::LossTotals totals;
  backend::backend_for(device()).copy_to_host(&totals, storage_.data(), sizeof(totals));
  if (totals.bad_row >= 0) {
    backend::throw_bad_label(totals.bad_row, totals.bad_label, totals.classes);
  }
  LossValue value = host_;
  value.sum += totals.sum;
  value.correct += totals.correct;
  return value;
}

void Loss::accumulate(const Tensor& output, const Tensor& target, Tensor& grad,
                      LossAccumulator& totals) {
  totals.add(forward_backward(output, target, grad));
}

void CrossEntropyLoss::accumulate(const Tensor& output, const Tensor& target, Tensor& grad,
                                  LossAccumulator& totals) {
  if (!check_cross_entropy(output, target) || output.device() != totals.device()) {
    Loss::accumulate(output, target, grad, totals);
    return;
  }
  prepare_grad(grad, output.shape(), output.device());
  const int64_t rows = output.size(0);
  backend::backend_for(output.device())
      .softmax_cross_entropy_labels_into(output.data(), target.data(), grad.data(), rows,
                                         output.size(1), totals.rows(), totals.device_totals());
  totals.add_rows(rows);
}

LossValue CrossEntropyLoss::forward_backward(const Tensor& output, const Tensor& target,
                                             Tensor& grad) {
  const bool labels = check_cross_entropy(output, target);
  const int64_t rows = output.size(0), classes = output.size(1);
  prepare_grad(grad, output.shape(), output.device());
  backend::Backend& be = backend::backend_for(output.device());
  LossValue value;
  value.rows = rows;
  if (labels) {
    value.sum =
        be.softmax_cross_entropy_labels(output.data(), target.data(), grad.data(), rows, classes);
    value.correct = be.count_correct(output.data(), target.data(), rows, classes);
  } else {
    value.sum =
        be.softmax_cross_entropy_targets(output.data(), target.data(), grad.data(), rows, classes);
    const Tensor argmax = target_argmax(target);
    value.correct = be.count_correct(output.data(), argmax.data(), rows, classes);
  }
  return value;
}

LossValue MeanSquaredErrorLoss::forward_backward(const Tensor& output, const Tensor& target,
                                                 Tensor& grad) {
  LOCKSTEP_CHECK(output.dim() >= 1,
                 "mse: output has shape " << to_string(output.shape()) << ", expected [rows, ...]");
  LOCKSTEP_CHECK(target.shape() == output.shape(), "mse: target has shape "
                                                       << to_string(target.shape())
                                                       << ", expected the output's shape "
                                                       << to_string(output.shape()));
  check_same_device(output, target, "mse: output and target");
  const int64_t rows = output.size(0);
  // From the shape, not numel / rows, so that an empty slice (a rank with no rows) works.
  const int64_t cols = shape_numel(Shape(output.shape().begin() + 1, output.shape().end()));
  prepare_grad(grad, output.shape(), output.device());
  LossValue value;
  value.rows = rows;
  value.sum = backend::backend_for(output.device())
                  .mean_squared_error(output.data(), target.data(), grad.data(), rows, cols);
  return value;
}

std::unique_ptr<Loss> make_loss(const std::string& name) {
  if (name == "cross_entropy" || name == "categorical_crossentropy" ||
      name == "sparse_categorical_crossentropy") {
    return std::make_unique<CrossEntropyLoss>();
  }
  if (name == "mse" || name == "mean_squared_error")
    return std::make_unique<MeanSquaredErrorLoss>();
  LOCKSTEP_THROW("make_loss: unknown loss \"" << name
                                              << "\"; expected cross_entropy, "
                                                 "categorical_crossentropy, "
                                                 "sparse_categorical_crossentropy or mse");
}

}  // namespace lockstep::nn
