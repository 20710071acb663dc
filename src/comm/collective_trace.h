// The trace event of a finished collective, shared by the communicators that move data
// themselves (MPI, NCCL): the profiler's comm lane, with the communicator's label and step.
#pragma once

#include <chrono>
#include <cstdint>

#include "lockstep/comm/communicator.h"

namespace lockstep::comm::detail {

// Records collective `name` (number `sequence`, `bytes` moved by this rank) of `communicator`,
// from `start` to now, when the profiler is tracing; nothing otherwise. Never throws.
void trace_collective(const Communicator& communicator, const char* name, int64_t bytes,
                      int64_t sequence, std::chrono::steady_clock::time_point start) noexcept;

}  // namespace lockstep::comm::detail
