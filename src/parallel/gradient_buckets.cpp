// Fusion buckets: layout in reverse parameter order, grads as views, one allreduce a bucket.
#include "parallel/gradient_buckets.h"

#include <algorithm>
#include <string>

#include "lockstep/core/error.h"

namespace lockstep::parallel {

namespace {

// What a timeout report calls bucket `index` (counted from 0) of `count`.
std::string bucket_label(size_t index, size_t count) {
  return "gradient bucket " + std::to_string(index + 1) + " of " + std::to_string(count);
}

}  // namespace

GradientBuckets::GradientBuckets(const std::vector<nn::Parameter*>& parameters,
                                 int64_t bucket_bytes, Device device) {
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
    LOCKSTEP_CHECK(device.is_cpu(), "DataParallel: gradient buckets on "
                                        << device.str() << " are not supported yet");
    Bucket bucket{Tensor::zeros({elements}, device),
                  std::vector<double>(static_cast<size_t>(elements), 0.0), std::move(group)};
    int64_t offset = 0;
    for (nn::Parameter* p : bucket.parameters) {
      const int64_t n = p->value.numel();
      p->grad = bucket.flat.rows(offset, offset + n).reshape(p->value.shape());
      offset += n;
    }
    total_elements_ += elements;
    buckets_.push_back(std::move(bucket));
  }
}

void GradientBuckets::clear_accumulators() {
  for (Bucket& bucket : buckets_) std::fill(bucket.accumulator.begin(), bucket.accumulator.end(), 0.0);
}

void GradientBuckets::accumulate() {
  for (Bucket& bucket : buckets_) {
    const float* grads = bucket.flat.data();
    double* sums = bucket.accumulator.data();
    const auto n = static_cast<size_t>(bucket.flat.numel());
    for (size_t i = 0; i < n; ++i) sums[i] += grads[i];
  }
}

void GradientBuckets::allreduce_grads(comm::Communicator& communicator) {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const comm::ScopedLabel label(communicator, bucket_label(b, buckets_.size()));
    communicator.allreduce_sum(buckets_[b].flat.data(), buckets_[b].flat.numel());
  }
}

void GradientBuckets::allreduce_accumulated(comm::Communicator& communicator) {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    const comm::ScopedLabel label(communicator, bucket_label(b, buckets_.size()));
    communicator.allreduce_sum(bucket.accumulator.data(), bucket.flat.numel());
    float* grads = bucket.flat.data();
    const auto n = static_cast<size_t>(bucket.flat.numel());
    for (size_t i = 0; i < n; ++i) grads[i] = static_cast<float>(bucket.accumulator[i]);
  }
}

std::vector<int64_t> GradientBuckets::bucket_elements() const {
  std::vector<int64_t> elements;
  for (const Bucket& bucket : buckets_) elements.push_back(bucket.flat.numel());
  return elements;
}

}  // namespace lockstep::parallel
