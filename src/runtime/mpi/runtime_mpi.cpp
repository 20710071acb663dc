// Runtime over MPI: initialises MPI (asking for MPI_THREAD_MULTIPLE) unless someone already
// did, finds world and node-local ranks, and finalises only what it initialised. A program
// started without mpirun becomes a world of one (Open MPI's singleton start).
#include <mpi.h>

#include "comm/mpi/mpi_check.h"
#include "lockstep/base/error.h"
#include "lockstep/comm/mpi_communicator.h"
#include "lockstep/runtime/runtime.h"

namespace lockstep::runtime {

namespace {

std::string thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_MULTIPLE:
      return "multiple";
    case MPI_THREAD_SERIALIZED:
      return "serialized";
    case MPI_THREAD_FUNNELED:
      return "funneled";
    default:
      return "single";
  }
}

// Rank and size among the processes that share this node's memory.
void find_local_rank(ProcessInfo& info) {
  MPI_Comm node = MPI_COMM_NULL;
  LOCKSTEP_MPI_CHECK(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, info.rank, MPI_INFO_NULL, &node));
  const int rank_code = MPI_Comm_rank(node, &info.local_rank);
  const int size_code = MPI_Comm_size(node, &info.local_size);
  MPI_Comm_free(&node);
  LOCKSTEP_MPI_CHECK(rank_code);
  LOCKSTEP_MPI_CHECK(size_code);
}

}  // namespace

Runtime::Runtime(int* argc, char*** argv) {
  int initialized = 0, finalized = 0;
  LOCKSTEP_MPI_CHECK(MPI_Initialized(&initialized));
  LOCKSTEP_MPI_CHECK(MPI_Finalized(&finalized));
  LOCKSTEP_CHECK(!finalized,
                 "Runtime: MPI must not be finalised yet, found it finalised "
                 "(MPI starts once per process: construct one Runtime, first "
                 "thing in main)");
  int provided = MPI_THREAD_SINGLE;
  if (initialized) {
    LOCKSTEP_MPI_CHECK(MPI_Query_thread(&provided));
  } else {
    LOCKSTEP_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
    finalize_ = true;
  }
  try {
    info_.mpi = true;
    info_.thread_level = thread_level_name(provided);
    LOCKSTEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &info_.rank));
    LOCKSTEP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &info_.size));
    logging::set_rank(info_.rank);
    find_local_rank(info_);
    world_ = comm::make_mpi_world_communicator();
    info_.blas_threads = configure_blas_threads(info_.local_size);
  } catch (...) {
    world_.reset();
    if (finalize_) MPI_Finalize();
    throw;
  }
}

Runtime::~Runtime() {
  world_.reset();  // frees its duplicate of MPI_COMM_WORLD while MPI still runs
  if (!finalize_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  const int code = MPI_Finalize();
  if (code != MPI_SUCCESS) logging::warn("MPI_Finalize returned error code %d", code);
}

}  // namespace lockstep::runtime
