// What a benchmark records about the process and machine it ran on: peak resident memory,
// the BLAS library really loaded (a benchmark against the reference BLAS would mean
// nothing), the CPU model and core count, the build type.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lockstep::bench {

// Peak resident set size of this process so far (getrusage ru_maxrss), in KiB.
int64_t peak_resident_kib();

struct BlasInfo {
  // Real paths of the mapped shared libraries whose name mentions blas, lapack or mkl
  // (from /proc/self/maps, so symlinks such as Debian's alternatives are resolved).
  std::vector<std::string> libraries;
  // openblas_get_config() when OpenBLAS is loaded ("OpenBLAS 0.3.21 DYNAMIC_ARCH ..."),
  // else empty.
  std::string openblas_config;
  // One line for a table: the OpenBLAS config, else the first library, else "unknown".
  std::string summary() const;
  nlohmann::json to_json() const;
};
BlasInfo loaded_blas();

// The "model name" of /proc/cpuinfo ("AMD EPYC 7B13"), or "unknown".
std::string cpu_model();
// Online logical CPUs (sysconf), what nproc prints without affinity limits.
int online_cpus();
// CMAKE_BUILD_TYPE of this build ("Release"), as compiled in.
std::string build_type();

// Writes `value` (indented) to `path`; throws lockstep::Error naming the path on failure.
void write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace lockstep::bench
