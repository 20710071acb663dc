// GradientReducer: how a training step turns every rank's gradients into their sum over the
// global batch, on the fusion buckets. Two choices: exact (micro-batches, double sums) and
// fast (all rows at once, float sums); DataParallelOptions::micro_batch picks one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/nn/parameter.h"
#include "parallel/gradient_buckets.h"

namespace lockstep::parallel {

// A training step drives a reducer so:
//   begin_step(rows)             // this rank holds `rows` rows of the global batch
//   forward and loss over passes of pass_rows(rows) rows, then backward layer by layer:
//     after each pass through a layer:  pass_grads_done(its parameters)
//     after its last pass:              parameters_final(its parameters)
//   finish()                     // now every grad is its sum over all ranks' rows
// The reducer decides how many rows a pass takes and what a rank with no rows contributes,
// so the step needs no mode of its own. Ranks may run different numbers of passes, but every
// rank walks backward through every layer (one with no rows over no passes), so a bucket's
// allreduce starts at the same point of backward on every rank: between BatchNorm's gathers on
// the same communicator, the collectives stay in one order.
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;

  // Rows of one forward and backward pass when this rank holds `rows` rows of a step.
  virtual int64_t pass_rows(int64_t rows) const = 0;
  // Starts a step. A rank with no rows runs no pass: its share of the sum is zeros, which
  // finish starts sending.
  virtual void begin_step(int64_t rows) = 0;
  // These parameters' grads hold one pass's share (their layer's backward of that pass is
  // done): the share joins the step's total.
  virtual void pass_grads_done(const std::vector<nn::Parameter*>& parameters) = 0;
  // These parameters' grads are final for the step (their layer's last pass is done): a
  // bucket's allreduce starts as soon as all its parameters are, while backward goes on below.
  virtual void parameters_final(const std::vector<nn::Parameter*>& parameters) = 0;
  // Waits for every allreduce; then each grad holds the step's sum over all ranks' rows.
  virtual void finish() = 0;
};

// Exact: passes of `micro_batch` rows (> 0) at fixed offsets, so that every row meets the
// arithmetic it meets in one process; each pass's float grads are added into double
// accumulators (parameter by parameter as backward finishes them), the ranks sum the
// accumulators in double and the total is rounded to float once. Float values summed in double are
// exact in practice, so the total does not depend on how the micro-batches were spread over ranks
// or in which order the ranks' sums are added: N ranks reach one process's weights bit for bit.
std::unique_ptr<GradientReducer> make_exact_reducer(GradientBuckets& buckets,
                                                    comm::Communicator& communicator,
                                                    int64_t micro_batch);

// Fast: one pass of all this rank's rows; the float grads are summed over ranks in place.
// No accumulators (half the reduced bytes, no extra memory); the rounding of the sum then
// depends on how rows were spread over ranks.
std::unique_ptr<GradientReducer> make_fast_reducer(GradientBuckets& buckets,
                                                   comm::Communicator& communicator);

// The exact reducer when `micro_batch` > 0 (DataParallelOptions::micro_batch), else the fast.
inline std::unique_ptr<GradientReducer> make_gradient_reducer(GradientBuckets& buckets,
                                                              comm::Communicator& communicator,
                                                              int64_t micro_batch) {
  if (micro_batch > 0) return make_exact_reducer(buckets, communicator, micro_batch);
  return make_fast_reducer(buckets, communicator);
}

}  // namespace lockstep::parallel
