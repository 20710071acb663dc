// NcclCommunicator: set-up (the unique id over the host communicator, a non-blocking
// ncclCommInitRankConfig), the check that buffers are in this GPU's memory, and the
// collectives. Waiting, timeouts and aborts are in nccl_wait.cpp.
#include "comm/nccl/nccl_communicator.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "comm/collective_args.h"
#include "comm/nccl/host_scope.h"
#include "comm/nccl/nccl_check.h"
#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/comm/nccl_communicator.h"

namespace lockstep::comm {

namespace {

using detail::HostScope;

const char* memory_name(cudaMemoryType type) {
  switch (type) {
    case cudaMemoryTypeDevice:
      return "GPU memory";
    case cudaMemoryTypeManaged:
      return "managed memory";
    case cudaMemoryTypeHost:
      return "page-locked host memory";
    default:
      return "host memory";
  }
}

}  // namespace

NcclCommunicator::NcclCommunicator(Communicator& host, int ordinal)
    : host_(host), ordinal_(ordinal), rank_(host.rank()), size_(host.size()) {
  try {
    initialize();
  } catch (...) {
    abort_nccl();
    release_cuda_objects();
    throw;
  }
}

void NcclCommunicator::initialize() {
  const backend::cuda::DeviceGuard guard(ordinal_);
  // The compute stream of this GPU: NCCL work is ordered against it with events.
  compute_stream_ = backend::cuda::cuda_backend(ordinal_).stream();
  LOCKSTEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  LOCKSTEP_CUDA_CHECK(cudaEventCreateWithFlags(&compute_ready_, cudaEventDisableTiming));

  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank_ == 0) LOCKSTEP_NCCL_CHECK(ncclGetUniqueId(&id));
  {
    const ScopedLabel label(host_, "NCCL unique id");
    host_.broadcast(&id, static_cast<int64_t>(sizeof(id)), 0);
  }
  // Non-blocking: ncclCommInitRankConfig returns at once (ncclInProgress) and the set-up
  // continues in the background; polling it lets a rank give up on a peer that never joins.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const Clock::time_point start = Clock::now();
  LOCKSTEP_NCCL_CHECK_STARTED(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
  wait_until_initialized(start, host_.deadline());
}

void NcclCommunicator::release_cuda_objects() noexcept {
  if (stream_ == nullptr && compute_ready_ == nullptr && events_.empty()) return;
  // No synchronisation: CUDA frees a stream or event only once the work queued on it is done,
  // and waiting here could hang on a collective that was aborted but never ended.
  int previous = 0;
  LOCKSTEP_CUDA_WARN(cudaGetDevice(&previous));
  LOCKSTEP_CUDA_WARN(cudaSetDevice(ordinal_));  // by hand: DeviceGuard may throw
  if (stream_ != nullptr) LOCKSTEP_CUDA_WARN(cudaStreamDestroy(stream_));
  if (compute_ready_ != nullptr) LOCKSTEP_CUDA_WARN(cudaEventDestroy(compute_ready_));
  for (cudaEvent_t event : events_) LOCKSTEP_CUDA_WARN(cudaEventDestroy(event));
  stream_ = nullptr;
  compute_ready_ = nullptr;
  events_.clear();
  free_events_.clear();
  pending_.clear();
  LOCKSTEP_CUDA_WARN(cudaSetDevice(previous));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr && !finalize_nccl()) abort_nccl();
  release_cuda_objects();
}

void NcclCommunicator::require_device(const char* where, const char* what,
                                      const void* pointer) const {
  LOCKSTEP_CHECK(pointer != nullptr, where << ": " << what << " is null, expected GPU memory");
  cudaPointerAttributes attributes{};
  // Since CUDA 11 this succeeds for any pointer; plain host memory is
  // cudaMemoryTypeUnregistered.
  LOCKSTEP_CUDA_CHECK(cudaPointerGetAttributes(&attributes, pointer));
  if (attributes.type == cudaMemoryTypeManaged) return;
  LOCKSTEP_CHECK(attributes.type == cudaMemoryTypeDevice,
                 where << ": " << what << " is in " << memory_name(attributes.type)
                       << ", expected GPU memory; host buffers go through host() (the "
                       << host_.name() << " communicator)");
  LOCKSTEP_CHECK(attributes.device == ordinal_,
                 where << ": " << what << " is in the memory of cuda:" << attributes.device
                       << ", but this NCCL communicator runs on cuda:" << ordinal_);
}

NcclCommunicator::Operation NcclCommunicator::begin(const char* name, const char* nccl_call,
                                                    int64_t bytes) {
  return {name, nccl_call, next_sequence(), bytes, Clock::now()};
}

void NcclCommunicator::broadcast(void* data, int64_t bytes, int root) {
  const char* where = "NcclCommunicator::broadcast";
  detail::check_root(where, root, size_);
  detail::check_length(where, "bytes", bytes);
  detail::check_buffer(where, "data", data, bytes);
  if (bytes == 0) {  // the same on every rank: nothing to move
    next_sequence();
    return;
  }
  require_device(where, "data", data);
  const Operation op = begin("broadcast", "ncclBroadcast", bytes);
  const backend::cuda::DeviceGuard guard(ordinal_);
  order_after_compute(op);
  complete(op, enqueued(op, ncclBroadcast(data, data, static_cast<size_t>(bytes), ncclUint8, root,
                                          comm_, stream_)));
}

void NcclCommunicator::allreduce_sum(float* data, int64_t count) {
  finish(start_allreduce_sum(data, count));
}

void NcclCommunicator::allreduce_sum(double* data, int64_t count) {
  finish(start_allreduce_sum(data, count));
}

