// LOCKSTEP_MPI_CHECK: every MPI return code is checked; a failure becomes a lockstep::Error
// naming the call, MPI's own description of the error and the world rank.
#pragma once

#include <mpi.h>

namespace lockstep::comm::detail {

// Throws lockstep::Error for MPI return code `code` of `call` at file:line.
[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);

// The world rank, or -1 when MPI is not running (before init, after finalize).
int world_rank_or_unknown();

}  // namespace lockstep::comm::detail

#define LOCKSTEP_MPI_CHECK(call)                                                                \
  do {                                                                                          \
    const int lockstep_mpi_code_ = (call);                                                      \
    if (lockstep_mpi_code_ != MPI_SUCCESS) {                                                    \
      ::lockstep::comm::detail::throw_mpi_error(lockstep_mpi_code_, #call, __FILE__, __LINE__); \
    }                                                                                           \
  } while (0)
