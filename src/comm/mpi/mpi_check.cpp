// The error path of LOCKSTEP_MPI_CHECK: MPI's error string, the failing call and the rank.
#include "comm/mpi/mpi_check.h"

#include <sstream>
#include <string>

#include "lockstep/base/error.h"

namespace lockstep::comm::detail {

int world_rank_or_unknown() {
  int initialized = 0, finalized = 0;
  if (MPI_Initialized(&initialized) != MPI_SUCCESS || !initialized) return -1;
  if (MPI_Finalized(&finalized) != MPI_SUCCESS || finalized) return -1;
  int rank = -1;
  if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS) return -1;
  return rank;
}

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  std::string description = "unknown MPI error";
  if (MPI_Error_string(code, text, &length) == MPI_SUCCESS) description.assign(text, length);
  const int rank = world_rank_or_unknown();
  std::ostringstream message;
  message << "MPI error on rank " << (rank >= 0 ? std::to_string(rank) : std::string("?")) << ": "
          << call << " returned " << code << " (" << description << ")";
  throw Error(message.str(), file, line);
}

}  // namespace lockstep::comm::detail
