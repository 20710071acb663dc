// Preemption signals: a handler that records the first signal and lets a second one end the
// process, and the allgather by which every rank learns whether any rank was signalled.
#include "lockstep/runtime/preemption.h"

#include <signal.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "lockstep/base/error.h"

namespace lockstep::runtime {

namespace {

std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be lock-free");

constexpr int kPreemptionSignals[] = {SIGTERM, SIGINT, SIGUSR1};

// Only async-signal-safe calls: a lock-free atomic, sigaction, raise.
extern "C" void on_preemption_signal(int signal) {
  int none = 0;
  if (g_signal.compare_exchange_strong(none, signal)) return;
  // A second signal: the default action (termination), once this handler returns and the
  // signal is unblocked.
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(signal, &fallback, nullptr);
  raise(signal);
}

void install(int signal, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  for (const int blocked : kPreemptionSignals) sigaddset(&action.sa_mask, blocked);
  action.sa_flags = SA_RESTART;  // system calls under way (MPI, file writes) carry on
  LOCKSTEP_CHECK(sigaction(signal, &action, nullptr) == 0, "cannot install a handler for "
                                                               << signal_name(signal) << ": "
                                                               << std::strerror(errno));
}

}  // namespace

void install_preemption_handlers() {
  for (const int signal : kPreemptionSignals) install(signal, on_preemption_signal);
  install(SIGXFSZ, SIG_IGN);
}

int preemption_signal() { return g_signal.load(); }

void clear_preemption_signal() { g_signal.store(0); }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGXFSZ:
      return "SIGXFSZ";
    default:
      return "signal " + std::to_string(signal);
  }
}

PreemptionNotice agree_on_preemption(comm::Communicator& communicator) {
  const comm::ScopedLabel label(communicator, "preemption check");
  const int mine = preemption_signal();
  std::vector<int> all(static_cast<size_t>(communicator.size()), 0);
  communicator.allgather(&mine, sizeof mine, all.data());
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r] != 0) return {all[r], static_cast<int>(r)};
  }
  return {};
}

}  // namespace lockstep::runtime
