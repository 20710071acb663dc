// How MpiCommunicator waits: every collective is a non-blocking MPI call polled with
// MPI_Testall against the clock. Polling backs off from spinning to yielding to naps of up to
// a millisecond, so that ranks sharing cores (more ranks than cores) leave them to the rank
// that has work. Past the deadline the rank reports the collective and ends the job.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "comm/backoff.h"
#include "comm/collective_trace.h"
#include "comm/mpi/mpi_check.h"
#include "comm/mpi/mpi_communicator.h"
#include "lockstep/base/logging.h"

namespace lockstep::comm {

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

using detail::Backoff;
constexpr auto kLongestNap = Backoff::kLongestNap;
// Only rank 0 knows which ranks never arrived; others give it this long to say so first.
constexpr Seconds kReportGrace{2.0};

std::string join(const std::vector<int>& ranks) {
  if (ranks.empty()) return "none (every rank entered it; the transfer itself stalled)";
  std::ostringstream text;
  for (size_t i = 0; i < ranks.size(); ++i) text << (i > 0 ? ", " : "") << ranks[i];
  return text.str();
}

}  // namespace

MpiCommunicator::Operation MpiCommunicator::begin(const char* name, int64_t bytes) {
  const int64_t sequence = next_sequence();
  arrivals_->enter(sequence);
  return {name, sequence, bytes, Clock::now()};
}

void MpiCommunicator::wait(MPI_Request* requests, int count, const Operation& op) {
  if (count == 0) return;
  const double deadline_s = deadline();
  // The deadline counts from the start of the operation, the backoff from the start of this
  // wait: an operation split into many calls polls each of them eagerly again.
  const Clock::time_point start = Clock::now();
  Backoff backoff;
  for (;;) {
    int done = 0;
    LOCKSTEP_MPI_CHECK(MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE));
    if (done) {
      detail::trace_collective(*this, op.name, op.bytes, op.sequence, op.start);
      return;
    }
    const Clock::time_point now = Clock::now();
    if (deadline_s > 0.0 && Seconds(now - op.start).count() > deadline_s) {
      time_out(requests, count, op);
    }
    backoff.pause(now - start);
  }
}

void MpiCommunicator::time_out(MPI_Request* requests, int count, const Operation& op) {
  const double deadline_s = deadline();
  std::string missing = "unknown (rank 0 tracks arrivals)";
  if (arrivals_->tracks()) {
    missing = join(arrivals_->missing(op.sequence));
  } else {
    // Keep the requests progressing meanwhile: the report may come from rank 0.
    while (Clock::now() - op.start < Seconds(deadline_s) + kReportGrace) {
      int done = 0;
      MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE);
      std::this_thread::sleep_for(kLongestNap);
    }
  }
  std::ostringstream line;
  line << "collective timed out after " << deadline_s << " s: " << op.name;
  if (!label().empty()) line << "(" << label() << ")";
  line << " #" << op.sequence << ", " << op.bytes << " bytes";
  if (step() >= 0) line << ", step " << step();
  line << "; ranks not arrived: " << missing;
  logging::error("%s", line.str().c_str());
  abort(kExitCollectiveTimeout);
}

}  // namespace lockstep::comm
