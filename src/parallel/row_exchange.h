// RowExchange: moves a block of rows [rows, row_elements] between rank 0 and every rank by
// the partition arithmetic (rank r gets rows [o_r, o_r + n_r)); counts and displacements are
// computed once per block shape and reused while the shape stays the same.
#pragma once

#include <cstdint>

#include "lockstep/comm/communicator.h"
#include "lockstep/data/partition.h"

namespace lockstep::parallel {

class RowExchange {
 public:
  // Ranks hold whole groups of `group` rows (data::partition with that group size).
  explicit RowExchange(comm::Communicator& communicator, int64_t group = 1)
      : communicator_(communicator), group_(group) {}

  // Rank 0's `root_block` [rows, row_elements] -> this rank's rows into `local`
  // (n_r * row_elements floats). `root_block` is read on rank 0 only.
  void scatter(const float* root_block, int64_t rows, int64_t row_elements, float* local);
  // The same, non-blocking: returns the communicator's handle; `local` is filled (and
  // `root_block` free again) after communicator.finish(handle).
  int64_t start_scatter(const float* root_block, int64_t rows, int64_t row_elements, float* local);
  // The reverse: every rank's `local` rows land in their place of rank 0's `root_block`.
  void gather(const float* local, int64_t rows, int64_t row_elements, float* root_block);

 private:
  const data::CountsAndDisplacements& layout(int64_t rows, int64_t row_elements);

  comm::Communicator& communicator_;
  int64_t group_;
  int64_t rows_ = -1, row_elements_ = -1;
  data::CountsAndDisplacements layout_;
};

}  // namespace lockstep::parallel