int64_t NcclCommunicator::start_allreduce_sum(float* data, int64_t count) {
  return start_allreduce(data, count, ncclFloat32);
}

int64_t NcclCommunicator::start_allreduce_sum(double* data, int64_t count) {
  return start_allreduce(data, count, ncclFloat64);
}

// NCCL takes size_t counts: no split beyond INT_MAX elements, unlike MPI.
template <typename T>
int64_t NcclCommunicator::start_allreduce(T* data, int64_t count, ncclDataType_t type) {
  const char* where = "NcclCommunicator::start_allreduce_sum";
  detail::check_length(where, "count", count);
  detail::check_buffer(where, "data", data, count);
  const int64_t bytes = count * static_cast<int64_t>(sizeof(T));
  if (count == 0) {  // the same on every rank: nothing to move or wait for
    const Operation op = begin("allreduce_sum", "", 0);
    pending_.emplace(op.sequence, Pending{op, label(), nullptr});
    return op.sequence;
  }
  require_device(where, "data", data);
  const Operation op = begin("allreduce_sum", "ncclAllReduce", bytes);
  const backend::cuda::DeviceGuard guard(ordinal_);
  order_after_compute(op);
  const cudaEvent_t done = enqueued(
      op, ncclAllReduce(data, data, static_cast<size_t>(count), type, ncclSum, comm_, stream_));
  pending_.emplace(op.sequence, Pending{op, label(), done});
  return op.sequence;
}

void NcclCommunicator::finish(int64_t handle) {
  const auto it = pending_.find(handle);
  LOCKSTEP_CHECK(it != pending_.end(), "NcclCommunicator::finish: no collective #"
                                           << handle << " was started and left unfinished");
  const Pending pending = it->second;
  pending_.erase(it);  // also when the wait below throws: the handle is spent
  if (pending.done == nullptr) return;
  const ScopedLabel label(*this, pending.label);
  const backend::cuda::DeviceGuard guard(ordinal_);
  complete(pending.op, pending.done);
}

void NcclCommunicator::progress() { host_.progress(); }

void NcclCommunicator::scatterv(const float* send, const std::vector<int64_t>& counts,
                                const std::vector<int64_t>& displacements, float* receive,
                                int root) {
  finish(start_scatterv(send, counts, displacements, receive, root));
}

int64_t NcclCommunicator::start_scatterv(const float* /*send*/,
                                         const std::vector<int64_t>& /*counts*/,
                                         const std::vector<int64_t>& /*displacements*/,
                                         float* /*receive*/, int /*root*/) {
  LOCKSTEP_THROW(
      "NcclCommunicator::scatterv: the NCCL communicator moves GPU memory, and "
      "batches are host memory: scatter them over host() (the "
      << host_.name() << " communicator)");
}

void NcclCommunicator::gatherv(const float* /*send*/, const std::vector<int64_t>& /*counts*/,
                               const std::vector<int64_t>& /*displacements*/, float* /*receive*/,
                               int /*root*/) {
  LOCKSTEP_THROW(
      "NcclCommunicator::gatherv: the NCCL communicator moves GPU memory, and "
      "gathered rows are host memory: gather them over host() (the "
      << host_.name() << " communicator)");
}

void NcclCommunicator::allgather(const void* send, int64_t bytes, void* receive) {
  const char* where = "NcclCommunicator::allgather";
  detail::check_length(where, "bytes", bytes);
  detail::check_buffer(where, "send", send, bytes);
  detail::check_buffer(where, "receive", receive, bytes);
  if (bytes == 0) {  // the same on every rank: nothing to move
    next_sequence();
    return;
  }
  require_device(where, "send", send);
  require_device(where, "receive", receive);
  // NCCL reads send while writing receive: they may share memory only as NCCL's in-place
  // form, send being this rank's own slot of receive.
  const auto s = reinterpret_cast<uintptr_t>(send);
  const auto r = reinterpret_cast<uintptr_t>(receive);
  const auto length = static_cast<uintptr_t>(bytes);
  const bool overlap = s < r + length * static_cast<uintptr_t>(size_) && r < s + length;
  LOCKSTEP_CHECK(!overlap || s == r + length * static_cast<uintptr_t>(rank_),
                 where << ": send overlaps receive but is not this rank's slot of it (receive + "
                       << rank_ << " * " << bytes << " bytes)");
  const Operation op = begin("allgather", "ncclAllGather", bytes);
  const backend::cuda::DeviceGuard guard(ordinal_);
  order_after_compute(op);
  complete(op, enqueued(op, ncclAllGather(send, receive, static_cast<size_t>(bytes), ncclUint8,
                                          comm_, stream_)));
}

void NcclCommunicator::barrier() {
  const HostScope scope(host_, *this);
  next_sequence();
  host_.barrier();
}

void NcclCommunicator::abort(int code) { end_job(code); }

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Device device) {
  LOCKSTEP_CHECK(device.is_cuda(),
                 "NCCL communicator: needs a CUDA device, found " << device.str());
  std::string why;
  const int count = backend::cuda_device_count(&why);
  LOCKSTEP_CHECK(count > 0, "NCCL communicator for " << device.str() << ": no CUDA device answers ("
                                                     << why << ")");
  LOCKSTEP_CHECK(device.index >= 0 && device.index < count,
                 "NCCL communicator for " << device.str() << ": this process sees " << count
                                          << (count == 1 ? " GPU" : " GPUs")
                                          << " (cuda:0 to cuda:" << count - 1 << ")");
  return std::make_unique<NcclCommunicator>(host, device.index);
}

}  // namespace lockstep::comm
