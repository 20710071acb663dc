// Tensor: a float32 array with a shape, on a device, viewing a shared Storage.
// Tensors are always contiguous (row-major); views (reshape, rows) share storage.
// Copying a Tensor object is cheap and aliases the same data; clone() copies the data.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "lockstep/base/device.h"
#include "lockstep/base/shape.h"
#include "lockstep/tensor/storage.h"

namespace lockstep {

class Tensor {
 public:
  // An undefined tensor: no storage, shape [0].
  Tensor();

  // Uninitialised memory of `shape` on `device`.
  static Tensor empty(const Shape& shape, Device device = Device::cpu());
  // Uninitialised host memory (device() is the CPU) that `transfer_device` copies to and
  // from directly: page-locked for a GPU, so that staging a batch costs one DMA.
  static Tensor empty_pinned(const Shape& shape, Device transfer_device);
  static Tensor zeros(const Shape& shape, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  // A CPU tensor holding `values`; their count must equal the shape's element count.
  static Tensor from_vector(const Shape& shape, std::span<const float> values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  // Extent of dimension `d`; negative `d` counts from the end.
  int64_t size(int64_t d) const;
  int64_t numel() const { return numel_; }
  size_t bytes() const { return static_cast<size_t>(numel_) * sizeof(float); }
  const Device& device() const;

  // Raw pointer to the first element, in the memory of device().
  float* data();
  const float* data() const;

  // Checked element access on CPU tensors (index count and bounds are verified).
  float& at(std::initializer_list<int64_t> index);
  float at(std::initializer_list<int64_t> index) const;

  // A view with another shape and the same element count; one extent may be -1.
  Tensor reshape(const Shape& shape) const;
  // A view of rows [begin, end) along dimension 0.
  Tensor rows(int64_t begin, int64_t end) const;

  // A new tensor with a copy of the data (same device).
  Tensor clone() const;
  // This tensor's data on `device` (a copy unless it already lives there).
  Tensor to(Device device) const;
  // Copies `source` into this tensor; element counts must match, devices may differ.
  void copy_from(const Tensor& source);
  void fill(float value);
  // A copy of the elements on the host, in row-major order.
  std::vector<float> to_vector() const;

  bool shares_storage(const Tensor& other) const { return storage_ && storage_ == other.storage_; }

 private:
  Tensor(std::shared_ptr<Storage> storage, int64_t offset, Shape shape);
  int64_t flat_index(std::initializer_list<int64_t> index) const;

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  int64_t numel_ = 0;
};

// Throws lockstep::Error naming `what` and both shapes when they differ.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);
// Throws lockstep::Error naming `what` and both devices when they differ.
void check_same_device(const Tensor& a, const Tensor& b, const char* what);

}  // namespace lockstep
