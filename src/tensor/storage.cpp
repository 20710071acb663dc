// Storage allocates and frees through the backend of its device, so CPU and GPU memory
// follow one path (the CUDA backend plugs in its caching allocator there).
#include "lockstep/tensor/storage.h"

#include "lockstep/backend/backend.h"

namespace lockstep {

Storage::Storage(size_t bytes, Device device)
    : bytes_(bytes), device_(device), allocated_by_(device) {
  data_ = bytes_ ? backend::backend_for(device_).allocate(bytes_) : nullptr;
}

std::shared_ptr<Storage> Storage::pinned(size_t bytes, Device transfer_device) {
  auto storage = std::make_shared<Storage>(0, Device::cpu());
  storage->bytes_ = bytes;
  storage->pinned_ = true;
  storage->allocated_by_ = transfer_device;
  storage->data_ = bytes ? backend::backend_for(transfer_device).allocate_pinned(bytes) : nullptr;
  return storage;
}

Storage::~Storage() {
  if (!data_) return;
  backend::Backend& backend = backend::backend_for(allocated_by_);
  if (pinned_) {
    backend.deallocate_pinned(data_, bytes_);
  } else {
    backend.deallocate(data_, bytes_);
  }
}

}  // namespace lockstep
