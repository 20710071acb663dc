// The fast GradientReducer: one backward pass of all this rank's rows, its float grads summed
// over ranks in place, bucket by bucket.
#include <algorithm>
#include <memory>
#include <vector>

#include "lockstep/base/error.h"
#include "parallel/gradient_reducer.h"

namespace lockstep::parallel {

namespace {

class FastReducer final : public GradientReducer {
 public:
  FastReducer(GradientBuckets& buckets, comm::Communicator& communicator)
      : buckets_(buckets), communicator_(communicator) {}

  int64_t pass_rows(int64_t rows) const override { return std::max<int64_t>(rows, 1); }

  void begin_step(int64_t rows) override {
    if (rows > 0) return;
    // No backward will overwrite the last step's grads here: this rank's share is zeros.
    buckets_.zero_grads();
    start_reduction();
  }

  void add_pass() override {
    LOCKSTEP_THROW(
        "fast gradient reducer: expected one backward pass per step (all rows at "
        "once), found a second; micro-batches need the exact reducer");
  }

  void begin_last_pass() override { start_reduction(); }

  void parameters_final(const std::vector<nn::Parameter*>& parameters) override {
    buckets_.parameters_final(parameters);
  }

  void finish() override { buckets_.finish_reduction(); }

 private:
  void start_reduction() {
    buckets_.begin_reduction(communicator_, [this](size_t i, comm::Communicator& c) {
      Tensor& grads = buckets_.grads(i);
      return c.start_allreduce_sum(grads.data(), grads.numel());
    });
  }

  GradientBuckets& buckets_;
  comm::Communicator& communicator_;
};

}  // namespace

std::unique_ptr<GradientReducer> make_fast_reducer(GradientBuckets& buckets,
                                                   comm::Communicator& communicator) {
  return std::make_unique<FastReducer>(buckets, communicator);
}

}  // namespace lockstep::parallel
