// The GPU benchmarks' shared helpers: the "no GPU" check and the GPU's description.
#include "gpu/gpu_info.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "lockstep/backend/backend.h"

namespace lockstep::bench {

bool cuda_device_answers(const char* program) {
  std::string why;
  if (backend::cuda_device_count(&why) > 0) return true;
  std::fprintf(stderr, "%s: no CUDA device (%s); nothing to measure (exit %d)\n", program,
               why.c_str(), kExitNoDevice);
  return false;
}

nlohmann::json gpu_description(int ordinal) {
  cudaDeviceProp properties{};
  LOCKSTEP_CUDA_CHECK(cudaGetDeviceProperties(&properties, ordinal));
  int driver = 0;
  int runtime = 0;
  LOCKSTEP_CUDA_CHECK(cudaDriverGetVersion(&driver));
  LOCKSTEP_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  // CUDA encodes versions as 1000 * major + 10 * minor.
  const auto version = [](int v) {
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
  };
  return {{"ordinal", ordinal},
          {"name", properties.name},
          {"compute_capability",
           std::to_string(properties.major) + "." + std::to_string(properties.minor)},
          {"multiprocessors", properties.multiProcessorCount},
          {"memory_gib", static_cast<double>(properties.totalGlobalMem) / (1 << 30)},
          {"l2_cache_mib", static_cast<double>(properties.l2CacheSize) / (1 << 20)},
          {"cuda_driver", version(driver)},
          {"cuda_runtime", version(runtime)}};
}

}  // namespace lockstep::bench
