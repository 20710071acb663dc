// DataShape: what every rank must know of a data set before its batches move — the sample
// count and the per-sample input and label shapes — agreed across ranks.
#pragma once

#include <cstdint>

#include "lockstep/base/shape.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/data/dataset.h"
#include "lockstep/parallel/data_parallel.h"

namespace lockstep::parallel {

struct DataShape {
  int64_t samples = 0;
  Shape sample_shape;  // [1, 28, 28]
  Shape label_shape;   // [] for class ids, [k] for target rows

  int64_t sample_elements() const;
  int64_t label_elements() const;
  bool operator==(const DataShape&) const = default;
};

// The shape of a data set held in this process (samples 0 when it has no tensors).
DataShape shape_of(const data::Dataset& data);

// Rank 0's `root_shape` on every rank (other ranks' argument is ignored).
DataShape broadcast_data_shape(comm::Communicator& communicator, const DataShape& root_shape);

// Scatter mode: rank 0's data set decides and is broadcast (other ranks' `data` is ignored).
// Sharded mode: every rank holds its own copy; all must agree, else an Error on every rank
// naming the ranks that differ.
DataShape agree_on_data_shape(comm::Communicator& communicator, const data::Dataset& data,
                              InputMode mode);

}  // namespace lockstep::parallel
