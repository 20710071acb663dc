// The NCCL communicator on one GPU, made from a local (one-process) host communicator, no
// mpirun: device buffers go over NCCL and come back right, in order with the GPU's compute
// stream; host buffers are refused and named host()'s, which is the host communicator; the
// barrier runs there with this communicator's deadline, step and label; every collective is
// counted. Every test skips when no GPU answers.
#include "lockstep/comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gpu/gpu_test.h"
#include "lockstep/comm/communicator.h"

namespace lockstep::gpu_testing {
namespace {

// A host communicator that forwards to a local one and records, for each collective, the
// deadline, step and label it was called with: what a timeout report on the host would name.
class RecordingHost final : public comm::Communicator {
 public:
  struct Call {
    std::string name;
    double deadline_s;
    int64_t step;
    std::string label;
  };

  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "recording"; }
  void broadcast(void* data, int64_t bytes, int root) override {
    record("broadcast");
    local_->broadcast(data, bytes, root);
  }
  void allreduce_sum(float* data, int64_t count) override {
    record("allreduce_sum");
    local_->allreduce_sum(data, count);
  }
  void allreduce_sum(double* data, int64_t count) override {
    record("allreduce_sum");
    local_->allreduce_sum(data, count);
  }
  void scatterv(const float* send, const std::vector<int64_t>& counts,
                const std::vector<int64_t>& displacements, float* receive, int root) override {
    record("scatterv");
    local_->scatterv(send, counts, displacements, receive, root);
  }
  void gatherv(const float* send, const std::vector<int64_t>& counts,
               const std::vector<int64_t>& displacements, float* receive, int root) override {
    record("gatherv");
    local_->gatherv(send, counts, displacements, receive, root);
  }
  void allgather(const void* send, int64_t bytes, void* receive) override {
    record("allgather");
    local_->allgather(send, bytes, receive);
  }
  void barrier() override {
    record("barrier");
    local_->barrier();
  }
  void progress() override { ++progress_calls_; }
  [[noreturn]] void abort(int code) override {
    local_->abort(code);
    std::_Exit(code);  // the local abort does not return; this says so to the compiler
  }

  const std::vector<Call>& calls() const { return calls_; }
  int progress_calls() const { return progress_calls_; }

 private:
  void record(const char* name) { calls_.push_back({name, deadline(), step(), label()}); }

  std::unique_ptr<comm::Communicator> local_ = comm::make_local_communicator();
  std::vector<Call> calls_;
  int progress_calls_ = 0;
};

// Reads n values of T at `device` with a plain cudaMemcpy: on the legacy default stream,
// which does NOT wait for the backend's non-blocking compute stream. So it sees work queued
// there only if the collective before it made sure that work had finished.
template <typename T>
std::vector<T> read_unordered(const T* device, size_t n) {
  std::vector<T> values(n);
  EXPECT_EQ(cudaMemcpy(values.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return values;
}

class NcclCommunicatorTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    host_ = comm::make_local_communicator();
    nccl_ = comm::make_nccl_communicator(*host_, gpu_device());
  }

  std::unique_ptr<comm::Communicator> host_;
  std::unique_ptr<comm::Communicator> nccl_;
  std::mt19937 rng_{2024};
};

TEST_F(NcclCommunicatorTest, IsAGroupOfOneNamedNccl) {
  EXPECT_EQ(nccl_->name(), "nccl");
  EXPECT_TRUE(nccl_->moves_device_memory());
  EXPECT_EQ(&nccl_->host(), host_.get()) << "host buffers belong to the host communicator";
  EXPECT_EQ(nccl_->rank(), 0);
  EXPECT_EQ(nccl_->size(), 1);
  EXPECT_EQ(nccl_->sequence(), 0);
  // Making it used the host for the unique id only.
  EXPECT_EQ(host_->sequence(), 1);
}

// One rank's sum is its own values, bit for bit; the values were produced by a kernel queued
// on the compute stream just before, so a communicator that did not order NCCL after that
// stream and wait for the result would let the unordered read see the uploaded ones instead.
TEST_F(NcclCommunicatorTest, AllreduceOfDeviceFloatsIsTheInputAfterEarlierCompute) {
  const size_t n = size_t{1} << 24;  // 64 MiB: the doubling kernel takes a while
  const std::vector<float> input = random_floats(n, rng_);
  DeviceBuffer<float> buffer(input);
  gpu().scale(buffer.get(), static_cast<int64_t>(n), 2.0f);  // queued, not waited for
  nccl_->allreduce_sum(buffer.get(), static_cast<int64_t>(n));
  const std::vector<float> result = read_unordered(buffer.get(), n);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) wrong += result[i] != 2.0f * input[i];
  EXPECT_EQ(wrong, 0u) << "of " << n << " elements";
  EXPECT_EQ(host_->sequence(), 1) << "a device allreduce went to the host communicator";
}

