// Dataset: samples held in memory as two CPU tensors, inputs [N, ...] and labels [N] (class
// ids as floats) or [N, k] (targets), with batch gathering by sample id and slicing.
#pragma once

#include <cstdint>
#include <span>
#include <utility>

#include "lockstep/base/shape.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::data {

class Dataset {
 public:
  // An empty dataset with no tensors.
  Dataset() = default;
  // Both tensors must be defined CPU tensors with at least one dimension and the same
  // number of rows; throws lockstep::Error naming the shapes otherwise.
  Dataset(Tensor inputs, Tensor labels);

  // Number of samples N.
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Tensor& inputs() const { return inputs_; }
  const Tensor& labels() const { return labels_; }
  // Shape of one sample, the inputs' shape without dimension 0 ([1, 28, 28] for images).
  Shape sample_shape() const;
  // Shape of one label without dimension 0: [] for class ids, [k] for targets.
  Shape label_shape() const;
  int64_t sample_elements() const { return sample_elements_; }
  int64_t label_elements() const { return label_elements_; }

  // Copies sample indices[i] into row i of `inputs_out` and `labels_out`, which must be CPU
  // tensors of shapes [indices.size(), sample_shape...] and [indices.size(), label_shape...]
  // (views from Tensor::rows fit). Every index is checked against size().
  void gather_batch(std::span<const int64_t> indices, Tensor& inputs_out, Tensor& labels_out) const;
  // Allocates the batch tensors and gathers into them.
  std::pair<Tensor, Tensor> gather_batch(std::span<const int64_t> indices) const;

  // Samples [begin, end): views that share this dataset's storage.
  Dataset slice(int64_t begin, int64_t end) const;
  // The samples named by `indices`, copied in that order.
  Dataset select(std::span<const int64_t> indices) const;

 private:
  Tensor inputs_;
  Tensor labels_;
  int64_t size_ = 0;
  int64_t sample_elements_ = 0;
  int64_t label_elements_ = 0;
};

// Splits off the first `first_count` samples (views): {[0, first_count), [first_count, N)},
// e.g. a training set and a validation set.
std::pair<Dataset, Dataset> split_dataset(const Dataset& dataset, int64_t first_count);

}  // namespace lockstep::data
