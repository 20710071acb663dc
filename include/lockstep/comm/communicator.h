// Communicator: the collectives the data-parallel engine needs, over some group of ranks.
// Implementations: MpiCommunicator (host memory, any launcher), LocalCommunicator (one
// process), and for device memory the NCCL and host-staged communicators (nccl_communicator.h).
// Every rank of the group must call each collective in the same order with matching sizes;
// a rank with nothing to contribute (zero rows) still calls it. A communicator counts its
// collectives and knows what its caller is doing, so that one that never completes (a peer
// hung or gone) is reported by name before the job is ended (set_deadline).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/base/exit_codes.h"

namespace lockstep::comm {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "mpi", "local", ...: for messages and reports. What a communicator can do is asked by
  // type (moves_device_memory), never by name.
  virtual std::string name() const = 0;
  // Whether its collectives take buffers in device (GPU) memory: true for the NCCL and the
  // host-staged communicators, which take device buffers only; false for MPI and local, which
  // take host buffers only.
  virtual bool moves_device_memory() const { return false; }
  // The communicator for host buffers (metrics, checks, batches): this one, unless it moves
  // device memory; then the host communicator it was made from.
  virtual Communicator& host() { return *this; }

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
  // Non-blocking collectives, for overlapping communication with computation. Each start
  // returns a handle; the collective's result is there after finish(handle). Every rank must
  // start (and run) its collectives in the same order; other collectives may run between a
  // start and its finish. Buffers stay untouched until finish. progress() lets started ones
  // advance (MPI moves non-blocking collectives only inside MPI calls): call it between
  // pieces of work. The defaults run the collective at start (blocking).
  // Allreduce: an elementwise sum over ranks of `data`, in place.
  virtual int64_t start_allreduce_sum(float* data, int64_t count);
  virtual int64_t start_allreduce_sum(double* data, int64_t count);
  // Non-blocking scatterv (same arguments): `receive` is filled, and `send` may be reused,
  // after finish(handle). The default scatters at start (blocking).
  virtual int64_t start_scatterv(const float* send, const std::vector<int64_t>& counts,
                                 const std::vector<int64_t>& displacements, float* receive,
                                 int root);
  // Waits (under the deadline) until the collective `handle` has finished.
  virtual void finish(int64_t handle);
  virtual void progress() {}
  // Every rank contributes `bytes` bytes; `receive` gets size() * bytes, in rank order.
  virtual void allgather(const void* send, int64_t bytes, void* receive) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job with `code`; used when one rank cannot go on, so that no
  // peer waits forever inside a collective.
  [[noreturn]] virtual void abort(int code) = 0;

  // Every later collective must complete within `seconds` of the moment this rank enters it;
  // 0 (the default) means no deadline. When one does not, the rank prints on stderr
  //   [rank R] error: collective timed out after T s: allreduce_sum(gradient bucket 1) #42,
  //   800 bytes, step 3; ranks not arrived: 2
  // and ends the job through abort(kExitCollectiveTimeout). A hung peer thus never leaves the
  // job running. The MPI communicator enforces it; a local one has nobody to wait for.
  // Throws lockstep::Error unless seconds >= 0 (infinity is no deadline too).
  void set_deadline(double seconds);
  double deadline() const { return deadline_s_; }
  // The training step a timeout report names (-1, the default: none).
  void set_step(int64_t step) { step_ = step; }
  int64_t step() const { return step_; }
  // What the caller is doing, named in a timeout report ("gradient bucket 1"); set it for a
  // scope with ScopedLabel. Empty by default.
  const std::string& label() const { return label_; }
  // Sets the label and returns the previous one.
  std::string exchange_label(std::string label);
  // Collectives this rank has started on this communicator, which is also the sequence
  // number (#) of the next one. Equal on every rank between collectives.
  int64_t sequence() const { return sequence_; }

 protected:
  // Implementations call this once per collective, after the argument checks.
  int64_t next_sequence() { return sequence_++; }

 private:
  double deadline_s_ = 0.0;
  int64_t step_ = -1;
  int64_t sequence_ = 0;
  std::string label_;
};

// Labels the collectives of a scope: sets the communicator's label, restores the previous one
// on exit (also when the scope throws).
class ScopedLabel {
 public:
  ScopedLabel(Communicator& communicator, std::string label)
      : communicator_(communicator), previous_(communicator.exchange_label(std::move(label))) {}
  ~ScopedLabel() { communicator_.exchange_label(std::move(previous_)); }
  ScopedLabel(const ScopedLabel&) = delete;
  ScopedLabel& operator=(const ScopedLabel&) = delete;

 private:
  Communicator& communicator_;
  std::string previous_;
};

// A group of one: every collective is a local copy (or nothing).
std::unique_ptr<Communicator> make_local_communicator();

}  // namespace lockstep::comm
