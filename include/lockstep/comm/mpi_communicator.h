// The MPI communicator's factory. The MPI_Comm itself stays inside the library (public headers
// never include mpi.h); in a build without MPI the factory throws.
#pragma once

#include <climits>
#include <cstdint>
#include <memory>

#include "lockstep/comm/communicator.h"

namespace lockstep::comm {

// The most elements one MPI call moves: MPI counts are int. Larger transfers are split into
// several calls, never truncated.
inline constexpr int64_t kMpiMaxChunk = INT_MAX;

// A communicator over every process of the job: its own duplicate of MPI_COMM_WORLD, with
// MPI_ERRORS_RETURN so that MPI errors become lockstep::Error. MPI must be initialised (a
// runtime::Runtime does it). `max_chunk` (1 to kMpiMaxChunk) caps the elements of one MPI call;
// tests pass a tiny value so that the split paths run on small data. Collective: every rank
// calls it. One thread at a time may use a communicator.
std::unique_ptr<Communicator> make_mpi_world_communicator(int64_t max_chunk = kMpiMaxChunk);

}  // namespace lockstep::comm
