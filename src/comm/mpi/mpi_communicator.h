// MpiCommunicator: the Communicator over a duplicate of MPI_COMM_WORLD. Transfers beyond
// max_chunk elements (MPI counts are int) are split into several calls, never truncated.
// Every call is non-blocking and polled against the deadline (set_deadline).
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "comm/mpi/allreduce_algorithm.h"
#include "comm/mpi/arrivals.h"
#include "lockstep/comm/communicator.h"

namespace lockstep::comm {

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(int64_t max_chunk);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void broadcast(void* data, int64_t bytes, int root) override;
  void allreduce_sum(float* data, int64_t count) override;
  void allreduce_sum(double* data, int64_t count) override;
  void scatterv(const float* send, const std::vector<int64_t>& counts,
                const std::vector<int64_t>& displacements, float* receive, int root) override;
  void gatherv(const float* send, const std::vector<int64_t>& counts,
               const std::vector<int64_t>& displacements, float* receive, int root) override;
  void allgather(const void* send, int64_t bytes, void* receive) override;
  int64_t start_scatterv(const float* send, const std::vector<int64_t>& counts,
                         const std::vector<int64_t>& displacements, float* receive,
                         int root) override;
  int64_t start_allreduce_sum(float* data, int64_t count) override;
  int64_t start_allreduce_sum(double* data, int64_t count) override;
  void finish(int64_t handle) override;
  void progress() override;
  void barrier() override;
  [[noreturn]] void abort(int code) override;

 private:
  // One collective under way, as a timeout report names it. `bytes`: what this rank sends or
  // receives.
  struct Operation {
    const char* name;
    int64_t sequence;
    int64_t bytes;
    std::chrono::steady_clock::time_point start;
  };
  // Starts a collective (after its argument checks): numbers it and tells rank 0.
  Operation begin(const char* name, int64_t bytes);
  // Polls until every request completes, from spinning to short naps; past the deadline,
  // reports `op` and ends the job.
  void wait(MPI_Request* requests, int count, const Operation& op);
  void wait(MPI_Request& request, const Operation& op) { wait(&request, 1, op); }
  void wait(std::vector<MPI_Request>& requests, const Operation& op) {
    wait(requests.data(), static_cast<int>(requests.size()), op);
  }
  [[noreturn]] void time_out(MPI_Request* requests, int count, const Operation& op);

  // A non-blocking collective between its start and finish, with the label it was started
  // under (a timeout report names it) and, for a scatterv, the count arrays MPI reads.
  struct Pending {
    Operation op;
    std::string label;
    std::vector<MPI_Request> requests;
    std::vector<int> counts, displacements;
  };
  int64_t start_allreduce(void* data, int64_t count, MPI_Datatype type, int64_t element_bytes);
  void allreduce_chunks(void* data, int64_t count, MPI_Datatype type, int64_t element_bytes);
  void allgather_chunks(const char* send, int64_t bytes, char* receive, const Operation& op);
  // True when one MPI_Scatterv/MPI_Gatherv can take the layout: every count and displacement
  // within max_chunk_ (so within int).
  bool fits_one_call(const std::vector<int64_t>& counts,
                     const std::vector<int64_t>& displacements) const;
  // The split paths of scatterv/gatherv: point-to-point messages of at most max_chunk_.
  void scatterv_chunks(const float* send, const std::vector<int64_t>& counts,
                       const std::vector<int64_t>& displacements, float* receive, int root,
                       const Operation& op);
  void gatherv_chunks(const float* send, const std::vector<int64_t>& counts,
                      const std::vector<int64_t>& displacements, float* receive, int root,
                      const Operation& op);
  // Posts nonblocking sends or receives of `count` floats at `data`, in chunks, into requests.
  void post_sends(const float* data, int64_t count, int peer, int tag,
                  std::vector<MPI_Request>& requests) const;
  void post_receives(float* data, int64_t count, int peer, int tag,
                     std::vector<MPI_Request>& requests) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  int64_t max_chunk_;
  std::unique_ptr<detail::Arrivals> arrivals_;
  std::unique_ptr<detail::AllreduceAlgorithm> allreduce_algorithm_;
  std::map<int64_t, Pending> pending_;  // by sequence number
};

}  // namespace lockstep::comm
