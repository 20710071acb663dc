// Runtime: process start-up for every Lockstep program — MPI initialised once, world and
// local ranks, BLAS threads per rank, rank-aware logging, and the error policy: an
// exception on any rank prints "[rank R] error: ..." and aborts the whole job.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lockstep/comm/communicator.h"

namespace lockstep::runtime {

struct ProcessInfo {
  int rank = 0;           // world rank
  int size = 1;           // world size
  int local_rank = 0;     // rank among the processes of this node
  int local_size = 1;     // processes on this node
  bool mpi = false;       // true when running over MPI (also for one rank)
  // The thread level MPI granted (MPI_THREAD_MULTIPLE is requested): "multiple",
  // "serialized", "funneled" or "single"; "none" without MPI.
  std::string thread_level = "none";
  int blas_threads = 1;   // threads each rank's BLAS uses
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

// --- logging: rank 0 speaks, other ranks only report errors ---------------------------------
// Sets the rank used by the functions below (Runtime does it).
void set_log_rank(int rank);
int log_rank();
// printf-style line on stdout, printed by rank 0 only.
void info(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "[rank R] warning: ..." on stderr, from any rank.
void warn(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "[rank R] error: ..." on stderr, from any rank.
void error(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Exit codes of Lockstep programs.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;     // an unexpected failure during the run
inline constexpr int kExitBadInput = 2;    // bad options, missing or malformed files
// (3 is comm::kExitCollectiveTimeout: a collective missed its deadline.)
inline constexpr int kExitPreempted = 4;         // stopped by a signal, after a checkpoint
inline constexpr int kExitCheckpointFailed = 5;  // a checkpoint could not be written

// Runs `body` under the error policy: a lockstep::Error or option error ends with
// kExitBadInput, any other exception with kExitFailure. With more than one rank, the failing
// rank prints its error and aborts the whole job through the communicator, so peers stuck in
// a collective end too. Returns body's result otherwise.
int run_guarded(Runtime& runtime, const std::function<int()>& body);

}  // namespace lockstep::runtime
