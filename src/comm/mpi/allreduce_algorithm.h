// Open MPI's non-blocking allreduce (coll/libnbc) reduces to rank 0 and broadcasts back (a
// binomial tree) for fewer than 4 ranks or in-place buffers: on large buffers about twice the
// time of the blocking MPI_Allreduce. Through the MPI tool interface (MPI_T) Lockstep asks it
// for reduce-scatter + allgather (Rabenseifner's algorithm) on large buffers, which matches
// the blocking call, unless the user chose an algorithm. Under another MPI it does nothing.
#pragma once

#include <mpi.h>

#include <cstdint>

namespace lockstep::comm::detail {

class AllreduceAlgorithm {
 public:
  // Collective over `comm`: the ranks agree whether to tune, so that all pick alike.
  explicit AllreduceAlgorithm(MPI_Comm comm);

  // Posts MPI_Iallreduce(MPI_IN_PLACE, ...) of `count` elements of `type` (`bytes` in all)
  // with the algorithm suited to its size; returns MPI's code.
  int post(void* data, int count, MPI_Datatype type, int64_t bytes, MPI_Comm comm,
           MPI_Request* request) const;

 private:
  bool tuned_ = false;  // on every rank the variable exists, is writable, left to Open MPI
};

}  // namespace lockstep::comm::detail
