// The CUDA side of backend_for: how many GPUs answer, and one CudaBackend per GPU ordinal,
// made on first use and kept for the life of the process.
#include "backend/cuda_backends.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace lockstep::backend {

int cuda_device_count(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    // With no driver or no device the count is left unset and the error is sticky for the
    // next check: clear it, this failure is the answer.
    static_cast<void>(cudaGetLastError());
    if (why != nullptr) *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status);
    return 0;
  }
  if (count == 0 && why != nullptr) *why = "cudaGetDeviceCount: no GPU is visible";
  return count;
}

Backend& cuda_backend_for(int ordinal) { return cuda::cuda_backend(ordinal); }

namespace cuda {

namespace {

// The GPUs of the process, counted once. Never destroyed: tensors held in static storage may
// free their memory after static destructors ran, and CUDA calls at that point (the runtime
// itself being torn down) would fail; the driver releases everything at exit anyway.
struct Registry {
  int count = 0;
  std::string why;  // why count is 0
  std::unique_ptr<std::atomic<CudaBackend*>[]> backends;
  std::mutex creation;
};

Registry& registry() {
  static Registry* const instance = [] {
    auto* r = new Registry;
    r->count = cuda_device_count(&r->why);
    r->backends = std::make_unique<std::atomic<CudaBackend*>[]>(static_cast<size_t>(r->count));
    return r;
  }();
  return *instance;
}

}  // namespace

CudaBackend& cuda_backend(int ordinal) {
  Registry& r = registry();
  LOCKSTEP_CHECK(r.count > 0,
                 "no backend for device cuda:" << ordinal << ": no GPU answers (" << r.why << ")");
  LOCKSTEP_CHECK(ordinal >= 0 && ordinal < r.count,
                 "no backend for device cuda:" << ordinal << ": " << r.count
                                               << (r.count == 1 ? " GPU answers" : " GPUs answer")
                                               << " (cuda:0 to cuda:" << r.count - 1 << ")");
  std::atomic<CudaBackend*>& slot = r.backends[static_cast<size_t>(ordinal)];
  // Every op looks its backend up here: after the first use this is one atomic load.
  if (CudaBackend* backend = slot.load(std::memory_order_acquire)) return *backend;
  std::lock_guard lock(r.creation);
  if (CudaBackend* backend = slot.load(std::memory_order_relaxed)) return *backend;
  auto* backend = new CudaBackend(ordinal);  // kept for the life of the process (see Registry)
  slot.store(backend, std::memory_order_release);
  return *backend;
}

}  // namespace cuda
}  // namespace lockstep::backend
