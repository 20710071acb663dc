// Preemption: SIGTERM, SIGINT and SIGUSR1 (Slurm's usual warning signal) ask a training run to
// stop at the next step boundary, write a checkpoint and exit with kExitPreempted; the ranks
// agree on the stop step through a collective, since a signal may reach only some of them.
#pragma once

#include <string>

#include "lockstep/comm/communicator.h"

namespace lockstep::runtime {

// Installs the handlers, process-wide. The first SIGTERM, SIGINT or SIGUSR1 only records
// itself (an atomic store: async-signal-safe); a second one restores the default action and
// re-raises itself, so the process ends at once. Also ignores SIGXFSZ: past a file-size limit
// (ulimit -f) a write then fails with EFBIG and is reported like a full disk, instead of
// killing the rank in the middle of a checkpoint.
void install_preemption_handlers();

// The first preemption signal this process received, or 0.
int preemption_signal();

// Forgets the recorded signal, as if none had arrived: for tests that preempt one run and
// then start another in the same process. The handlers stay installed.
void clear_preemption_signal();

// "SIGTERM", "SIGINT", "SIGUSR1", else "signal N".
std::string signal_name(int signal);

// What the ranks agreed on at a step boundary.
struct PreemptionNotice {
  int signal = 0;  // the signal of the lowest rank that received one; 0: none did
  int rank = -1;   // that rank

  bool requested() const { return signal != 0; }
};

// Collective: every rank gets the same notice (an allgather of each rank's preemption_signal).
PreemptionNotice agree_on_preemption(comm::Communicator& communicator);

}  // namespace lockstep::runtime
