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
//   begin_step(rows)                      // this rank holds `rows` rows of the global batch
//   for each pass of pass_rows(rows) rows: forward and loss, then
//     if not the last pass:  backward; add_pass()
//     the last pass:         begin_last_pass(); backward, parameters_final after each layer
//   finish()                              // now every grad is its sum over all ranks' rows
// The reducer decides how many rows a pass takes and what a rank with no rows contributes,
// so the step needs no mode of its own. Ranks may run different numbers of passes (a rank
// with no rows runs none); their collectives still match, bucket by bucket.
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;

  // Rows of one forward and backward pass when this rank holds `rows` rows of a step.
  virtual int64_t pass_rows(int64_t rows) const = 0;
  // Starts a step. A rank with no rows runs no pass: its share of the sum is zeros, which
  // finish starts sending.
  virtual void begin_step(int64_t rows) = 0;
  // After a backward pass other than the step's last: its grads join the step's total.
  virtual void add_pass() = 0;
  // Before the step's last backward pass: from now on a bucket's allreduce starts as soon as
  // parameters_final has reported all its parameters, while backward goes on below.
  virtual void begin_last_pass() = 0;
  // These parameters' grads are final for the step (their layer's last backward is done).
  virtual void parameters_final(const std::vector<nn::Parameter*>& parameters) = 0;
  // Waits for every allreduce; then each grad holds the step's sum over all ranks' rows.
  virtual void finish() = 0;
};

// Exact: passes of `micro_batch` rows (> 0) at fixed offsets, so that every row meets the
// arithmetic it meets in one process; each pass's float grads are added into double
// accumulators, the ranks sum the accumulators in double and the total is rounded to float
// once. Float values summed in double are exact in practice, so the total does not depend on
// how the micro-batches were spread over ranks or in which order the ranks' sums are added:
// N ranks reach one process's weights bit for bit.
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
