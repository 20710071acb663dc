// backend_for: the one place that maps a device kind to its backend.
#include "lockstep/backend/backend.h"

#include "backend/cpu/cpu_backend.h"
#include "lockstep/core/error.h"

namespace lockstep::backend {

Backend& backend_for(const Device& device) {
  if (device.is_cpu()) {
    static cpu::CpuBackend cpu_backend;
    return cpu_backend;
  }
  LOCKSTEP_THROW("no backend for device " << device.str()
                                          << ": this build of Lockstep has no CUDA backend");
}

}  // namespace lockstep::backend
