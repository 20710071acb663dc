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
    // No backward pass will overwrite the last step's grads here: this rank's share is zeros.
    if (rows == 0) buckets_.zero_grads();
    buckets_.begin_reduction(communicator_, [this](size_t i, comm::Communicator& c) {
      Tensor& grads = buckets_.grads(i);
      return c.start_allreduce_sum(grads.data(), grads.numel());
    });
  }

  // One pass (pass_rows) is this rank's whole share: the grads are summed where backward
  // wrote them.
  void pass_grads_done(const std::vector<nn::Parameter*>& /*parameters*/) override {}

  void parameters_final(const std::vector<nn::Parameter*>& parameters) override {
    buckets_.parameters_final(parameters);
  }

  void finish() override { buckets_.finish_reduction(); }

 private:
  GradientBuckets& buckets_;
  comm::Communicator& communicator_;
};

}  // namespace

std::unique_ptr<GradientReducer> make_fast_reducer(GradientBuckets& buckets,
                                                   comm::Communicator& communicator) {
  return std::make_unique<FastReducer>(buckets, communicator);
}

}  // namespace lockstep::parallel
