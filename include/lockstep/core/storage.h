// Storage: one allocation of bytes on one device, shared by the tensors that view it.
#pragma once

#include <cstddef>

#include "lockstep/core/device.h"

namespace lockstep {

class Storage {
 public:
  // Allocates `bytes` on `device` through that device's backend.
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  const Device& device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace lockstep
