// BLAS threads per rank: the ranks of one node share its cores, so each rank's OpenBLAS gets
// its share, unless the user chose a count through the environment.
#include <cblas.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "lockstep/base/error.h"
#include "lockstep/runtime/runtime.h"

namespace lockstep::runtime {

namespace {

bool environment_has(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0';
}

int hardware_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// Cores this process may run on: a launcher that binds ranks to cores (mpirun does for a few
// ranks) leaves fewer than the machine has, and threads beyond them would only contend.
int cores_bound() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return hardware_cores();
  return std::max(1, CPU_COUNT(&set));
}

}  // namespace

int configure_blas_threads(int local_size) {
  LOCKSTEP_CHECK(
      local_size >= 1,
      "configure_blas_threads: expected at least 1 process on this node, found " << local_size);
  if (environment_has("OPENBLAS_NUM_THREADS") || environment_has("OMP_NUM_THREADS")) {
    return openblas_get_num_threads();  // the user's choice, read by OpenBLAS at load time
  }
  const int share = std::max(1, std::min(cores_bound(), hardware_cores() / local_size));
  openblas_set_num_threads(share);
  return openblas_get_num_threads();
}

}  // namespace lockstep::runtime
