// GradientBuckets: gradients packed into a few contiguous buffers ("fusion buckets", as in
// Horovod and PyTorch DDP), and the schedule that starts each bucket's allreduce as soon as
// backward has finished it. What a bucket's allreduce sums is a GradientReducer's choice.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "lockstep/base/device.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/nn/parameter.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::parallel {

// One allreduce moves many parameters at once. Each parameter's grad is a view into its
// bucket, so backward writes straight into the buffer the allreduce sends (no copy in or out);
// its value is a view into a buffer of the same layout, so that the optimizer updates each
// bucket's parameters in one fused call.
//
// Overlap: during backward the engine reports each layer whose grads are final
// (parameters_final); a bucket's allreduce starts as soon as all its parameters are final,
// while backward goes on with the layers below. Buckets start in bucket order (the
// reverse of the parameter order, which is the order backward finishes them), the same on
// every rank, so that the ranks' collectives match.
class GradientBuckets {
 public:
  // Packs the parameters in reverse order (the order backward finalises them) into buckets
  // of at most `bucket_bytes` (a larger parameter gets a bucket of its own) on `device`, and
  // points every parameter's grad and value (copied over) at its slice. Every rank builds the
  // same layout.
  GradientBuckets(const std::vector<nn::Parameter*>& parameters, int64_t bucket_bytes,
                  Device device);
  ~GradientBuckets();

  const Device& device() const { return device_; }
  size_t size() const { return buckets_.size(); }
  int64_t total_elements() const { return total_elements_; }
  // Element counts of the buckets, in allreduce order.
  std::vector<int64_t> bucket_elements() const;
  // The grads of bucket `index`'s parameters, end to end: [elements] floats on device().
  Tensor& grads(size_t index) { return buckets_[index].flat; }
  // Sets every parameter's grad to zero.
  void zero_grads();
  // Where a parameter's grad lies: its bucket and its first element in the bucket.
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;
  };
  Slot slot_of(const nn::Parameter* parameter) const;

  // Starts the allreduce of bucket `index` on `communicator` and returns its handle.
  using StartBucket = std::function<int64_t(size_t index, comm::Communicator& communicator)>;
  // Runs after the allreduce of bucket `index` has finished.
  using BucketDone = std::function<void(size_t index)>;
  // One step's reduction, overlapped with its backward:
  //   begin_reduction(communicator, start);  // before backward
  //   parameters_final(...)                  // after each layer's backward
  //   finish_reduction(done);                // after it
  void begin_reduction(comm::Communicator& communicator, StartBucket start);
  // These parameters' grads are final for this step: starts every bucket now complete.
  void parameters_final(const std::vector<nn::Parameter*>& parameters);
  // Starts the buckets not started yet (all of them on a rank that ran no backward pass),
  // then waits for each allreduce in bucket order and calls `done` (when set) on it.
  void finish_reduction(const BucketDone& done = {});

  // Buckets whose allreduce started before finish_reduction in the last reduction: those
  // overlapped with backward.
  size_t started_early() const { return started_early_; }

 private:
  struct Bucket {
    Tensor flat;  // [elements]: the grads of one backward pass
    std::vector<nn::Parameter*> parameters;
    int64_t handle = -1;  // of the allreduce under way
    size_t waiting = 0;   // parameters not final yet in this reduction
  };
  void start(size_t index);
  // Starts the buckets from next_ on whose parameters are all final, in order.
  void start_ready();

  Device device_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const nn::Parameter*, Slot> slot_of_;
  int64_t total_elements_ = 0;
  comm::Communicator* communicator_ = nullptr;  // set during a reduction
  StartBucket start_;                           // likewise
  size_t next_ = 0;                             // the next bucket to start
  size_t started_early_ = 0;
};

}  // namespace lockstep::parallel
