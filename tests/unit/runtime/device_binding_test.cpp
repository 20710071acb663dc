// Device binding arithmetic (choose_device): which device each local rank gets for every
// --device text, and the errors that name what was asked and what the node has. No GPU is
// needed: the GPU count is an argument.
#include "lockstep/runtime/device_binding.h"

#include <gtest/gtest.h>

#include <string>

#include "lockstep/base/error.h"

namespace lockstep::runtime {
namespace {

DeviceRequest request(const std::string& device, bool allow_gpu_sharing = false) {
  DeviceRequest r;
  r.device = device;
  r.allow_gpu_sharing = allow_gpu_sharing;
  return r;
}

// The message of the lockstep::Error that choose_device throws; fails the test when none.
std::string error_of(const DeviceRequest& r, int local_rank, int local_size, int gpu_count,
                     const std::string& why = "") {
  try {
    const Device d = choose_device(r, local_rank, local_size, gpu_count, why);
    ADD_FAILURE() << "expected an error, got " << d.str();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(ChooseDevice, CpuIsTheCpuWhateverGpusAnswer) {
  EXPECT_EQ(choose_device(request("cpu"), 0, 1, 0, "none"), Device::cpu());
  EXPECT_EQ(choose_device(request("cpu"), 3, 8, 2, ""), Device::cpu());
}

TEST(ChooseDevice, CudaGivesEachLocalRankItsOwnGpu) {
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_EQ(choose_device(request("cuda"), rank, 4, 4, ""), Device::cuda(rank));
  }
  // Fewer ranks than GPUs: the first GPUs, one each.
  EXPECT_EQ(choose_device(request("cuda"), 1, 2, 8, ""), Device::cuda(1));
}

TEST(ChooseDevice, SharingMapsRanksRoundRobin) {
  const int expected[] = {0, 1, 2, 0, 1, 2, 0};
  for (int rank = 0; rank < 7; ++rank) {
    EXPECT_EQ(choose_device(request("cuda", true), rank, 7, 3, ""), Device::cuda(expected[rank]));
  }
}

TEST(ChooseDevice, MoreRanksThanGpusIsAnErrorNamingBothCountsAndTheFlag) {
  const std::string message = error_of(request("cuda"), 0, 6, 4);
  EXPECT_NE(message.find("6 ranks"), std::string::npos) << message;
  EXPECT_NE(message.find("4 GPUs"), std::string::npos) << message;
  EXPECT_NE(message.find("--allow-gpu-sharing"), std::string::npos) << message;
  // Every rank of the node fails alike, not only the ones past the last GPU.
  EXPECT_FALSE(error_of(request("cuda"), 5, 6, 4).empty());
}

TEST(ChooseDevice, NoGpuIsAnErrorQuotingTheReason) {
  EXPECT_EQ(error_of(request("cuda"), 0, 1, 0, "cudaGetDeviceCount: no CUDA-capable device"),
            "--device cuda: no CUDA device answers (cudaGetDeviceCount: no CUDA-capable device)");
  const std::string message = error_of(request("cuda:0"), 0, 1, 0, "driver too old");
  EXPECT_NE(message.find("no CUDA device answers (driver too old)"), std::string::npos) << message;
}

TEST(ChooseDevice, CudaNIsExactlyThatGpu) {
  EXPECT_EQ(choose_device(request("cuda:0"), 0, 1, 2, ""), Device::cuda(0));
  EXPECT_EQ(choose_device(request("cuda:1"), 0, 1, 2, ""), Device::cuda(1));
  // Sharing allowed: every local rank on the one GPU named.
  EXPECT_EQ(choose_device(request("cuda:1", true), 2, 3, 2, ""), Device::cuda(1));
}

TEST(ChooseDevice, CudaNOutOfRangeNamesTheGpusThatExist) {
  const std::string message = error_of(request("cuda:2"), 0, 1, 2);
  EXPECT_NE(message.find("GPU 2 does not exist"), std::string::npos) << message;
  EXPECT_NE(message.find("cuda:0 to cuda:1"), std::string::npos) << message;
}

TEST(ChooseDevice, CudaNForSeveralRanksNeedsTheSharingFlag) {
  const std::string message = error_of(request("cuda:0"), 0, 2, 2);
  EXPECT_NE(message.find("--allow-gpu-sharing"), std::string::npos) << message;
  EXPECT_NE(message.find("--device cuda"), std::string::npos) << message;
}

TEST(ChooseDevice, AutoTakesAGpuWhenOneAnswersElseTheCpu) {
  EXPECT_EQ(choose_device(request("auto"), 0, 1, 0, "no driver"), Device::cpu());
  EXPECT_EQ(choose_device(request("auto"), 0, 4, 0, "no driver"), Device::cpu());
  EXPECT_EQ(choose_device(request("auto"), 1, 2, 2, ""), Device::cuda(1));
  EXPECT_EQ(DeviceRequest{}.device, "auto");
}

TEST(ChooseDevice, AutoWithGpusFollowsTheSharingRule) {
  EXPECT_NE(error_of(request("auto"), 0, 3, 2).find("--allow-gpu-sharing"), std::string::npos);
  EXPECT_EQ(choose_device(request("auto", true), 2, 3, 2, ""), Device::cuda(0));
}

TEST(ChooseDevice, UnknownTextListsTheAcceptedValues) {
  for (const std::string bad :
       {"gpu", "CUDA", "cuda:", "cuda:x", "cuda:-1", "cuda:1.5", "cuda:123456", " cpu", ""}) {
    const std::string message = error_of(request(bad), 0, 1, 2);
    EXPECT_NE(message.find("auto, cpu, cuda or cuda:N"), std::string::npos)
        << "'" << bad << "': " << message;
    EXPECT_NE(message.find("'" + bad + "'"), std::string::npos) << message;
  }
}

TEST(ChooseDevice, RejectsAnImpossibleRankLayout) {
  EXPECT_THROW(choose_device(request("cpu"), 2, 2, 0, ""), Error);
  EXPECT_THROW(choose_device(request("cpu"), -1, 2, 0, ""), Error);
  EXPECT_THROW(choose_device(request("cpu"), 0, 0, 0, ""), Error);
  EXPECT_THROW(choose_device(request("cuda"), 0, 1, -1, ""), Error);
}

// bind_device on a machine or build without a GPU: "cpu" binds the CPU, and "auto" falls back
// to it; with a GPU, "auto" binds local rank 0's GPU, cuda:0.
TEST(BindDevice, CpuBindsTheCpuAndAutoTheCpuOrTheFirstGpu) {
  ProcessInfo process;
  EXPECT_EQ(bind_device(request("cpu"), process), Device::cpu());
  const Device chosen = bind_device(request("auto"), process);
  EXPECT_TRUE(chosen == Device::cpu() || chosen == Device::cuda(0)) << chosen.str();
}

}  // namespace
}  // namespace lockstep::runtime
