// MpiCommunicator: the Communicator over a duplicate of MPI_COMM_WORLD. Transfers beyond
// max_chunk elements (MPI counts are int) are split into several calls, never truncated.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

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
  void barrier() override;
  [[noreturn]] void abort(int code) override;

 private:
  void allreduce_chunks(void* data, int64_t count, MPI_Datatype type, int64_t element_bytes);
  void allgather_chunks(const char* send, int64_t bytes, char* receive);
  // True when one MPI_Scatterv/MPI_Gatherv can take the layout: every count and displacement
  // within max_chunk_ (so within int).
  bool fits_one_call(const std::vector<int64_t>& counts,
                     const std::vector<int64_t>& displacements) const;
  // The split paths of scatterv/gatherv: point-to-point messages of at most max_chunk_.
  void scatterv_chunks(const float* send, const std::vector<int64_t>& counts,
                       const std::vector<int64_t>& displacements, float* receive, int root);
  void gatherv_chunks(const float* send, const std::vector<int64_t>& counts,
                      const std::vector<int64_t>& displacements, float* receive, int root);
  // Posts nonblocking sends or receives of `count` floats at `data`, in chunks, into requests.
  void post_sends(const float* data, int64_t count, int peer, int tag,
                  std::vector<MPI_Request>& requests) const;
  void post_receives(float* data, int64_t count, int peer, int tag,
                     std::vector<MPI_Request>& requests) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  int64_t max_chunk_;
};

}  // namespace lockstep::comm
