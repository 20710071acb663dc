// Losses: each returns the SUM over the rows it is given and the gradient of that sum, so
// that N ranks summing their parts equal one process over the whole batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lockstep/core/tensor.h"

namespace lockstep::nn {

struct LossValue {
  double sum = 0.0;    // loss summed over rows
  int64_t rows = 0;    // rows it was summed over
  int64_t correct = 0; // rows whose argmax matches the label (classification losses only)
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  // output: [rows, ...]; target as the loss defines it; grad is resized/overwritten to the
  // output's shape with d(sum)/d(output).
  virtual LossValue forward_backward(const Tensor& output, const Tensor& target,
                                     Tensor& grad) = 0;
};

// Softmax + cross-entropy in one stable step. target: [rows] class indices (as float) or
// [rows, classes] probability rows (one-hot or soft).
class CrossEntropyLoss final : public Loss {
 public:
  std::string name() const override { return "cross_entropy"; }
  LossValue forward_backward(const Tensor& output, const Tensor& target, Tensor& grad) override;
};

// Per row, the mean over features of the squared error (Keras's MSE); summed over rows.
class MeanSquaredErrorLoss final : public Loss {
 public:
  std::string name() const override { return "mse"; }
  LossValue forward_backward(const Tensor& output, const Tensor& target, Tensor& grad) override;
};

// "cross_entropy" (also "categorical_crossentropy", "sparse_categorical_crossentropy") or "mse".
std::unique_ptr<Loss> make_loss(const std::string& name);

}  // namespace lockstep::nn
