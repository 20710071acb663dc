// Without a GPU (or without CUDA in the build), asking for a CUDA device is a clear error:
// backend_for and Tensor allocation on cuda:0 throw lockstep::Error saying no GPU answers or
// that the build has no CUDA, with the reason cuda_device_count gives. Skipped where a GPU
// answers (the GPU tests cover that machine).
#include <gtest/gtest.h>

#include <string>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::backend {
namespace {

bool says_no_cuda(const std::string& message) {
  return message.find("no GPU answers") != std::string::npos ||
         message.find("no CUDA backend") != std::string::npos;
}

TEST(CudaAbsentTest, BackendForACudaDeviceSaysNoGpuAnswers) {
  std::string why;
  if (cuda_device_count(&why) > 0) GTEST_SKIP() << "a GPU answers on this machine";
  EXPECT_FALSE(why.empty());
  try {
    backend_for(Device::cuda(0));
    FAIL() << "backend_for(cuda:0) returned with no GPU";
  } catch (const Error& error) {
    const std::string message = error.message();
    EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
    EXPECT_TRUE(says_no_cuda(message)) << message;
    EXPECT_NE(message.find(why), std::string::npos) << message << " lacks the reason " << why;
  }
}

TEST(CudaAbsentTest, ATensorOnACudaDeviceIsAnErrorNotACrash) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU answers on this machine";
  try {
    Tensor::zeros({4}, Device::cuda(0));
    FAIL() << "a tensor on cuda:0 was made with no GPU";
  } catch (const Error& error) {
    EXPECT_TRUE(says_no_cuda(error.message())) << error.message();
  }
}

}  // namespace
}  // namespace lockstep::backend