TEST_F(NcclCommunicatorTest, AllreduceOfDeviceDoublesIsTheInputAfterEarlierCompute) {
  const size_t n = size_t{1} << 23;
  std::vector<double> zeros(n, 0.0);
  DeviceBuffer<double> buffer(zeros);
  gpu().fill_double(buffer.get(), static_cast<int64_t>(n), 0.1);  // queued, not waited for
  nccl_->allreduce_sum(buffer.get(), static_cast<int64_t>(n));
  const std::vector<double> result = read_unordered(buffer.get(), n);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) wrong += result[i] != 0.1;
  EXPECT_EQ(wrong, 0u) << "of " << n << " elements";
  EXPECT_EQ(host_->sequence(), 1);
}

// Started allreduces (gradient buckets during backward) are each numbered at start and done
// at finish, in any order of finishing; each one's input is the compute work queued before it.
TEST_F(NcclCommunicatorTest, StartedAllreducesFinishWithTheirInputsInAnyOrder) {
  const size_t n = size_t{1} << 22;
  const std::vector<float> first_input = random_floats(n, rng_);
  DeviceBuffer<float> first(first_input);
  DeviceBuffer<double> second(std::vector<double>(n, 0.0));
  gpu().scale(first.get(), static_cast<int64_t>(n), 2.0f);  // queued, not waited for
  const int64_t first_handle = nccl_->start_allreduce_sum(first.get(), static_cast<int64_t>(n));
  gpu().fill_double(second.get(), static_cast<int64_t>(n), -0.5);
  const int64_t second_handle = nccl_->start_allreduce_sum(second.get(), static_cast<int64_t>(n));
  EXPECT_EQ(first_handle, 0);
  EXPECT_EQ(second_handle, 1);
  EXPECT_EQ(nccl_->sequence(), 2);
  nccl_->finish(second_handle);
  nccl_->finish(first_handle);
  const std::vector<float> first_result = read_unordered(first.get(), n);
  const std::vector<double> second_result = read_unordered(second.get(), n);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) {
    wrong += first_result[i] != 2.0f * first_input[i];
    wrong += second_result[i] != -0.5;
  }
  EXPECT_EQ(wrong, 0u) << "of " << 2 * n << " elements";
  // A handle is spent once finished.
  const std::string again = error_message([&] { nccl_->finish(first_handle); });
  EXPECT_NE(again.find("no collective #0"), std::string::npos) << again;
  EXPECT_EQ(host_->sequence(), 1) << "a device allreduce went to the host communicator";
}

// The engine prefetches the next batch on host() while backward runs, and lets it advance
// through this communicator's progress() between layers: progress() must reach the host.
TEST_F(NcclCommunicatorTest, ProgressReachesTheHostCommunicator) {
  RecordingHost host;
  const std::unique_ptr<comm::Communicator> nccl = comm::make_nccl_communicator(host, gpu_device());
  nccl->progress();
  nccl->progress();
  EXPECT_EQ(host.progress_calls(), 2);
}

TEST_F(NcclCommunicatorTest, BroadcastOfDeviceBytesFromRootZero) {
  const size_t n = size_t{1} << 22;
  DeviceBuffer<float> buffer(std::vector<float>(n, 0.0f));
  gpu().fill(buffer.get(), static_cast<int64_t>(n), 3.25f);  // queued, not waited for
  nccl_->broadcast(buffer.get(), static_cast<int64_t>(n * sizeof(float)), 0);
  const std::vector<float> result = read_unordered(buffer.get(), n);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) wrong += result[i] != 3.25f;
  EXPECT_EQ(wrong, 0u) << "of " << n << " elements";
  EXPECT_EQ(host_->sequence(), 1);
}

// One rank's allgather copies its send buffer into receive: data that must really move.
TEST_F(NcclCommunicatorTest, AllgatherOfDeviceBytesCopiesThisRanksBlock) {
  const std::vector<float> input = random_floats(1000, rng_);
  DeviceBuffer<float> send(input);
  DeviceBuffer<float> receive(std::vector<float>(1000, 0.0f));
  nccl_->allgather(send.get(), 1000 * sizeof(float), receive.get());
  EXPECT_EQ(receive.download(), input);
  EXPECT_EQ(host_->sequence(), 1);
}

