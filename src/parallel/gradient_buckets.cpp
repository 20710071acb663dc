// Fusion buckets: layout in reverse parameter order, grads and values as views, and one
// allreduce a bucket, started as soon as the bucket is final.
#include "parallel/gradient_buckets.h"

#include <algorithm>
#include <string>
#include <utility>

#include "lockstep/base/error.h"
#include "tensor/pack.h"

namespace lockstep::parallel {

namespace {

// What a timeout report calls bucket `index` (counted from 0) of `count`.
std::string bucket_label(size_t index, size_t count) {
  return "gradient bucket " + std::to_string(index + 1) + " of " + std::to_string(count);
}

}  // namespace

GradientBuckets::GradientBuckets(const std::vector<nn::Parameter*>& parameters,
                                 int64_t bucket_bytes, Device device)
    : device_(device) {
  LOCKSTEP_CHECK(bucket_bytes > 0,
                 "DataParallel: bucket size must be positive, found " << bucket_bytes << " bytes");
  const int64_t bucket_elements = std::max<int64_t>(1, bucket_bytes / int64_t{sizeof(float)});
  // Group parameters (last layer first) until a bucket would exceed its size.
  std::vector<std::vector<nn::Parameter*>> groups;
  int64_t filled = 0;
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    const int64_t n = (*it)->value.numel();
    if (groups.empty() || (filled > 0 && filled + n > bucket_elements)) {
      groups.emplace_back();
      filled = 0;
    }
    groups.back().push_back(*it);
    filled += n;
  }
  for (std::vector<nn::Parameter*>& group : groups) {
    int64_t elements = 0;
    for (nn::Parameter* p : group) elements += p->value.numel();
    Bucket bucket;
    bucket.flat = Tensor::zeros({elements}, device_);
    bucket.parameters = std::move(group);
    // The values in the grads' layout: the optimizer then updates a bucket in one fused call.
    std::vector<Tensor*> values;
    for (nn::Parameter* p : bucket.parameters) values.push_back(&p->value);
    pack_end_to_end(values, device_);
    int64_t offset = 0;
    for (nn::Parameter* p : bucket.parameters) {
      const int64_t n = p->value.numel();
      p->grad = bucket.flat.rows(offset, offset + n).reshape(p->value.shape());
      slot_of_[p] = {buckets_.size(), offset};
      offset += n;
    }
    total_elements_ += elements;
    buckets_.push_back(std::move(bucket));
  }
}

GradientBuckets::~GradientBuckets() = default;

void GradientBuckets::zero_grads() {
  for (Bucket& bucket : buckets_) bucket.flat.fill(0.0f);
}

GradientBuckets::Slot GradientBuckets::slot_of(const nn::Parameter* parameter) const {
  const auto it = slot_of_.find(parameter);
  LOCKSTEP_CHECK(it != slot_of_.end(),
                 "GradientBuckets: parameter " << parameter->name << " is in no bucket");
  return it->second;
}

void GradientBuckets::begin_reduction(comm::Communicator& communicator, StartBucket start) {
  LOCKSTEP_CHECK(communicator_ == nullptr,
                 "GradientBuckets: a reduction is already under way (finish it first)");
  LOCKSTEP_CHECK(start != nullptr, "GradientBuckets::begin_reduction: no way to start a bucket");
  communicator_ = &communicator;
  start_ = std::move(start);
  next_ = 0;
  started_early_ = 0;
  for (Bucket& bucket : buckets_) {
    bucket.handle = -1;
    bucket.waiting = bucket.parameters.size();
  }
}

void GradientBuckets::parameters_final(const std::vector<nn::Parameter*>& parameters) {
  LOCKSTEP_CHECK(communicator_ != nullptr,
                 "GradientBuckets::parameters_final: no reduction under way");
  for (const nn::Parameter* p : parameters) {
    Bucket& bucket = buckets_[slot_of(p).bucket];
    LOCKSTEP_CHECK(bucket.waiting > 0,
                   "GradientBuckets: parameter " << p->name << " reported final twice in one step");
    --bucket.waiting;
  }
  const size_t before = next_;
  start_ready();
  started_early_ += next_ - before;
  communicator_->progress();
}

void GradientBuckets::start_ready() {
  while (next_ < buckets_.size() && buckets_[next_].waiting == 0) start(next_++);
}

void GradientBuckets::start(size_t index) {
  const comm::ScopedLabel label(*communicator_, bucket_label(index, buckets_.size()));
  buckets_[index].handle = start_(index, *communicator_);
}

void GradientBuckets::finish_reduction(const BucketDone& done) {
  LOCKSTEP_CHECK(communicator_ != nullptr,
                 "GradientBuckets::finish_reduction: no reduction under way");
  while (next_ < buckets_.size()) start(next_++);
  comm::Communicator& communicator = *communicator_;
  communicator_ = nullptr;  // also when a wait below throws: the next step starts afresh
  start_ = nullptr;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    communicator.finish(buckets_[i].handle);
    if (done) done(i);
  }
}

std::vector<int64_t> GradientBuckets::bucket_elements() const {
  std::vector<int64_t> elements;
  for (const Bucket& bucket : buckets_) elements.push_back(bucket.flat.numel());
  return elements;
}

}  // namespace lockstep::parallel
