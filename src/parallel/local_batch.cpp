// LocalBatch: gather-by-id on the rank that holds the data, then scatterv by the partition.
#include "parallel/local_batch.h"

#include <utility>

#include "lockstep/base/error.h"

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

LocalBatch::~LocalBatch() {
  if (!prefetching_) return;
  try {
    finish_prefetch();
  } catch (...) {  // the job is ending with an error already; MPI frees the requests
  }
}

void LocalBatch::prepare(Buffers& b, const data::Dataset& data, const DataShape& shape,
                         std::span<const int64_t> rows) {
  const auto batch = static_cast<int64_t>(rows.size());
  b.slice = data::partition(batch, communicator_.size(), communicator_.rank(), group_);
  reuse_or_allocate(b.inputs, b.slice.count, shape.sample_shape, device_);
  reuse_or_allocate(b.targets, b.slice.count, shape.label_shape, device_);
  if (mode_ == InputMode::kScatter && communicator_.rank() == 0) {
    data.gather_batch(rows, reuse_or_allocate(b.root_inputs, batch, shape.sample_shape),
                      reuse_or_allocate(b.root_targets, batch, shape.label_shape));
  }
}

void LocalBatch::finish_prefetch() {
  prefetching_ = false;
  communicator_.finish(handles_[0]);
  communicator_.finish(handles_[1]);
}

void LocalBatch::load(const data::Dataset& data, const DataShape& shape,
                      std::span<const int64_t> rows) {
  if (prefetching_) {
    const bool same =
        prefetched_rows_.data() == rows.data() && prefetched_rows_.size() == rows.size();
    finish_prefetch();  // also when unused: every rank started it and must finish it
    if (same) {
      std::swap(current_, next_);
      return;
    }
  }
  prepare(current_, data, shape, rows);
  if (mode_ == InputMode::kSharded) {
    data.gather_batch(rows.subspan(static_cast<size_t>(current_.slice.offset),
                                   static_cast<size_t>(current_.slice.count)),
                      current_.inputs, current_.targets);
    return;
  }
  const auto batch = static_cast<int64_t>(rows.size());
  const bool root = communicator_.rank() == 0;
  exchange_.scatter(root ? current_.root_inputs.data() : nullptr, batch, shape.sample_elements(),
                    current_.inputs.data());
  exchange_.scatter(root ? current_.root_targets.data() : nullptr, batch, shape.label_elements(),
                    current_.targets.data());
}

void LocalBatch::augment(const data::Augmentation& augmentation, std::span<const int64_t> rows,
                         uint64_t seed, int64_t epoch) {
  const data::Slice& slice = current_.slice;
  LOCKSTEP_CHECK(slice.offset + slice.count <= static_cast<int64_t>(rows.size()),
                 "LocalBatch::augment: rows [" << slice.offset << ", " << slice.offset + slice.count
                                               << ") are outside the batch of " << rows.size());
  data::augment_rows(
      augmentation, current_.inputs,
      rows.subspan(static_cast<size_t>(slice.offset), static_cast<size_t>(slice.count)), seed,
      epoch);
}

void LocalBatch::prefetch(const data::Dataset& data, const DataShape& shape,
                          std::span<const int64_t> rows) {
  if (mode_ != InputMode::kScatter) return;
  LOCKSTEP_CHECK(!prefetching_, "LocalBatch::prefetch: a prefetch is already under way");
  prepare(next_, data, shape, rows);
  const auto batch = static_cast<int64_t>(rows.size());
  const bool root = communicator_.rank() == 0;
  handles_[0] = exchange_.start_scatter(root ? next_.root_inputs.data() : nullptr, batch,
                                        shape.sample_elements(), next_.inputs.data());
  handles_[1] = exchange_.start_scatter(root ? next_.root_targets.data() : nullptr, batch,
                                        shape.label_elements(), next_.targets.data());
  prefetched_rows_ = rows;
  prefetching_ = true;
}

}  // namespace lockstep::parallel
