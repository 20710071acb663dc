// The MPI communicator's factory in a build without MPI: same entry point, a clear error.
#include "lockstep/base/error.h"
#include "lockstep/comm/mpi_communicator.h"

namespace lockstep::comm {

std::unique_ptr<Communicator> make_mpi_world_communicator(int64_t max_chunk) {
  LOCKSTEP_THROW(
      "make_mpi_world_communicator: Lockstep was built without MPI "
      "(LOCKSTEP_WITH_MPI=OFF); asked for an MPI communicator with max_chunk "
      << max_chunk << "; use make_local_communicator for one process");
}

}  // namespace lockstep::comm
