// Runtime in a build without MPI: one process, rank 0 of 1, with a local communicator.
#include "lockstep/runtime/runtime.h"

namespace lockstep::runtime {

Runtime::Runtime(int* /*argc*/, char*** /*argv*/) {
  logging::set_rank(0);
  world_ = comm::make_local_communicator();
  info_.blas_threads = configure_blas_threads(info_.local_size);
}

Runtime::~Runtime() = default;

}  // namespace lockstep::runtime
