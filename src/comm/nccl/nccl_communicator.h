// NcclCommunicator: the Communicator of ranks that each drive one GPU; its collectives take
// GPU memory and run over NCCL. Host buffers go through host(), the communicator it was made
// from (MPI, or local for one process); a host buffer given here is an error, not rerouted.
//
// NCCL runs on a stream of its own. Each collective starts after the work already queued on
// the GPU's compute stream (the CUDA backend's), and the compute stream's later work waits
// for it, so kernels see the results without the host having to wait; the host waits anyway,
// under the deadline, in the blocking calls and in finish(). A started allreduce
// (start_allreduce_sum) runs while the compute stream goes on with other work: gradient
// buckets reduce during the rest of backward.
//
// The NCCL communicator is non-blocking (config.blocking = 0): no NCCL call waits for peers,
// so this rank polls (ncclCommGetAsyncError, cudaEventQuery) against the deadline and can
// abort a collective that a peer never joins instead of hanging in it.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lockstep/comm/communicator.h"

namespace lockstep::comm {

class NcclCommunicator final : public Communicator {
 public:
  // Joins every rank of `host` on GPU `ordinal` (see make_nccl_communicator). `host` must
  // outlive this object. The set-up is bounded by host.deadline(), when one is set.
  NcclCommunicator(Communicator& host, int ordinal);
  // Finishes outstanding NCCL work (ncclCommFinalize, bounded by the deadline or
  // kFinalizeLimit), then ncclCommDestroy; aborts the NCCL communicator if that fails. Never
  // throws: failures are printed as warnings.
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }
  bool moves_device_memory() const override { return true; }
  Communicator& host() override { return host_; }

  // Buffers in this GPU's memory (managed memory too). Empty collectives (0 bytes) are
  // counted and move nothing.
  void broadcast(void* data, int64_t bytes, int root) override;
  void allreduce_sum(float* data, int64_t count) override;
  void allreduce_sum(double* data, int64_t count) override;
  // Queued on NCCL's stream behind the compute stream's work so far; the compute stream does
  // not wait for it until finish(handle).
  int64_t start_allreduce_sum(float* data, int64_t count) override;
  int64_t start_allreduce_sum(double* data, int64_t count) override;
  void allgather(const void* send, int64_t bytes, void* receive) override;
  // Batches are host memory (staged in pinned host buffers; docs/gpu.md says why): scatterv
  // and gatherv are errors here that name host(), which moves them.
  void scatterv(const float* send, const std::vector<int64_t>& counts,
                const std::vector<int64_t>& displacements, float* receive, int root) override;
  int64_t start_scatterv(const float* send, const std::vector<int64_t>& counts,
                         const std::vector<int64_t>& displacements, float* receive,
                         int root) override;
  void gatherv(const float* send, const std::vector<int64_t>& counts,
               const std::vector<int64_t>& displacements, float* receive, int root) override;
  // Every started collective is finished here: this class must override every start_* of
  // Communicator whose default finishes at start.
  void finish(int64_t handle) override;
  // Lets the host communicator's started collectives advance while the engine works between
  // them (a prefetched batch during backward); NCCL's own need no help.
  void progress() override;
  // A host barrier: it orders the ranks' host code, not their GPU work. It runs on host()
  // with this communicator's deadline, step and label, and is counted here.
  void barrier() override;
  // Aborts the NCCL communicator (GPU kernels waiting for peers quit), then ends the job
  // through the host communicator.
  [[noreturn]] void abort(int code) override;

  // How long the destructor waits for NCCL to finish when no deadline is set.
  static constexpr std::chrono::seconds kFinalizeLimit{60};
  // How long ncclCommAbort may take before the job is ended without it.
  static constexpr std::chrono::seconds kAbortLimit{10};

 private:
  using Clock = std::chrono::steady_clock;

