// How NcclCommunicator waits. Its NCCL communicator is non-blocking (config.blocking = 0), so
// an NCCL call may return ncclInProgress before its work reaches the GPU, and NCCL's rules
// are: poll ncclCommGetAsyncError until the state leaves ncclInProgress before any other call
// on the communicator; on an error or a timeout, ncclCommAbort. A collective is thus waited
// for in two stages, each polled against the deadline with the same backoff as the MPI
// communicator: (1) NCCL has queued the kernels (the state is ncclSuccess), then (2) the GPU
// has run them (the event recorded behind them fired), watching for asynchronous NCCL errors
// (a peer gone, a network failure) all along.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "backend/cuda/cuda_check.h"
#include "comm/backoff.h"
#include "comm/collective_trace.h"
#include "comm/nccl/nccl_check.h"
#include "comm/nccl/nccl_communicator.h"
#include "lockstep/base/logging.h"

namespace lockstep::comm {

namespace {

using Seconds = std::chrono::duration<double>;

using detail::Backoff;

}  // namespace

std::string NcclCommunicator::describe(const Operation& op) const {
  std::ostringstream text;
  text << op.name;
  if (!label().empty()) text << "(" << label() << ")";
  text << " #" << op.sequence;
  return text.str();
}

void NcclCommunicator::order_after_compute(const Operation& op) {
  LOCKSTEP_CHECK(comm_ != nullptr, "NcclCommunicator on cuda:"
                                       << ordinal_ << ": cannot run " << describe(op)
                                       << ": the NCCL communicator was aborted after an earlier "
                                          "failure");
  try {
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(compute_ready_, compute_stream_));
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(stream_, compute_ready_, 0));
  } catch (...) {
    abort_nccl();  // peers may already be inside this collective
    throw;
  }
}

cudaEvent_t NcclCommunicator::enqueued(const Operation& op, ncclResult_t launched) {
  if (launched != ncclSuccess && launched != ncclInProgress) fail(op, launched, "returned");
  try {
    // Even after ncclSuccess: the state says whether the kernels are queued (some NCCL
    // versions returned ncclSuccess from a non-blocking call before they were), and no other
    // call may touch the communicator or its stream before.
    wait_until_started(op);
    const cudaEvent_t done = take_event();
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(done, stream_));
    return done;
  } catch (...) {
    abort_nccl();  // does nothing when fail() already did
    throw;
  }
}

void NcclCommunicator::complete(const Operation& op, cudaEvent_t done) {
  LOCKSTEP_CHECK(comm_ != nullptr, "NcclCommunicator on cuda:"
                                       << ordinal_ << ": cannot finish " << describe(op)
                                       << ": the NCCL communicator was aborted after an earlier "
                                          "failure");
  try {
    // Later compute reads or overwrites the buffer: it must start after the collective.
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(compute_stream_, done, 0));
    wait_until_done(op, done);
  } catch (...) {
    abort_nccl();
    throw;
  }
  free_events_.push_back(done);
  // From the call to the host's seeing it done (the GPU may have finished a little earlier).
  detail::trace_collective(*this, op.name, op.bytes, op.sequence, op.start);
}

cudaEvent_t NcclCommunicator::take_event() {
  if (!free_events_.empty()) {
    const cudaEvent_t event = free_events_.back();
    free_events_.pop_back();
    return event;
  }
  cudaEvent_t event = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  events_.push_back(event);
  return event;
}

ncclResult_t NcclCommunicator::async_state(const Operation& op) {
  ncclResult_t state = ncclInProgress;
  const ncclResult_t queried = ncclCommGetAsyncError(comm_, &state);
  if (queried != ncclSuccess) {
    fail(op, queried, "could not be watched: ncclCommGetAsyncError returned");
  }
  if (state != ncclSuccess && state != ncclInProgress) {
    fail(op, state, "failed while running: ncclCommGetAsyncError reported");
  }
  return state;
}

void NcclCommunicator::wait_until_started(const Operation& op) {
  const Clock::time_point start = Clock::now();
  Backoff backoff;
  while (async_state(op) == ncclInProgress) {
    check_deadline(op, "NCCL had not yet queued it on the GPU");
    backoff.pause(Clock::now() - start);
  }
}

void NcclCommunicator::wait_until_done(const Operation& op, cudaEvent_t done) {
  const Clock::time_point start = Clock::now();
  Backoff backoff;
  for (;;) {
    const cudaError_t status = cudaEventQuery(done);
    if (status == cudaSuccess) break;
    if (status != cudaErrorNotReady) LOCKSTEP_CUDA_CHECK(status);
    // "Not ready" is no error; clear it so that the next launch check does not see it.
    static_cast<void>(cudaGetLastError());
    async_state(op);
    check_deadline(op, "queued on the GPU, not finished");
    backoff.pause(Clock::now() - start);
  }
  // Kernels that NCCL stopped on an error also "finish": the result counts only without one.
  async_state(op);
}

void NcclCommunicator::check_deadline(const Operation& op, const char* stage) {
  const double deadline_s = deadline();
  if (deadline_s > 0.0 && Seconds(Clock::now() - op.start).count() > deadline_s) {
    time_out(op, stage);
  }
}

