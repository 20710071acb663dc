// GradientBuckets: gradients packed into a few contiguous buffers ("fusion buckets", as in
// Horovod and PyTorch DDP) so that one allreduce moves many parameters at once. Each
// parameter's grad becomes a view into its bucket, so backward writes straight into it (no
// copy in or out); its value becomes a view into a buffer of the same layout, so that the
// optimizer updates each bucket's parameters in one fused call. A step may run backward
// several times (micro-batches): each pass is added into a double accumulator, and the
// accumulators are what the ranks sum. Float values summed in double are exact in practice,
// so the total does not depend on how the micro-batches were spread over ranks or in which
// order the reduction adds them.
//
// Overlap: during the step's last backward pass the engine reports each layer whose grads are
// final (parameters_final); a bucket's allreduce starts as soon as all its parameters are
// final, while backward goes on with the layers below. Buckets start in bucket order (the
// reverse of the parameter order, which is the order backward finishes them), the same on
// every rank.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/base/device.h"
#include "lockstep/tensor/storage.h"
#include "lockstep/tensor/tensor.h"
#include "lockstep/nn/parameter.h"

namespace lockstep::parallel {

class GradientBuckets {
 public:
  // Packs the parameters in reverse order (the order backward finalises them) into buckets
  // of at most `bucket_bytes` (a larger parameter gets a bucket of its own) on `device`, and
  // points every parameter's grad and value (copied over) at its slice. Every rank builds the
  // same layout.
  GradientBuckets(const std::vector<nn::Parameter*>& parameters, int64_t bucket_bytes,
                  Device device);
  ~GradientBuckets();

  // Zeroes the accumulators (start of a step that accumulates).
  void clear_accumulators();
  // Adds the gradients of the last backward pass into the accumulators (every bucket).
  void accumulate();

  // What a reduction sums across ranks.
  enum class Sum {
    // The grads of the last backward pass, in float, in place (faster; the rounding then
    // depends on how rows were spread over ranks).
    kLastPass,
    // The accumulators in double, every pass already added; totals rounded into the grads.
    kAccumulators,
    // As kAccumulators, after adding each bucket's last pass (the one being overlapped).
    kAccumulatorsAndLastPass,
  };
  // One step's reduction, overlapped with its last backward pass:
  //   begin_reduction(communicator, sum);  // before the last backward
  //   parameters_final(...)                // after each layer's backward
  //   finish_reduction();                  // after it
  void begin_reduction(comm::Communicator& communicator, Sum sum);
  // These parameters' grads are final for this step: starts every bucket now complete.
  void parameters_final(const std::vector<nn::Parameter*>& parameters);
  // Starts the buckets not started yet (a rank that ran no backward pass), waits for every
  // allreduce and writes the totals into the grads.
  void finish_reduction();

  // begin_reduction + finish_reduction with nothing in between.
  void allreduce_accumulated(comm::Communicator& communicator);
  void allreduce_grads(comm::Communicator& communicator);

  size_t size() const { return buckets_.size(); }
  int64_t total_elements() const { return total_elements_; }
  // Element counts of the buckets, in allreduce order.
  std::vector<int64_t> bucket_elements() const;
  // Buckets whose allreduce started before finish_reduction in the last reduction: those
  // overlapped with backward.
  size_t started_early() const { return started_early_; }

 private:
  struct Bucket {
    Tensor flat;                          // [elements]: the grads of one backward pass
    std::unique_ptr<Storage> accumulator;  // [elements] doubles: their sum over the passes
    std::vector<nn::Parameter*> parameters;
    int64_t handle = -1;  // of the allreduce under way
    size_t waiting = 0;   // parameters not final yet in this reduction
  };
  double* sums(Bucket& bucket) { return static_cast<double*>(bucket.accumulator->data()); }
  void start(size_t index);
  // Starts the buckets from next_ on whose parameters are all final, in order.
  void start_ready();

  Device device_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const nn::Parameter*, size_t> bucket_of_;
  int64_t total_elements_ = 0;
  comm::Communicator* communicator_ = nullptr;  // set during a reduction
  Sum sum_ = Sum::kLastPass;
  size_t next_ = 0;  // the next bucket to start
  size_t started_early_ = 0;
};

}  // namespace lockstep::parallel
