// Storage allocates and frees through the backend of its device, so CPU and GPU memory
// follow one path (the CUDA backend plugs in its caching allocator there).
#include "lockstep/core/storage.h"

#include "lockstep/backend/backend.h"

namespace lockstep {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = bytes_ ? backend::backend_for(device_).allocate(bytes_) : nullptr;
}

Storage::~Storage() {
  if (data_) backend::backend_for(device_).deallocate(data_, bytes_);
}

}  // namespace lockstep
