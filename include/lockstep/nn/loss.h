// Losses: each returns the SUM over the rows it is given and the gradient of that sum, so
// that N ranks summing their parts equal one process over the whole batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lockstep/tensor/storage.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::backend {
struct LossTotals;
}

namespace lockstep::nn {

struct LossValue {
  double sum = 0.0;     // loss summed over rows
  int64_t rows = 0;     // rows it was summed over
  int64_t correct = 0;  // rows whose argmax matches the label (classification losses only)
};

// A step's loss metrics summed over its passes (micro-batches), kept on the device the loss
// runs on: on a GPU, adding a pass does not wait for the GPU, and read() waits once a step.
class LossAccumulator {
 public:
  explicit LossAccumulator(Device device);
  const Device& device() const { return storage_.device(); }
  // Starts over from zero (the start of a step).
  void clear();
  // The totals of every pass since clear(). Throws what a pass recorded instead of throwing
  // at once (a label that is not a class, on a GPU).
  LossValue read();

  // For losses: rows added so far (the next pass's first row), then either the totals in the
  // device's memory to add into (after which add_rows counts the pass's rows) or add() for a
  // pass already read back.
  int64_t rows() const { return host_.rows; }
  backend::LossTotals* device_totals();
  void add_rows(int64_t rows) { host_.rows += rows; }
  void add(const LossValue& value);

 private:
  Storage storage_;  // one backend::LossTotals
  LossValue host_;   // rows of every pass; sum and correct of the passes added with add()
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  // output: [rows, ...]; target as the loss defines it; grad is resized/overwritten to the
  // output's shape with d(sum)/d(output).
  virtual LossValue forward_backward(const Tensor& output, const Tensor& target, Tensor& grad) = 0;
  // As forward_backward, with the value added into `totals` (on the output's device) instead
  // of returned, so that a training loop on a GPU need not wait for every pass. The default
  // calls forward_backward.
  virtual void accumulate(const Tensor& output, const Tensor& target, Tensor& grad,
                          LossAccumulator& totals);
};

// Softmax + cross-entropy in one stable step. target: [rows] class indices (as float) or
// [rows, classes] probability rows (one-hot or soft).
class CrossEntropyLoss final : public Loss {
 public:
  std::string name() const override { return "cross_entropy"; }
  LossValue forward_backward(const Tensor& output, const Tensor& target, Tensor& grad) override;
  // Class labels go to the backend's deferred softmax_cross_entropy_labels_into.
  void accumulate(const Tensor& output, const Tensor& target, Tensor& grad,
                  LossAccumulator& totals) override;
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
