// A build without CUDA: the CUDA entry points exist and say so.
#include <string>

#include "backend/cuda_backends.h"
#include "lockstep/base/error.h"

namespace lockstep::backend {

namespace {
constexpr const char* kNoCuda =
    "this build of Lockstep has no CUDA backend (LOCKSTEP_WITH_CUDA=OFF)";
}

Backend& cuda_backend_for(int ordinal) {
  LOCKSTEP_THROW("no backend for device cuda:" << ordinal << ": " << kNoCuda);
}

int cuda_device_count(std::string* why) {
  if (why) *why = kNoCuda;
  return 0;
}

}  // namespace lockstep::backend
