// Communicator: the collectives the data-parallel engine needs, over some group of ranks.
// Implementations: MpiCommunicator (host memory, any launcher), LocalCommunicator (one
// process); an NCCL one for device memory plugs in behind the same interface.
// Every rank of the group must call each collective in the same order with matching sizes;
// a rank with nothing to contribute (zero rows) still calls it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lockstep::comm {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "mpi", "local", ...
  virtual std::string name() const = 0;

  // Copies root's `bytes` bytes at `data` into `data` on every rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Elementwise sum over ranks, in place, the result on every rank.
  virtual void allreduce_sum(float* data, int64_t count) = 0;
  virtual void allreduce_sum(double* data, int64_t count) = 0;
  // Root sends elements [displacements[r], displacements[r] + counts[r]) of `send` to rank r,
  // which receives counts[rank()] elements into `receive`. counts and displacements have
  // size() entries on every rank; `send` is only read on root.
  virtual void scatterv(const float* send, const std::vector<int64_t>& counts,
                        const std::vector<int64_t>& displacements, float* receive, int root) = 0;
  // The reverse: rank r's counts[r] elements land at displacements[r] of `receive` on root.
  virtual void gatherv(const float* send, const std::vector<int64_t>& counts,
                       const std::vector<int64_t>& displacements, float* receive, int root) = 0;
  // Every rank contributes `bytes` bytes; `receive` gets size() * bytes, in rank order.
  virtual void allgather(const void* send, int64_t bytes, void* receive) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job with `code`; used when one rank cannot go on, so that no
  // peer waits forever inside a collective.
  [[noreturn]] virtual void abort(int code) = 0;
};

// A group of one: every collective is a local copy (or nothing).
std::unique_ptr<Communicator> make_local_communicator();

}  // namespace lockstep::comm