// Host memory is host()'s to move: given here, every collective refuses it before any
// communication and says where it belongs; host() then takes it.
TEST_F(NcclCommunicatorTest, HostBuffersAreRefusedAndNameHost) {
  std::vector<double> sums = {1.5, -2.0, 3.0};
  std::vector<float> metrics = {4.0f, 5.0f};
  int64_t word = 42;
  const uint64_t mine = 0xfeedULL;
  uint64_t all = 0;
  const std::vector<float> block = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<float> rows(3, -1.0f), gathered(8, -1.0f);
  auto* pinned = static_cast<float*>(gpu().allocate_pinned(4 * sizeof(float)));
  const std::vector<std::pair<const char*, std::function<void()>>> calls = {
      {"allreduce of host doubles", [&] { nccl_->allreduce_sum(sums.data(), 3); }},
      {"started allreduce of host doubles", [&] { nccl_->start_allreduce_sum(sums.data(), 3); }},
      {"allreduce of host floats", [&] { nccl_->allreduce_sum(metrics.data(), 2); }},
      {"allreduce of page-locked floats", [&] { nccl_->allreduce_sum(pinned, 4); }},
      {"broadcast", [&] { nccl_->broadcast(&word, sizeof(word), 0); }},
      {"allgather", [&] { nccl_->allgather(&mine, sizeof(mine), &all); }},
      {"scatterv", [&] { nccl_->scatterv(block.data(), {3}, {2}, rows.data(), 0); }},
      {"started scatterv", [&] { nccl_->start_scatterv(block.data(), {3}, {2}, rows.data(), 0); }},
      {"gatherv", [&] { nccl_->gatherv(rows.data(), {3}, {5}, gathered.data(), 0); }},
  };
  for (const auto& [what, call] : calls) {
    const std::string message = error_message(call);
    EXPECT_NE(message.find("host()"), std::string::npos) << what << ": " << message;
  }
  gpu().deallocate_pinned(pinned, 4 * sizeof(float));
  EXPECT_NE(error_message([&] {
              nccl_->allreduce_sum(sums.data(), 3);
            }).find("is in host memory, expected GPU memory"),
            std::string::npos);
  EXPECT_EQ(nccl_->sequence(), 0) << "a refused call was counted";
  EXPECT_EQ(host_->sequence(), 1) << "a refused call reached the host communicator";
  // host() is the host communicator, which takes host buffers.
  nccl_->host().allreduce_sum(sums.data(), 3);
  EXPECT_EQ(sums, (std::vector<double>{1.5, -2.0, 3.0}));
  EXPECT_EQ(host_->sequence(), 2);
}

TEST_F(NcclCommunicatorTest, TheBarrierCarriesThisCommunicatorsDeadlineStepAndLabel) {
  RecordingHost host;
  host.set_deadline(7.0);
  host.set_step(-1);
  host.exchange_label("host's own");
  const std::unique_ptr<comm::Communicator> nccl = comm::make_nccl_communicator(host, gpu_device());
  nccl->set_deadline(30.0);
  nccl->set_step(12);
  {
    const comm::ScopedLabel label(*nccl, "before the checkpoint");
    nccl->barrier();
  }
  nccl->barrier();
  ASSERT_EQ(host.calls().size(), 3u);  // unique id, barrier, barrier
  EXPECT_EQ(host.calls()[0].label, "NCCL unique id");
  EXPECT_EQ(host.calls()[1].name, "barrier");
  EXPECT_EQ(host.calls()[1].deadline_s, 30.0);
  EXPECT_EQ(host.calls()[1].step, 12);
  EXPECT_EQ(host.calls()[1].label, "before the checkpoint");
  EXPECT_EQ(host.calls()[2].name, "barrier");
  EXPECT_EQ(host.calls()[2].label, "");
  EXPECT_EQ(nccl->sequence(), 2);
  // The host's own settings are back for its other users.
  EXPECT_EQ(host.deadline(), 7.0);
  EXPECT_EQ(host.step(), -1);
  EXPECT_EQ(host.label(), "host's own");
}

// sequence() numbers every collective, empty or not, as on every rank.
TEST_F(NcclCommunicatorTest, SequenceCountsEveryCall) {
  DeviceBuffer<float> device(std::vector<float>(16, 1.0f));
  DeviceBuffer<double> device_doubles(std::vector<double>(16, 1.0));
  std::vector<float> host(16, 1.0f);
  int64_t expected = 0;
  const auto check = [&](const char* what) {
    ++expected;
    EXPECT_EQ(nccl_->sequence(), expected) << "after " << what;
  };
  nccl_->allreduce_sum(device.get(), 16);
  check("device float allreduce");
  nccl_->allreduce_sum(device_doubles.get(), 16);
  check("device double allreduce");
  nccl_->allreduce_sum(static_cast<float*>(nullptr), 0);
  check("empty allreduce");
  nccl_->broadcast(device.get(), 64, 0);
  check("device broadcast");
  nccl_->broadcast(host.data(), 0, 0);
  check("empty broadcast");
  nccl_->allgather(device.get(), 0, device.get());
  check("empty allgather");
  const int64_t handle = nccl_->start_allreduce_sum(static_cast<double*>(nullptr), 0);
  check("empty started allreduce");
  nccl_->finish(handle);
  nccl_->barrier();
  check("barrier");
}

