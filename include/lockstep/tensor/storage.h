// Storage: one allocation of bytes on one device, shared by the tensors that view it.
#pragma once

#include <cstddef>
#include <memory>

#include "lockstep/base/device.h"

namespace lockstep {

class Storage {
 public:
  // Allocates `bytes` on `device` through that device's backend.
  Storage(size_t bytes, Device device);
  // Host memory that `transfer_device` copies to and from directly (page-locked for a GPU),
  // allocated through that device's backend; device() is the CPU.
  static std::shared_ptr<Storage> pinned(size_t bytes, Device transfer_device);
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
  bool pinned_ = false;
  Device allocated_by_;  // the backend that frees it
};

}  // namespace lockstep
