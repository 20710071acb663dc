// Communicators for device memory: NCCL, and the host-staged one for ranks that share a GPU.
// Both take device buffers only (moves_device_memory); host buffers (metrics, agreement
// checks, batches scattered from rank 0) go through host(), the communicator they were made
// from. Collectives honour the deadline (Communicator::set_deadline): a stuck NCCL call aborts
// the NCCL communicator and ends the job with kExitCollectiveTimeout instead of hanging.
#pragma once

#include <memory>

#include "lockstep/base/device.h"
#include "lockstep/comm/communicator.h"

namespace lockstep::comm {

// Collective over every rank of `host` (MPI, or local for one process without mpirun):
// rank 0 makes the ncclUniqueId and broadcasts it over `host`, then every rank joins with
// ncclCommInitRank on `device` (a CUDA device; this rank's GPU). `host` must outlive the
// result. Throws lockstep::Error when this build has no CUDA or no GPU answers.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Device device);

// For ranks that share a GPU, which NCCL refuses: device buffers are copied to a page-locked
// host buffer, reduced or broadcast over `host`, and copied back. `host` must outlive the
// result. Throws lockstep::Error when this build has no CUDA.
std::unique_ptr<Communicator> make_host_staged_communicator(Communicator& host, Device device);

}  // namespace lockstep::comm
