// MpiCommunicator: set-up on a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, and the
// collectives of fixed-size buffers (broadcast, allreduce, allgather, barrier) in chunks,
// each a non-blocking call waited for under the deadline (mpi_wait.cpp).
#include "comm/mpi/mpi_communicator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "comm/collective_args.h"
#include "comm/mpi/mpi_check.h"
#include "lockstep/base/error.h"
#include "lockstep/base/logging.h"
#include "lockstep/comm/mpi_communicator.h"

namespace lockstep::comm {

namespace {

// Calls body(offset, n) for consecutive chunks [offset, offset + n) of [0, count), n <= limit.
template <typename Body>
void for_each_chunk(int64_t count, int64_t limit, Body body) {
  for (int64_t offset = 0; offset < count;) {
    const int64_t n = std::min(limit, count - offset);
    body(offset, static_cast<int>(n));
    offset += n;
  }
}

// A committed MPI datatype, freed when this goes away (also when a call throws).
class TypeGuard {
 public:
  explicit TypeGuard(MPI_Datatype type) : type_(type) {}
  ~TypeGuard() { MPI_Type_free(&type_); }
  TypeGuard(const TypeGuard&) = delete;
  TypeGuard& operator=(const TypeGuard&) = delete;
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_;
};

}  // namespace

MpiCommunicator::MpiCommunicator(int64_t max_chunk) : max_chunk_(max_chunk) {
  LOCKSTEP_CHECK(
      max_chunk >= 1 && max_chunk <= kMpiMaxChunk,
      "MpiCommunicator: max_chunk must be from 1 to " << kMpiMaxChunk << ", found " << max_chunk);
  int initialized = 0, finalized = 0;
  LOCKSTEP_MPI_CHECK(MPI_Initialized(&initialized));
  LOCKSTEP_MPI_CHECK(MPI_Finalized(&finalized));
  LOCKSTEP_CHECK(initialized && !finalized,
                 "MpiCommunicator: MPI must be running (construct a lockstep::runtime::Runtime "
                 "first), found it "
                     << (finalized ? "finalised" : "not initialised"));
  // A private duplicate: Lockstep's messages never match the application's, and its error
  // handler (return codes instead of aborting) does not change MPI_COMM_WORLD.
  LOCKSTEP_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  try {
    LOCKSTEP_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    LOCKSTEP_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    LOCKSTEP_MPI_CHECK(MPI_Comm_size(comm_, &size_));
    arrivals_ = std::make_unique<detail::Arrivals>(comm_);
    allreduce_algorithm_ = std::make_unique<detail::AllreduceAlgorithm>(comm_);
  } catch (...) {
    allreduce_algorithm_.reset();
    arrivals_.reset();
    MPI_Comm_free(&comm_);
    throw;
  }
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || comm_ == MPI_COMM_NULL) return;  // MPI already released everything
  allreduce_algorithm_.reset();
  arrivals_.reset();
  const int code = MPI_Comm_free(&comm_);
  if (code != MPI_SUCCESS) {
    logging::warn("MPI_Comm_free failed with code %d", code);
  }
}

void MpiCommunicator::broadcast(void* data, int64_t bytes, int root) {
  const char* where = "MpiCommunicator::broadcast";
  detail::check_root(where, root, size_);
  detail::check_length(where, "bytes", bytes);
  detail::check_buffer(where, "data", data, bytes);
  const Operation op = begin("broadcast", bytes);
  auto* base = static_cast<char*>(data);
  for_each_chunk(bytes, max_chunk_, [&](int64_t offset, int n) {
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Ibcast(base + offset, n, MPI_BYTE, root, comm_, &request));
    wait(request, op);
  });
}

void MpiCommunicator::allreduce_sum(float* data, int64_t count) {
  allreduce_chunks(data, count, MPI_FLOAT, sizeof(float));
}

void MpiCommunicator::allreduce_sum(double* data, int64_t count) {
  allreduce_chunks(data, count, MPI_DOUBLE, sizeof(double));
}

void MpiCommunicator::allreduce_chunks(void* data, int64_t count, MPI_Datatype type,
                                       int64_t element_bytes) {
  const char* where = "MpiCommunicator::allreduce_sum";
  detail::check_length(where, "count", count);
  detail::check_buffer(where, "data", data, count);
  const Operation op = begin("allreduce_sum", count * element_bytes);
  auto* base = static_cast<char*>(data);
  for_each_chunk(count, max_chunk_, [&](int64_t offset, int n) {
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(allreduce_algorithm_->post(base + offset * element_bytes, n, type,
                                                  n * element_bytes, comm_, &request));
    wait(request, op);
  });
}

