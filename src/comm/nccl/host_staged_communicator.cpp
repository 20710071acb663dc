// HostStagedCommunicator: device buffers reduced over the host communicator (MPI) through a
// page-locked staging buffer. NCCL refuses two ranks of one communicator on the same GPU
// ("Duplicate GPU detected"), so ranks that share GPUs (--allow-gpu-sharing) move their
// gradients this way: a copy to the host, the MPI collective, a copy back. Slower than NCCL,
// but it keeps every collective, deadline and report of the host communicator.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>

#include "backend/cuda/cuda_check.h"
#include "comm/nccl/host_scope.h"
#include "lockstep/backend/backend.h"
#include "lockstep/comm/nccl_communicator.h"
#include "lockstep/base/error.h"

namespace lockstep::comm {

namespace {

bool in_device_memory(const void* pointer) {
  if (pointer == nullptr) return false;
  cudaPointerAttributes attributes{};
  LOCKSTEP_CUDA_CHECK(cudaPointerGetAttributes(&attributes, pointer));
  return attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged;
}

class HostStagedCommunicator final : public Communicator {
 public:
  HostStagedCommunicator(Communicator& host, Device device)
      : host_(host), device_(device), backend_(backend::backend_for(device)) {}
  ~HostStagedCommunicator() override {
    if (staging_) backend_.deallocate_pinned(staging_, staging_bytes_);
  }
  HostStagedCommunicator(const HostStagedCommunicator&) = delete;
  HostStagedCommunicator& operator=(const HostStagedCommunicator&) = delete;

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  std::string name() const override { return host_.name() + "+staging"; }

  void broadcast(void* data, int64_t bytes, int root) override {
    next_sequence();
    const detail::HostScope scope(host_, *this);
    if (!in_device_memory(data)) return host_.broadcast(data, bytes, root);
    void* host = stage(static_cast<size_t>(std::max<int64_t>(bytes, 0)));
    if (rank() == root) backend_.copy_to_host(host, data, static_cast<size_t>(bytes));
    host_.broadcast(host, bytes, root);
    backend_.copy_from_host(data, host, static_cast<size_t>(bytes));
  }
  void allreduce_sum(float* data, int64_t count) override { reduce(data, count); }
  void allreduce_sum(double* data, int64_t count) override { reduce(data, count); }
  void scatterv(const float* send, const std::vector<int64_t>& counts,
                const std::vector<int64_t>& displacements, float* receive, int root) override {
    next_sequence();
    const detail::HostScope scope(host_, *this);
    host_.scatterv(send, counts, displacements, receive, root);
  }
  void gatherv(const float* send, const std::vector<int64_t>& counts,
               const std::vector<int64_t>& displacements, float* receive, int root) override {
    next_sequence();
    const detail::HostScope scope(host_, *this);
    host_.gatherv(send, counts, displacements, receive, root);
  }
  void allgather(const void* send, int64_t bytes, void* receive) override {
    next_sequence();
    const detail::HostScope scope(host_, *this);
    host_.allgather(send, bytes, receive);
  }
  void barrier() override {
    next_sequence();
    const detail::HostScope scope(host_, *this);
    host_.barrier();
  }
  [[noreturn]] void abort(int code) override {
    host_.abort(code);
    std::_Exit(code);  // not reached: the host's abort ends the process
  }

 private:
  template <typename T>
  void reduce(T* data, int64_t count) {
    next_sequence();
    const detail::HostScope scope(host_, *this);
    if (!in_device_memory(data)) return host_.allreduce_sum(data, count);
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 0)) * sizeof(T);
    T* host = static_cast<T*>(stage(bytes));
    backend_.copy_to_host(host, data, bytes);
    host_.allreduce_sum(host, count);
    backend_.copy_from_host(data, host, bytes);
  }

  // The staging buffer, grown to at least `bytes` (kept for later calls).
  void* stage(size_t bytes) {
    if (bytes > staging_bytes_) {
      if (staging_) backend_.deallocate_pinned(staging_, staging_bytes_);
      staging_ = nullptr;
      staging_ = backend_.allocate_pinned(bytes);
      staging_bytes_ = bytes;
    }
    return staging_;
  }

  Communicator& host_;
  Device device_;
  backend::Backend& backend_;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_host_staged_communicator(Communicator& host, Device device) {
  LOCKSTEP_CHECK(device.is_cuda(), "make_host_staged_communicator: expected a CUDA device, found "
                                       << device.str());
  return std::make_unique<HostStagedCommunicator>(host, device);
}

}  // namespace lockstep::comm
