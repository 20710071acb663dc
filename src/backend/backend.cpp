// backend_for: the one place that maps a device kind to its backend.
#include "lockstep/backend/backend.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda_backends.h"
#include "lockstep/base/error.h"

namespace lockstep::backend {

Backend& backend_for(const Device& device) {
  if (device.is_cpu()) {
    static cpu::CpuBackend cpu_backend;
    return cpu_backend;
  }
  return cuda_backend_for(device.index);
}

}  // namespace lockstep::backend