// The deadline is accepted and kept; collectives within it complete normally (a missed one
// ends the process, which the MPI job tests check for the MPI communicator).
TEST_F(NcclCommunicatorTest, ADeadlineIsAcceptedAndCollectivesWithinItComplete) {
  nccl_->set_deadline(60.0);
  EXPECT_EQ(nccl_->deadline(), 60.0);
  const std::vector<float> input = random_floats(1 << 20, rng_);
  DeviceBuffer<float> buffer(input);
  for (int i = 0; i < 5; ++i) nccl_->allreduce_sum(buffer.get(), 1 << 20);
  EXPECT_EQ(buffer.download(), input);
  EXPECT_EQ(nccl_->sequence(), 5);
  EXPECT_THROW(nccl_->set_deadline(-1.0), Error);
  EXPECT_EQ(nccl_->deadline(), 60.0);
}

TEST_F(NcclCommunicatorTest, BadArgumentsThrowBeforeAnyCommunication) {
  DeviceBuffer<float> buffer(std::vector<float>(8, 0.0f));
  EXPECT_NE(error_message([&] { nccl_->allreduce_sum(buffer.get(), -1); }).find("count"),
            std::string::npos);
  EXPECT_NE(error_message([&] { nccl_->broadcast(buffer.get(), 32, 1); }).find("root"),
            std::string::npos);
  // Batches are host memory: scatterv and gatherv name host(), whatever the buffers.
  std::vector<float> host(8, 0.0f);
  const std::string scatter =
      error_message([&] { nccl_->scatterv(buffer.get(), {8}, {0}, host.data(), 0); });
  EXPECT_NE(scatter.find("scatter them over host()"), std::string::npos) << scatter;
  const std::string gather =
      error_message([&] { nccl_->gatherv(host.data(), {8}, {0}, buffer.get(), 0); });
  EXPECT_NE(gather.find("gather them over host()"), std::string::npos) << gather;
  // Both sides of an allgather must be GPU memory.
  const std::string mixed = error_message([&] { nccl_->allgather(host.data(), 32, buffer.get()); });
  EXPECT_NE(mixed.find("send is in host memory, expected GPU memory"), std::string::npos) << mixed;
  EXPECT_EQ(nccl_->sequence(), 0) << "a rejected call was counted";
}

// Ranks that share a GPU stage device buffers through the host: the same capability, and the
// same refusal of host buffers, as NCCL.
TEST_F(NcclCommunicatorTest, TheHostStagedCommunicatorTakesDeviceBuffersOnly) {
  const std::unique_ptr<comm::Communicator> staged =
      comm::make_host_staged_communicator(*host_, gpu_device());
  EXPECT_TRUE(staged->moves_device_memory());
  EXPECT_EQ(&staged->host(), host_.get());
  const std::vector<float> input = random_floats(1000, rng_);
  DeviceBuffer<float> buffer(input);
  staged->allreduce_sum(buffer.get(), 1000);
  EXPECT_EQ(buffer.download(), input);
  std::vector<double> sums = {1.0, 2.0};
  const std::string message = error_message([&] { staged->allreduce_sum(sums.data(), 2); });
  EXPECT_NE(message.find("host()"), std::string::npos) << message;
  uint64_t mine = 1, all = 0;
  const std::string gathered = error_message([&] { staged->allgather(&mine, 8, &all); });
  EXPECT_NE(gathered.find("host()"), std::string::npos) << gathered;
  EXPECT_EQ(staged->sequence(), 1) << "only the device allreduce counts";
}

TEST_F(NcclCommunicatorTest, MakingOneNeedsAGpuThatExists) {
  const std::string cpu =
      error_message([&] { comm::make_nccl_communicator(*host_, Device::cpu()); });
  EXPECT_NE(cpu.find("needs a CUDA device, found cpu"), std::string::npos) << cpu;
  const std::string missing =
      error_message([&] { comm::make_nccl_communicator(*host_, Device::cuda(4096)); });
  EXPECT_NE(missing.find("cuda:4096"), std::string::npos) << missing;
}

}  // namespace
}  // namespace lockstep::gpu_testing
