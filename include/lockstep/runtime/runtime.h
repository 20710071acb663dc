// Runtime: process start-up for every Lockstep program — MPI initialised once, world and
// local ranks, BLAS threads per rank, rank-aware logging, and the error policy: an
// exception on any rank prints "[rank R] error: ..." and aborts the whole job.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lockstep/base/exit_codes.h"
#include "lockstep/base/logging.h"
#include "lockstep/comm/communicator.h"

namespace lockstep::runtime {

struct ProcessInfo {
  int rank = 0;        // world rank
  int size = 1;        // world size
  int local_rank = 0;  // rank among the processes of this node
  int local_size = 1;  // processes on this node
  bool mpi = false;    // true when running over MPI (also for one rank)
  // The thread level MPI granted (MPI_THREAD_MULTIPLE is requested): "multiple",
  // "serialized", "funneled" or "single"; "none" without MPI.
  std::string thread_level = "none";
  int blas_threads = 1;  // threads each rank's BLAS uses
};

// Owns MPI for the life of the program: initialises it if nobody did (with or without
// mpirun: a lone process is a world of one) and finalises it if it initialised it.
// Built without MPI, it describes a single process. Construct one, first thing in main.
class Runtime {
 public:
  Runtime(int* argc, char*** argv);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const ProcessInfo& info() const { return info_; }
  // The world communicator (MPI when available, else local).
  comm::Communicator& world() { return *world_; }

 private:
  ProcessInfo info_;
  std::unique_ptr<comm::Communicator> world_;
  bool finalize_ = false;
};

// Sets OpenBLAS's thread count to max(1, cores / local_size) unless the user set
// OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS); returns the count in force.
int configure_blas_threads(int local_size);

// Runs `body` under the error policy: a lockstep::Error or option error ends with
// kExitBadInput, any other exception with kExitFailure. With more than one rank, the failing
// rank prints its error and aborts the whole job through the communicator, so peers stuck in
// a collective end too. Returns body's result otherwise.
int run_guarded(Runtime& runtime, const std::function<int()>& body);

}  // namespace lockstep::runtime
