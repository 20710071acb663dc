// Process and machine facts from getrusage, /proc and the dynamic linker.
#include "support/process_info.h"

#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "lockstep/base/error.h"

#ifndef LOCKSTEP_BENCH_BUILD_TYPE
#define LOCKSTEP_BENCH_BUILD_TYPE "unknown"
#endif

namespace lockstep::bench {

int64_t peak_resident_kib() {
  rusage usage{};
  LOCKSTEP_CHECK(getrusage(RUSAGE_SELF, &usage) == 0,
                 "getrusage(RUSAGE_SELF) failed: " << std::strerror(errno));
  return static_cast<int64_t>(usage.ru_maxrss);  // Linux reports KiB
}

namespace {

bool names_blas(const std::string& path) {
  const std::string file = path.substr(path.find_last_of('/') + 1);
  return file.find("blas") != std::string::npos || file.find("lapack") != std::string::npos ||
         file.find("mkl") != std::string::npos;
}

}  // namespace

BlasInfo loaded_blas() {
  BlasInfo info;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (names_blas(path) &&
        std::find(info.libraries.begin(), info.libraries.end(), path) == info.libraries.end()) {
      info.libraries.push_back(path);
    }
  }
  // Looked up by name so that the benchmark links with any BLAS, OpenBLAS or not.
  using ConfigFunction = char* (*)();
  if (auto* config = reinterpret_cast<ConfigFunction>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    const char* text = config();
    if (text != nullptr) info.openblas_config = text;
  }
  return info;
}

std::string BlasInfo::summary() const {
  if (!openblas_config.empty()) return openblas_config;
  if (!libraries.empty()) return libraries.front();
  return "unknown";
}

nlohmann::json BlasInfo::to_json() const {
  return {{"libraries", libraries}, {"openblas_config", openblas_config}, {"summary", summary()}};
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? "unknown" : line.substr(start);
  }
  return "unknown";
}

int online_cpus() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

std::string build_type() { return LOCKSTEP_BENCH_BUILD_TYPE; }

void write_json_file(const std::string& path, const nlohmann::json& value) {
  std::ofstream out(path);
  LOCKSTEP_CHECK(out.good(), "--json: cannot open '" << path << "' for writing");
  out << value.dump(2) << "\n";
  out.close();
  LOCKSTEP_CHECK(!out.fail(), "--json: writing '" << path << "' failed");
}

}  // namespace lockstep::bench
