// LocalBatch: gather-by-id on the rank that holds the data, then scatterv by the partition.
#include "parallel/local_batch.h"

namespace lockstep::parallel {

Tensor& reuse_or_allocate(Tensor& cached, int64_t rows, const Shape& row_shape,
                          const Device& staging_for) {
  Shape shape = row_shape;
  shape.insert(shape.begin(), rows);
  if (!cached.defined() || cached.shape() != shape) {
    cached = staging_for.is_cpu() ? Tensor::empty(shape) : Tensor::empty_pinned(shape, staging_for);
  }
  return cached;
}

LocalBatch::LocalBatch(comm::Communicator& communicator, InputMode mode, int64_t group,
                       Device device)
    : communicator_(communicator),
      mode_(mode),
      group_(group),
      device_(device),
      exchange_(communicator, group) {}

void LocalBatch::load(const data::Dataset& data, const DataShape& shape,
                      std::span<const int64_t> rows) {
  const auto batch = static_cast<int64_t>(rows.size());
  slice_ = data::partition(batch, communicator_.size(), communicator_.rank(), group_);
  reuse_or_allocate(inputs_, slice_.count, shape.sample_shape, device_);
  reuse_or_allocate(targets_, slice_.count, shape.label_shape, device_);
  if (mode_ == InputMode::kSharded) {
    data.gather_batch(rows.subspan(static_cast<size_t>(slice_.offset),
                                   static_cast<size_t>(slice_.count)),
                      inputs_, targets_);
    return;
  }
  const float* root_inputs = nullptr;
  const float* root_targets = nullptr;
  if (communicator_.rank() == 0) {
    data.gather_batch(rows, reuse_or_allocate(root_inputs_, batch, shape.sample_shape),
                      reuse_or_allocate(root_targets_, batch, shape.label_shape));
    root_inputs = root_inputs_.data();
    root_targets = root_targets_.data();
  }
  exchange_.scatter(root_inputs, batch, shape.sample_elements(), inputs_.data());
  exchange_.scatter(root_targets, batch, shape.label_elements(), targets_.data());
}

}  // namespace lockstep::parallel