int64_t MpiCommunicator::start_allreduce_sum(float* data, int64_t count) {
  return start_allreduce(data, count, MPI_FLOAT, sizeof(float));
}

int64_t MpiCommunicator::start_allreduce_sum(double* data, int64_t count) {
  return start_allreduce(data, count, MPI_DOUBLE, sizeof(double));
}

int64_t MpiCommunicator::start_allreduce(void* data, int64_t count, MPI_Datatype type,
                                         int64_t element_bytes) {
  const char* where = "MpiCommunicator::start_allreduce_sum";
  detail::check_length(where, "count", count);
  detail::check_buffer(where, "data", data, count);
  Pending pending{begin("allreduce_sum", count * element_bytes), label(), {}, {}, {}};
  auto* base = static_cast<char*>(data);
  for_each_chunk(count, max_chunk_, [&](int64_t offset, int n) {
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(allreduce_algorithm_->post(base + offset * element_bytes, n, type,
                                                  n * element_bytes, comm_, &request));
    pending.requests.push_back(request);
  });
  const int64_t handle = pending.op.sequence;
  pending_.emplace(handle, std::move(pending));
  return handle;
}

void MpiCommunicator::finish(int64_t handle) {
  const auto it = pending_.find(handle);
  LOCKSTEP_CHECK(it != pending_.end(), "MpiCommunicator::finish: no collective #"
                                           << handle << " was started and left unfinished");
  Pending& pending = it->second;
  const ScopedLabel label(*this, pending.label);
  wait(pending.requests, pending.op);
  pending_.erase(it);
}

void MpiCommunicator::progress() {
  for (auto& [handle, pending] : pending_) {
    int done = 0;
    LOCKSTEP_MPI_CHECK(MPI_Testall(static_cast<int>(pending.requests.size()),
                                   pending.requests.data(), &done, MPI_STATUSES_IGNORE));
  }
}

void MpiCommunicator::allgather(const void* send, int64_t bytes, void* receive) {
  const char* where = "MpiCommunicator::allgather";
  detail::check_length(where, "bytes", bytes);
  detail::check_buffer(where, "send", send, bytes);
  detail::check_buffer(where, "receive", receive, bytes);
  const Operation op = begin("allgather", bytes);
  if (bytes == 0) return;  // the same on every rank: nobody calls MPI
  if (bytes <= max_chunk_) {
    const int n = static_cast<int>(bytes);
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Iallgather(send, n, MPI_BYTE, receive, n, MPI_BYTE, comm_, &request));
    wait(request, op);
    return;
  }
  allgather_chunks(static_cast<const char*>(send), bytes, static_cast<char*>(receive), op);
}

// Chunk [offset, offset + n) of every rank lands at r * bytes + offset of `receive`: one
// allgather per chunk, received through a type of n bytes whose extent is the whole `bytes`,
// so consecutive ranks' pieces are `bytes` apart.
void MpiCommunicator::allgather_chunks(const char* send, int64_t bytes, char* receive,
                                       const Operation& op) {
  for_each_chunk(bytes, max_chunk_, [&](int64_t offset, int n) {
    MPI_Datatype block = MPI_DATATYPE_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Type_contiguous(n, MPI_BYTE, &block));
    TypeGuard block_guard(block);
    MPI_Datatype strided = MPI_DATATYPE_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Type_create_resized(block, 0, static_cast<MPI_Aint>(bytes), &strided));
    TypeGuard strided_guard(strided);
    LOCKSTEP_MPI_CHECK(MPI_Type_commit(&strided));
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(
        MPI_Iallgather(send + offset, n, MPI_BYTE, receive + offset, 1, strided, comm_, &request));
    wait(request, op);
  });
}

void MpiCommunicator::barrier() {
  const Operation op = begin("barrier", 0);
  MPI_Request request = MPI_REQUEST_NULL;
  LOCKSTEP_MPI_CHECK(MPI_Ibarrier(comm_, &request));
  wait(request, op);
}

void MpiCommunicator::abort(int code) {
  std::fflush(nullptr);
  // The whole job, not just this communicator's group: peers may be waiting anywhere.
  MPI_Abort(MPI_COMM_WORLD, code);
  // MPI_Abort does not return; should an implementation return anyway, this process must
  // still end, as the interface promises.
  std::_Exit(code);
}

std::unique_ptr<Communicator> make_mpi_world_communicator(int64_t max_chunk) {
  return std::make_unique<MpiCommunicator>(max_chunk);
}

}  // namespace lockstep::comm
