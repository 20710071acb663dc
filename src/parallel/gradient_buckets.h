// GradientBuckets: gradients packed into a few contiguous buffers ("fusion buckets", as in
// Horovod and PyTorch DDP) so that one allreduce moves many parameters at once. Each
// parameter's grad becomes a view into its bucket, so backward writes straight into it.
// A step may run backward several times (micro-batches): each pass is added into a double
// accumulator, and the accumulators are what the ranks sum. Float values summed in double
// are exact in practice, so the total does not depend on how the micro-batches were spread
// over ranks or in which order the reduction adds them.
#pragma once

#include <cstdint>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/core/device.h"
#include "lockstep/core/tensor.h"
#include "lockstep/nn/parameter.h"

namespace lockstep::parallel {

class GradientBuckets {
 public:
  // Packs the parameters in reverse order (the order backward finalises them) into buckets
  // of at most `bucket_bytes` (a larger parameter gets a bucket of its own) on `device`, and
  // points every parameter's grad at its slice. Every rank builds the same layout.
  GradientBuckets(const std::vector<nn::Parameter*>& parameters, int64_t bucket_bytes,
                  Device device);

  // Zeroes the accumulators (start of a step).
  void clear_accumulators();
  // Adds the gradients of the last backward pass into the accumulators.
  void accumulate();
  // Sums the accumulators across the ranks of `communicator` in bucket order, then writes
  // the totals, rounded to float, into the parameters' grads.
  void allreduce_accumulated(comm::Communicator& communicator);
  // Sums the grads of the last backward pass across ranks in float, in place (no
  // accumulators: faster, but the rounding depends on how rows were spread over ranks).
  void allreduce_grads(comm::Communicator& communicator);

  size_t size() const { return buckets_.size(); }
  int64_t total_elements() const { return total_elements_; }
  // Element counts of the buckets, in allreduce order.
  std::vector<int64_t> bucket_elements() const;

 private:
  struct Bucket {
    Tensor flat;                       // [elements]: the grads of one backward pass
    std::vector<double> accumulator;   // [elements]: their sum over the step's passes
    std::vector<nn::Parameter*> parameters;
  };
  std::vector<Bucket> buckets_;
  int64_t total_elements_ = 0;
};

}  // namespace lockstep::parallel
