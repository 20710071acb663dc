// LocalBatch: this rank's rows of a global batch, either scattered from rank 0 (which
// gathers the batch from its data set) or read from this rank's own copy of the data.
#pragma once

#include <span>

#include "lockstep/comm/communicator.h"
#include "lockstep/core/tensor.h"
#include "lockstep/data/dataset.h"
#include "lockstep/data/partition.h"
#include "lockstep/parallel/data_parallel.h"
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

  // Loads this rank's rows of the global batch whose sample ids are `rows` (the same span on
  // every rank). In scatter mode only rank 0 reads `data`.
  void load(const data::Dataset& data, const DataShape& shape, std::span<const int64_t> rows);

  const Tensor& inputs() const { return inputs_; }    // [n_r, ...sample_shape]
  const Tensor& targets() const { return targets_; }  // [n_r, ...label_shape]
  const data::Slice& slice() const { return slice_; }

 private:
  comm::Communicator& communicator_;
  InputMode mode_;
  int64_t group_;
  Device device_;
  RowExchange exchange_;
  data::Slice slice_;
  Tensor inputs_, targets_;
  Tensor root_inputs_, root_targets_;  // rank 0's whole batch, scatter mode only
};

}  // namespace lockstep::parallel
