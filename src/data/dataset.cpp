// Dataset: validation of the tensor pair, batch gathering by row copies, slices.
#include "lockstep/data/dataset.h"

#include <cstring>

#include "lockstep/base/error.h"

namespace lockstep::data {

namespace {

Shape without_first(const Shape& shape) { return Shape(shape.begin() + 1, shape.end()); }

Shape with_rows(int64_t rows, const Shape& row_shape) {
  Shape shape{rows};
  shape.insert(shape.end(), row_shape.begin(), row_shape.end());
  return shape;
}

void check_batch_tensor(const Tensor& out, const Shape& expected, const char* what) {
  LOCKSTEP_CHECK(out.defined() && out.device().is_cpu(),
                 "Dataset::gather_batch: " << what << " must be a defined CPU tensor");
  LOCKSTEP_CHECK(out.shape() == expected,
                 "Dataset::gather_batch: " << what << " has shape " << to_string(out.shape())
                                           << ", expected " << to_string(expected));
}

void copy_rows(std::span<const int64_t> indices, const float* source, int64_t row_elements,
               float* destination) {
  const size_t row_bytes = static_cast<size_t>(row_elements) * sizeof(float);
  if (row_bytes == 0) return;
  for (size_t i = 0; i < indices.size(); ++i) {
    std::memcpy(destination + static_cast<int64_t>(i) * row_elements,
                source + indices[i] * row_elements, row_bytes);
  }
}

}  // namespace

Dataset::Dataset(Tensor inputs, Tensor labels)
    : inputs_(std::move(inputs)), labels_(std::move(labels)) {
  LOCKSTEP_CHECK(inputs_.defined() && labels_.defined(),
                 "Dataset: inputs and labels must both be defined tensors");
  LOCKSTEP_CHECK(inputs_.device().is_cpu() && labels_.device().is_cpu(),
                 "Dataset: expected CPU tensors, found inputs on "
                     << inputs_.device().str() << " and labels on " << labels_.device().str());
  LOCKSTEP_CHECK(inputs_.dim() >= 1 && labels_.dim() >= 1,
                 "Dataset: inputs " << to_string(inputs_.shape()) << " and labels "
                                    << to_string(labels_.shape())
                                    << " both need a sample dimension");
  LOCKSTEP_CHECK(inputs_.size(0) == labels_.size(0),
                 "Dataset: inputs " << to_string(inputs_.shape()) << " have " << inputs_.size(0)
                                    << " samples, labels " << to_string(labels_.shape()) << " have "
                                    << labels_.size(0));
  size_ = inputs_.size(0);
  sample_elements_ = shape_numel(sample_shape());
  label_elements_ = shape_numel(label_shape());
}

Shape Dataset::sample_shape() const {
  return inputs_.defined() ? without_first(inputs_.shape()) : Shape{};
}

Shape Dataset::label_shape() const {
  return labels_.defined() ? without_first(labels_.shape()) : Shape{};
}

void Dataset::gather_batch(std::span<const int64_t> indices, Tensor& inputs_out,
                           Tensor& labels_out) const {
  const int64_t rows = static_cast<int64_t>(indices.size());
  check_batch_tensor(inputs_out, with_rows(rows, sample_shape()), "inputs_out");
  check_batch_tensor(labels_out, with_rows(rows, label_shape()), "labels_out");
  for (size_t i = 0; i < indices.size(); ++i) {
    LOCKSTEP_CHECK(indices[i] >= 0 && indices[i] < size_,
                   "Dataset::gather_batch: index " << indices[i] << " at position " << i
                                                   << " is outside the " << size_ << " samples");
  }
  copy_rows(indices, inputs_.data(), sample_elements_, inputs_out.data());
  copy_rows(indices, labels_.data(), label_elements_, labels_out.data());
}

std::pair<Tensor, Tensor> Dataset::gather_batch(std::span<const int64_t> indices) const {
  const int64_t rows = static_cast<int64_t>(indices.size());
  Tensor inputs = Tensor::empty(with_rows(rows, sample_shape()));
  Tensor labels = Tensor::empty(with_rows(rows, label_shape()));
  gather_batch(indices, inputs, labels);
  return {inputs, labels};
}

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  LOCKSTEP_CHECK(0 <= begin && begin <= end && end <= size_,
                 "Dataset::slice: range [" << begin << ", " << end << ") is outside the " << size_
                                           << " samples");
  if (!inputs_.defined()) return Dataset();
  return Dataset(inputs_.rows(begin, end), labels_.rows(begin, end));
}

Dataset Dataset::select(std::span<const int64_t> indices) const {
  auto [inputs, labels] = gather_batch(indices);
  return Dataset(inputs, labels);
}

std::pair<Dataset, Dataset> split_dataset(const Dataset& dataset, int64_t first_count) {
  LOCKSTEP_CHECK(
      first_count >= 0 && first_count <= dataset.size(),
      "split_dataset: cannot split off " << first_count << " of " << dataset.size() << " samples");
  return {dataset.slice(0, first_count), dataset.slice(first_count, dataset.size())};
}

}  // namespace lockstep::data
