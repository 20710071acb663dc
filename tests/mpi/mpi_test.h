// What MPI tests share: the Runtime that mpi_test_main.cpp starts before any test runs.
#pragma once

#include "lockstep/comm/communicator.h"
#include "lockstep/runtime/runtime.h"

namespace lockstep::testing {

// The process's Runtime (MPI initialised, world of every rank of the mpiexec run).
runtime::Runtime& mpi_runtime();
// mpi_runtime().world(): the communicator of every rank.
comm::Communicator& mpi_world();

}  // namespace lockstep::testing