// The MPI communicator's report, less the ranks that never arrived: NCCL does not say.
void NcclCommunicator::time_out(const Operation& op, const char* stage) {
  std::ostringstream line;
  line << "collective timed out after " << deadline() << " s: " << describe(op) << ", " << op.bytes
       << " bytes";
  if (step() >= 0) line << ", step " << step();
  line << "; over NCCL on cuda:" << ordinal_ << " (" << stage << ")";
  logging::error("%s", line.str().c_str());
  end_job(kExitCollectiveTimeout);
}

void NcclCommunicator::fail(const Operation& op, ncclResult_t result, const char* how) {
  std::ostringstream call;
  call << op.nccl_call << " for " << describe(op) << " on cuda:" << ordinal_;
  if (step() >= 0) call << ", step " << step();
  call << ", " << how;
  const std::string text = call.str();
  // The error is built first: ncclGetLastError must be read before the abort overwrites it.
  try {
    detail::throw_nccl_error(result, text.c_str(), __FILE__, __LINE__);
  } catch (...) {
    abort_nccl();
    throw;
  }
}

void NcclCommunicator::wait_until_initialized(Clock::time_point start, double deadline_s) {
  Backoff backoff;
  for (;;) {
    ncclResult_t state = ncclInProgress;
    LOCKSTEP_NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) {
      const std::string call = "ncclCommInitRankConfig (NCCL set-up of " + std::to_string(size_) +
                               " ranks, this one on cuda:" + std::to_string(ordinal_) +
                               ") failed: ncclCommGetAsyncError reported";
      detail::throw_nccl_error(state, call.c_str(), __FILE__, __LINE__);
    }
    if (deadline_s > 0.0 && Seconds(Clock::now() - start).count() > deadline_s) {
      logging::error(
          "collective timed out after %g s: ncclCommInitRankConfig (NCCL set-up of %d "
          "ranks, this one on cuda:%d); a rank never joined, or the ranks cannot reach "
          "each other",
          deadline_s, size_, ordinal_);
      end_job(kExitCollectiveTimeout);
    }
    backoff.pause(Clock::now() - start);
  }
}

void NcclCommunicator::end_job(int code) {
  abort_nccl();
  host_.abort(code);
  // The host's abort does not return; should one return anyway, this process still ends.
  std::_Exit(code);
}

// ncclCommAbort can itself wait on the device (it frees memory, and cudaFree synchronises),
// and a job that must end may not hang there: it runs on a thread of its own, and after
// kAbortLimit the caller goes on without it (ending the process releases the GPU anyway).
void NcclCommunicator::abort_nccl() noexcept {
  if (comm_ == nullptr) return;
  ncclComm_t comm = std::exchange(comm_, nullptr);
  ncclResult_t result = ncclSuccess;
  try {
    auto outcome = std::make_shared<std::promise<ncclResult_t>>();
    std::future<ncclResult_t> finished = outcome->get_future();
    std::thread([comm, outcome] { outcome->set_value(ncclCommAbort(comm)); }).detach();
    if (finished.wait_for(kAbortLimit) != std::future_status::ready) {
      logging::warn("ncclCommAbort on cuda:%d did not return within %lld s; going on without it",
                    ordinal_, static_cast<long long>(kAbortLimit.count()));
      return;
    }
    result = finished.get();
  } catch (...) {
    result = ncclCommAbort(comm);  // no thread to be had: abort here, unbounded
  }
  if (result != ncclSuccess && result != ncclInProgress) {
    logging::warn("ncclCommAbort on cuda:%d failed: %s (%s)", ordinal_,
                  detail::nccl_result_name(result), ncclGetErrorString(result));
  }
}

// ncclCommFinalize flushes what NCCL still has under way (also on behalf of peers); with a
// non-blocking communicator it returns at once and is polled. After it, ncclCommDestroy frees
// local resources without blocking.
bool NcclCommunicator::finalize_nccl() noexcept {
  const double limit_s = deadline() > 0.0 ? deadline() : Seconds(kFinalizeLimit).count();
  const Clock::time_point start = Clock::now();
  std::string problem;
  ncclResult_t state = ncclCommFinalize(comm_);
  if (state != ncclSuccess && state != ncclInProgress) {
    problem = std::string("ncclCommFinalize returned ") + detail::nccl_result_name(state);
  }
  Backoff backoff;
  while (problem.empty()) {
    const ncclResult_t queried = ncclCommGetAsyncError(comm_, &state);
    if (queried != ncclSuccess) {
      problem = std::string("ncclCommGetAsyncError returned ") + detail::nccl_result_name(queried);
    } else if (state == ncclSuccess) {
      const ncclResult_t destroyed = ncclCommDestroy(comm_);
      if (destroyed == ncclSuccess || destroyed == ncclInProgress) {
        comm_ = nullptr;
        return true;
      }
      problem = std::string("ncclCommDestroy returned ") + detail::nccl_result_name(destroyed);
    } else if (state != ncclInProgress) {
      problem = std::string("ncclCommGetAsyncError reported ") + detail::nccl_result_name(state);
    } else if (Seconds(Clock::now() - start).count() > limit_s) {
      std::ostringstream text;
      text << "still finishing after " << limit_s << " s";
      problem = text.str();
    } else {
      backoff.pause(Clock::now() - start);
    }
  }
  logging::warn("the NCCL communicator on cuda:%d did not finish cleanly (%s); aborting it",
                ordinal_, problem.c_str());
  return false;
}

}  // namespace lockstep::comm
