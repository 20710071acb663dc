// Choosing libnbc's allreduce algorithm per call through its MPI_T control variable: set for
// the one large call and restored at once, so that nothing else in the process sees a change.
#include "comm/mpi/allreduce_algorithm.h"

namespace lockstep::comm::detail {

namespace {

constexpr const char* kVariable = "coll_libnbc_iallreduce_algorithm";
constexpr int kOpenMpiChooses = 0;          // "ignore": libnbc's own decision
constexpr int kReduceScatterAllgather = 3;  // "rabenseifner"
// libnbc's own threshold: below it a binomial tree is the right choice anyway.
constexpr int64_t kLargeBytes = 65536;

// libnbc's control variable, opened once per process and never closed: in Open MPI 4.1
// MPI_T_init_thread sets the process's MPI thread level, and the last MPI_T_finalize closes
// components, so neither may run again while MPI does.
struct ControlVariable {
  bool usable = false;
  MPI_T_cvar_handle handle = MPI_T_CVAR_HANDLE_NULL;
};

ControlVariable open_control_variable() {
  ControlVariable variable;
  // Ask MPI_T for the thread level MPI granted, so that the level stays what it is.
  int level = MPI_THREAD_SINGLE, provided = MPI_THREAD_SINGLE, index = -1, count = 0;
  variable.usable =
      MPI_Query_thread(&level) == MPI_SUCCESS &&
      MPI_T_init_thread(level, &provided) == MPI_SUCCESS &&
      MPI_T_cvar_get_index(kVariable, &index) == MPI_SUCCESS &&
      MPI_T_cvar_handle_alloc(index, nullptr, &variable.handle, &count) == MPI_SUCCESS &&
      count == 1;
  return variable;
}

const ControlVariable& control_variable() {
  static const ControlVariable variable = open_control_variable();
  return variable;
}

}  // namespace

AllreduceAlgorithm::AllreduceAlgorithm(MPI_Comm comm) {
  const ControlVariable& variable = control_variable();
  int value = -1;
  int usable = variable.usable && MPI_T_cvar_read(variable.handle, &value) == MPI_SUCCESS &&
               // Another value is the user's choice (OMPI_MCA_... or a parameter file).
               value == kOpenMpiChooses && MPI_T_cvar_write(variable.handle, &value) == MPI_SUCCESS;
  // Any rank that cannot tune makes every rank leave the choice to Open MPI.
  if (MPI_Allreduce(MPI_IN_PLACE, &usable, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) usable = 0;
  tuned_ = usable != 0;
}

int AllreduceAlgorithm::post(void* data, int count, MPI_Datatype type, int64_t bytes, MPI_Comm comm,
                             MPI_Request* request) const {
  // Every rank posts the same sizes, so every rank picks the same algorithm, as MPI requires.
  const bool tune = tuned_ && bytes >= kLargeBytes;
  const MPI_T_cvar_handle handle = control_variable().handle;
  if (tune) {
    const int algorithm = kReduceScatterAllgather;
    MPI_T_cvar_write(handle, &algorithm);
  }
  const int code = MPI_Iallreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, comm, request);
  if (tune) {
    const int algorithm = kOpenMpiChooses;
    MPI_T_cvar_write(handle, &algorithm);
  }
  return code;
}

}  // namespace lockstep::comm::detail