  // One collective on the GPU, as a timeout report or error names it. `bytes`: what this
  // rank sends or receives.
  struct Operation {
    const char* name;       // "allreduce_sum", ...
    const char* nccl_call;  // "ncclAllReduce", ...
    int64_t sequence;
    int64_t bytes;
    Clock::time_point start;
  };
  // A started collective not yet finished, with the label it was started under.
  struct Pending {
    Operation op;
    std::string label;
    cudaEvent_t done;  // fires when NCCL is done with it; null for an empty one
  };

  // --- nccl_communicator.cpp: set-up, memory checks, the collectives ---------------------
  void initialize();
  void release_cuda_objects() noexcept;
  // Throws unless `pointer` is in this GPU's memory (or managed memory), naming where
  // it is and host() for host buffers.
  void require_device(const char* where, const char* what, const void* pointer) const;
  // Numbers a collective (the barrier calls next_sequence() itself).
  Operation begin(const char* name, const char* nccl_call, int64_t bytes);
  template <typename T>
  int64_t start_allreduce(T* data, int64_t count, ncclDataType_t type);

  // --- nccl_wait.cpp: running NCCL calls and waiting for them ----------------------------
  // A device collective is: order_after_compute(op); done = enqueued(op, ncclXxx(...,
  // stream_)); then, now or at finish(), complete(op, done). Any failure aborts the NCCL
  // communicator before it throws, so that no peer waits for this rank in vain.
  // NCCL's stream waits for the compute stream's work so far.
  void order_after_compute(const Operation& op);
  // Checks the NCCL call's result, waits until NCCL has queued its kernels, and returns an
  // event recorded behind them.
  cudaEvent_t enqueued(const Operation& op, ncclResult_t launched);
  // Makes the compute stream's later work wait for `done`, waits on the host until it fired,
  // and recycles it.
  void complete(const Operation& op, cudaEvent_t done);
  // Polls until NCCL has handed its last call to the GPU (the state leaves ncclInProgress).
  void wait_until_started(const Operation& op);
  // Polls until `done` fired, watching for NCCL errors.
  void wait_until_done(const Operation& op, cudaEvent_t done);
  // Throws (after aborting the NCCL communicator) when NCCL reported an error; returns the
  // state otherwise (ncclSuccess or ncclInProgress).
  ncclResult_t async_state(const Operation& op);
  void check_deadline(const Operation& op, const char* stage);
  [[noreturn]] void time_out(const Operation& op, const char* stage);
  // Aborts the NCCL communicator and throws lockstep::Error naming op's NCCL call, `result`
  // and `how` the failure showed ("returned", "reported by ncclCommGetAsyncError").
  [[noreturn]] void fail(const Operation& op, ncclResult_t result, const char* how);
  // Waits until ncclCommInitRankConfig completes, under the host's deadline.
  void wait_until_initialized(Clock::time_point start, double deadline_s);
  // abort_nccl(), then the host communicator's abort(code): the whole job ends.
  [[noreturn]] void end_job(int code);
  // ncclCommAbort, bounded by kAbortLimit; the communicator is unusable after. Never throws.
  void abort_nccl() noexcept;
  // ncclCommFinalize + ncclCommDestroy, bounded; false (communicator left as is) on failure.
  bool finalize_nccl() noexcept;
  // An event for one collective: a recycled one, or a new one.
  cudaEvent_t take_event();
  std::string describe(const Operation& op) const;

  Communicator& host_;
  int ordinal_;
  int rank_;
  int size_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t compute_stream_ = nullptr;  // the CUDA backend's, not owned
  cudaStream_t stream_ = nullptr;          // NCCL's, owned
  cudaEvent_t compute_ready_ = nullptr;    // recorded on compute_stream_ before each call
  std::vector<cudaEvent_t> events_;        // every event made for collectives, owned
  std::vector<cudaEvent_t> free_events_;   // those not in use
  std::map<int64_t, Pending> pending_;     // started allreduces, by sequence number
};

}  // namespace lockstep::comm
