// LocalBatch: this rank's rows of a global batch, either scattered from rank 0 (which
// gathers the batch from its data set) or read from this rank's own copy of the data. In
// scatter mode the next batch can be prefetched: its scatter runs while the current step
// computes, into a second set of buffers. Training rows may then be augmented in place.
#pragma once

#include <span>

#include "lockstep/comm/communicator.h"
#include "lockstep/data/augment.h"
#include "lockstep/data/dataset.h"
#include "lockstep/data/partition.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/tensor/tensor.h"
#include "parallel/data_shape.h"
#include "parallel/row_exchange.h"

namespace lockstep::parallel {

// A host tensor [rows, ...row_shape], reusing `cached` when it already has that shape. When
// `staging_for` is a GPU, the memory is page-locked for it, so the copy to the GPU is one DMA.
Tensor& reuse_or_allocate(Tensor& cached, int64_t rows, const Shape& row_shape,
                          const Device& staging_for = Device::cpu());

class LocalBatch {
 public:
  // Ranks hold whole groups of `group` rows of each batch (data::partition). The rows are
  // kept in host memory staged for `device` (page-locked when it is a GPU).
  LocalBatch(comm::Communicator& communicator, InputMode mode, int64_t group, Device device);
  // Waits for a prefetch still under way (every rank started it, so it completes).
  ~LocalBatch();
  LocalBatch(const LocalBatch&) = delete;
  LocalBatch& operator=(const LocalBatch&) = delete;

  // Loads this rank's rows of the global batch whose sample ids are `rows` (the same span on
  // every rank). In scatter mode only rank 0 reads `data`.
  // When these rows were prefetched, it only waits for their scatter.
  void load(const data::Dataset& data, const DataShape& shape, std::span<const int64_t> rows);
  // Scatter mode: starts moving the rows of the batch after the loaded one (rank 0 gathers
  // them now; the scatter proceeds during the step). Every rank must call it alike. Does
  // nothing in sharded mode.
  void prefetch(const data::Dataset& data, const DataShape& shape, std::span<const int64_t> rows);

  // Applies `augmentation` in place to the loaded rows, on the host: row i of this rank is
  // global sample rows[slice().offset + i] of the loaded batch `rows`, in `epoch` of a run
  // seeded `seed`, so a sample is transformed alike whichever rank holds it.
  void augment(const data::Augmentation& augmentation, std::span<const int64_t> rows, uint64_t seed,
               int64_t epoch);

  const Tensor& inputs() const { return current_.inputs; }    // [n_r, ...sample_shape]
  const Tensor& targets() const { return current_.targets; }  // [n_r, ...label_shape]
  const data::Slice& slice() const { return current_.slice; }

 private:
  struct Buffers {
    data::Slice slice;
    Tensor inputs, targets;
    Tensor root_inputs, root_targets;  // rank 0's whole batch, scatter mode only
  };
  // Allocates `b` for `rows` and, on rank 0, gathers the batch into its root buffers.
  void prepare(Buffers& b, const data::Dataset& data, const DataShape& shape,
               std::span<const int64_t> rows);
  void finish_prefetch();

  comm::Communicator& communicator_;
  InputMode mode_;
  int64_t group_;
  Device device_;
  RowExchange exchange_;
  Buffers current_, next_;
  // The prefetch under way: which rows, and the handles of its two scatters.
  bool prefetching_ = false;
  std::span<const int64_t> prefetched_rows_;
  int64_t handles_[2] = {-1, -1};
};

}  // namespace lockstep::parallel
