// Tensor: construction, views, copies across devices and checked element access.
#include "lockstep/tensor/tensor.h"

#include <cstring>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"

namespace lockstep {

Tensor::Tensor() : shape_{0} {}

Tensor::Tensor(std::shared_ptr<Storage> storage, int64_t offset, Shape shape)
    : storage_(std::move(storage)), offset_(offset), shape_(std::move(shape)) {
  numel_ = shape_numel(shape_);
}

Tensor Tensor::empty(const Shape& shape, Device device) {
  const int64_t n = shape_numel(shape);
  return Tensor(std::make_shared<Storage>(static_cast<size_t>(n) * sizeof(float), device), 0,
                shape);
}

Tensor Tensor::empty_pinned(const Shape& shape, Device transfer_device) {
  const int64_t n = shape_numel(shape);
  return Tensor(Storage::pinned(static_cast<size_t>(n) * sizeof(float), transfer_device), 0, shape);
}

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.0f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, std::span<const float> values) {
  Tensor t = empty(shape);
  LOCKSTEP_CHECK(static_cast<int64_t>(values.size()) == t.numel(),
                 "Tensor::from_vector: shape " << to_string(shape) << " needs " << t.numel()
                                               << " values, found " << values.size());
  if (!values.empty()) std::memcpy(t.data(), values.data(), t.bytes());
  return t;
}

int64_t Tensor::size(int64_t d) const {
  const int64_t rank = dim();
  const int64_t axis = d < 0 ? d + rank : d;
  LOCKSTEP_CHECK(axis >= 0 && axis < rank, "Tensor::size: dimension "
                                               << d << " is out of range for shape "
                                               << to_string(shape_));
  return shape_[static_cast<size_t>(axis)];
}

const Device& Tensor::device() const {
  static const Device kCpu = Device::cpu();
  return storage_ ? storage_->device() : kCpu;
}

float* Tensor::data() {
  return storage_ ? static_cast<float*>(storage_->data()) + offset_ : nullptr;
}

const float* Tensor::data() const {
  return storage_ ? static_cast<const float*>(storage_->data()) + offset_ : nullptr;
}

int64_t Tensor::flat_index(std::initializer_list<int64_t> index) const {
  LOCKSTEP_CHECK(defined(), "Tensor::at: the tensor is undefined");
  LOCKSTEP_CHECK(device().is_cpu(),
                 "Tensor::at: element access needs a CPU tensor, found " << device().str());
  LOCKSTEP_CHECK(static_cast<int64_t>(index.size()) == dim(),
                 "Tensor::at: " << index.size() << " indices for shape " << to_string(shape_));
  int64_t flat = 0;
  size_t d = 0;
  for (int64_t i : index) {
    LOCKSTEP_CHECK(i >= 0 && i < shape_[d], "Tensor::at: index " << i << " in dimension " << d
                                                                 << " is out of range for shape "
                                                                 << to_string(shape_));
    flat = flat * shape_[d] + i;
    ++d;
  }
  return flat;
}

float& Tensor::at(std::initializer_list<int64_t> index) { return data()[flat_index(index)]; }

float Tensor::at(std::initializer_list<int64_t> index) const { return data()[flat_index(index)]; }

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int64_t known = 1;
  int inferred = -1;
  for (size_t d = 0; d < resolved.size(); ++d) {
    if (resolved[d] == -1) {
      LOCKSTEP_CHECK(inferred < 0, "Tensor::reshape: more than one -1 in " << to_string(shape));
      inferred = static_cast<int>(d);
    } else {
      LOCKSTEP_CHECK(resolved[d] >= 0, "Tensor::reshape: negative extent in " << to_string(shape));
      known *= resolved[d];
    }
  }
  if (inferred >= 0) {
    LOCKSTEP_CHECK(known > 0 && numel_ % known == 0, "Tensor::reshape: cannot view shape "
                                                         << to_string(shape_) << " as "
                                                         << to_string(shape));
    resolved[static_cast<size_t>(inferred)] = numel_ / known;
  }
  LOCKSTEP_CHECK(shape_numel(resolved) == numel_, "Tensor::reshape: shape "
                                                      << to_string(shape_) << " has " << numel_
                                                      << " elements, " << to_string(shape)
                                                      << " has " << shape_numel(resolved));
  return Tensor(storage_, offset_, resolved);
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  LOCKSTEP_CHECK(dim() >= 1,
                 "Tensor::rows: needs at least one dimension, shape is " << to_string(shape_));
  LOCKSTEP_CHECK(0 <= begin && begin <= end && end <= shape_[0],
                 "Tensor::rows: range [" << begin << ", " << end << ") is outside the " << shape_[0]
                                         << " rows of shape " << to_string(shape_));
  Shape view_shape = shape_;
  view_shape[0] = end - begin;
  const int64_t row_elements = shape_[0] ? numel_ / shape_[0] : 0;
  return Tensor(storage_, offset_ + begin * row_elements, view_shape);
}

Tensor Tensor::clone() const { return to(device()); }

Tensor Tensor::to(Device target) const {
  Tensor out = empty(shape_, target);
  out.copy_from(*this);
  return out;
}

void Tensor::copy_from(const Tensor& source) {
  LOCKSTEP_CHECK(source.numel() == numel_, "Tensor::copy_from: source shape "
                                               << to_string(source.shape()) << " into shape "
                                               << to_string(shape_) << ": element counts differ");
  if (numel_ == 0) return;
  const Device& from = source.device();
  const Device& to = device();
  if (from.is_cpu() && to.is_cpu()) {
    std::memmove(data(), source.data(), bytes());
  } else if (from.is_cpu()) {
    backend::backend_for(to).copy_from_host(data(), source.data(), bytes());
  } else if (to.is_cpu()) {
    backend::backend_for(from).copy_to_host(data(), source.data(), bytes());
  } else {
    LOCKSTEP_CHECK(from == to, "Tensor::copy_from: copies between "
                                   << from.str() << " and " << to.str() << " are not supported");
    backend::backend_for(to).copy(data(), source.data(), bytes());
  }
}

void Tensor::fill(float value) {
  if (numel_ == 0) return;
  backend::backend_for(device()).fill(data(), numel_, value);
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> values(static_cast<size_t>(numel_));
  if (numel_ == 0) return values;
  if (device().is_cpu()) {
    std::memcpy(values.data(), data(), bytes());
  } else {
    backend::backend_for(device()).copy_to_host(values.data(), data(), bytes());
  }
  return values;
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  LOCKSTEP_CHECK(a.shape() == b.shape(), what << ": shapes differ, " << to_string(a.shape())
                                              << " and " << to_string(b.shape()));
}

void check_same_device(const Tensor& a, const Tensor& b, const char* what) {
  LOCKSTEP_CHECK(a.device() == b.device(), what << ": tensors are on different devices, "
                                                << a.device().str() << " and " << b.device().str());
}

}  // namespace lockstep
