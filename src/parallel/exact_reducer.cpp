// The exact GradientReducer: each micro-batch pass's grads added into double accumulators (one
// per bucket, on the grads' device) parameter by parameter as backward finishes them, the
// accumulators allreduced in double, rounded to float once.
#include <memory>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/tensor/storage.h"
#include "parallel/gradient_reducer.h"

namespace lockstep::parallel {

namespace {

class ExactReducer final : public GradientReducer {
 public:
  ExactReducer(GradientBuckets& buckets, comm::Communicator& communicator, int64_t micro_batch)
      : buckets_(buckets),
        communicator_(communicator),
        micro_batch_(micro_batch),
        backend_(backend::backend_for(buckets.device())) {
    LOCKSTEP_CHECK(
        micro_batch > 0,
        "exact gradient reducer: expected a micro-batch of at least 1 row, found " << micro_batch);
    for (size_t i = 0; i < buckets_.size(); ++i) {
      const int64_t n = elements(i);
      sums_.push_back(
          std::make_unique<Storage>(static_cast<size_t>(n) * sizeof(double), buckets_.device()));
      if (n > 0) backend_.fill_double(sums(i), n, 0.0);
    }
  }

  int64_t pass_rows(int64_t /*rows*/) const override { return micro_batch_; }

  // A rank with no rows runs no pass: its cleared accumulators are its share.
  void begin_step(int64_t /*rows*/) override {
    for (size_t i = 0; i < buckets_.size(); ++i) backend_.fill_double(sums(i), elements(i), 0.0);
    buckets_.begin_reduction(communicator_, [this](size_t i, comm::Communicator& c) {
      return c.start_allreduce_sum(sums(i), elements(i));
    });
  }

  void pass_grads_done(const std::vector<nn::Parameter*>& parameters) override {
    for (const nn::Parameter* p : parameters) {
      const GradientBuckets::Slot slot = buckets_.slot_of(p);
      backend_.accumulate_double(p->grad.data(), sums(slot.bucket) + slot.offset, p->grad.numel());
    }
  }

  void parameters_final(const std::vector<nn::Parameter*>& parameters) override {
    buckets_.parameters_final(parameters);
  }

  void finish() override {
    buckets_.finish_reduction([this](size_t i) {
      backend_.round_to_float(sums(i), buckets_.grads(i).data(), elements(i));
    });
  }

 private:
  int64_t elements(size_t bucket) { return buckets_.grads(bucket).numel(); }
  double* sums(size_t bucket) { return static_cast<double*>(sums_[bucket]->data()); }

  GradientBuckets& buckets_;
  comm::Communicator& communicator_;
  int64_t micro_batch_;
  backend::Backend& backend_;
  std::vector<std::unique_ptr<Storage>> sums_;  // per bucket: [elements] doubles
};

}  // namespace

std::unique_ptr<GradientReducer> make_exact_reducer(GradientBuckets& buckets,
                                                    comm::Communicator& communicator,
                                                    int64_t micro_batch) {
  return std::make_unique<ExactReducer>(buckets, communicator, micro_batch);
}

}  // namespace lockstep::parallel
