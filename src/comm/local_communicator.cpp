// LocalCommunicator: a group of one process. Collectives are copies; arguments are checked
// exactly as the MPI communicator checks them, so code tested alone fails alike under mpirun.
// Collectives are counted like the MPI communicator's; with no peer to wait for, the deadline
// has nothing to enforce.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "comm/collective_args.h"
#include "lockstep/comm/communicator.h"

namespace lockstep::comm {

namespace {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }

  void broadcast(void* data, int64_t bytes, int root) override {
    const char* where = "LocalCommunicator::broadcast";
    detail::check_root(where, root, 1);
    detail::check_length(where, "bytes", bytes);
    detail::check_buffer(where, "data", data, bytes);
    next_sequence();
  }

  void allreduce_sum(float* data, int64_t count) override {
    check_reduce(data, count);
    next_sequence();
  }
  void allreduce_sum(double* data, int64_t count) override {
    check_reduce(data, count);
    next_sequence();
  }

  void scatterv(const float* send, const std::vector<int64_t>& counts,
                const std::vector<int64_t>& displacements, float* receive, int root) override {
    const char* where = "LocalCommunicator::scatterv";
    detail::check_root(where, root, 1);
    detail::check_layout(where, counts, displacements, 1);
    detail::check_buffer(where, "send", send, counts[0]);
    detail::check_buffer(where, "receive", receive, counts[0]);
    next_sequence();
    copy(receive, send + displacements[0], counts[0]);
  }

  void gatherv(const float* send, const std::vector<int64_t>& counts,
               const std::vector<int64_t>& displacements, float* receive, int root) override {
    const char* where = "LocalCommunicator::gatherv";
    detail::check_root(where, root, 1);
    detail::check_layout(where, counts, displacements, 1);
    detail::check_buffer(where, "send", send, counts[0]);
    detail::check_buffer(where, "receive", receive, counts[0]);
    next_sequence();
    copy(receive + displacements[0], send, counts[0]);
  }

  void allgather(const void* send, int64_t bytes, void* receive) override {
    const char* where = "LocalCommunicator::allgather";
    detail::check_length(where, "bytes", bytes);
    detail::check_buffer(where, "send", send, bytes);
    detail::check_buffer(where, "receive", receive, bytes);
    next_sequence();
    if (bytes > 0) std::memmove(receive, send, static_cast<size_t>(bytes));
  }

  void barrier() override { next_sequence(); }

  // The job is this process: flush what it printed and end it.
  [[noreturn]] void abort(int code) override {
    std::fflush(nullptr);
    std::_Exit(code);
  }

 private:
  static void check_reduce(const void* data, int64_t count) {
    const char* where = "LocalCommunicator::allreduce_sum";
    detail::check_length(where, "count", count);
    detail::check_buffer(where, "data", data, count);
  }

  // memmove: a caller may gather a rank's rows in place (send inside receive).
  static void copy(float* to, const float* from, int64_t count) {
    if (count > 0) std::memmove(to, from, static_cast<size_t>(count) * sizeof(float));
  }
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace lockstep::comm
