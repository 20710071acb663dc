// trace_collective: one trace event per finished collective (see collective_trace.h).
#include "comm/collective_trace.h"

#include <utility>

#include "lockstep/base/profiler.h"

namespace lockstep::comm::detail {

void trace_collective(const Communicator& communicator, const char* name, int64_t bytes,
                      int64_t sequence, std::chrono::steady_clock::time_point start) noexcept {
  Profiler& p = profiler();
  if (!p.tracing()) return;
  try {
    TraceArgs args;
    args.label = communicator.label();
    args.bytes = bytes;
    args.sequence = sequence;
    args.step = communicator.step();
    p.record_event(name, Lane::kComm, start, Profiler::Clock::now(), std::move(args));
  } catch (...) {
    // A label that cannot be copied (out of memory) costs the event, not the collective.
  }
}

}  // namespace lockstep::comm::detail
