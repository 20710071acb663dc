// HostStagedCommunicator: device buffers reduced or broadcast over the host communicator (MPI)
// through a page-locked staging buffer, for ranks that share a GPU.
//
// NCCL refuses two ranks of one communicator on the same GPU ("Duplicate GPU detected"), so
// ranks that share GPUs (--allow-gpu-sharing) move their gradients this way: a copy to the
// host, the MPI collective, a copy back. Slower than NCCL, but it keeps every collective,
// deadline and report of the host communicator. Host buffers go through host() instead.
#include <cuda_runtime.h>

#include <cstdlib>

#include "backend/cuda/cuda_check.h"
#include "comm/nccl/host_scope.h"
#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/comm/nccl_communicator.h"

namespace lockstep::comm {

namespace {

// Throws unless `pointer` is in device (or managed) memory: host buffers belong to host().
void require_device(const char* where, const char* what, const void* pointer,
                    const Communicator& host) {
  LOCKSTEP_CHECK(pointer != nullptr, where << ": " << what << " is null, expected GPU memory");
  cudaPointerAttributes attributes{};
  LOCKSTEP_CUDA_CHECK(cudaPointerGetAttributes(&attributes, pointer));
  LOCKSTEP_CHECK(
      attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged,
      where << ": " << what
            << " is in host memory, expected GPU memory; host buffers go "
               "through host() (the "
            << host.name() << " communicator)");
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
  bool moves_device_memory() const override { return true; }
  Communicator& host() override { return host_; }

  // Empty collectives (0 bytes) have nothing to stage: they run on the host as they are.
  void broadcast(void* data, int64_t bytes, int root) override {
    if (bytes > 0) require_device("HostStagedCommunicator::broadcast", "data", data, host_);
    next_sequence();
    const detail::HostScope scope(host_, *this);
    if (bytes <= 0) return host_.broadcast(data, bytes, root);
    void* host = stage(static_cast<size_t>(bytes));
    if (rank() == root) backend_.copy_to_host(host, data, static_cast<size_t>(bytes));
    host_.broadcast(host, bytes, root);
    backend_.copy_from_host(data, host, static_cast<size_t>(bytes));
  }
  void allreduce_sum(float* data, int64_t count) override { reduce(data, count); }
  void allreduce_sum(double* data, int64_t count) override { reduce(data, count); }
  // Only reductions and broadcasts are staged (what gradients and weights need); the rest is
  // host memory, which host() moves.
  void scatterv(const float*, const std::vector<int64_t>&, const std::vector<int64_t>&, float*,
                int) override {
    host_only("scatterv");
  }
  void gatherv(const float*, const std::vector<int64_t>&, const std::vector<int64_t>&, float*,
               int) override {
    host_only("gatherv");
  }
  void allgather(const void*, int64_t, void*) override { host_only("allgather"); }
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
  [[noreturn]] void host_only(const char* collective) const {
    LOCKSTEP_THROW("HostStagedCommunicator::" << collective
                                              << ": stages reductions and broadcasts of GPU "
                                                 "memory only; run it on host memory over host() "
                                                 "(the "
                                              << host_.name() << " communicator)");
  }

  template <typename T>
  void reduce(T* data, int64_t count) {
    if (count > 0) require_device("HostStagedCommunicator::allreduce_sum", "data", data, host_);
    next_sequence();
    const detail::HostScope scope(host_, *this);
    if (count <= 0) return host_.allreduce_sum(data, count);
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
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
  LOCKSTEP_CHECK(device.is_cuda(),
                 "make_host_staged_communicator: expected a CUDA device, found " << device.str());
  return std::make_unique<HostStagedCommunicator>(host, device);
}

}  // namespace lockstep::comm
