// Device names: parsing and printing, and what a device without a backend does.
#include "lockstep/base/device.h"

#include <gtest/gtest.h>

#include <string>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep {
namespace {

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_EQ(Device::cuda(7).str(), "cuda:7");
  for (const Device& d : {Device::cpu(), Device::cuda(0), Device::cuda(12)}) {
    EXPECT_EQ(Device::parse(d.str()), d);
  }
  EXPECT_TRUE(Device::cpu().is_cpu());
  EXPECT_TRUE(Device::cuda(1).is_cuda());
  EXPECT_NE(Device::cuda(0), Device::cuda(1));
}

TEST(Device, RejectsMalformedNames) {
  for (const char* text : {"", "CPU", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1x", " cpu",
                           "cuda:9999999", "cuda:0:1"}) {
    try {
      Device::parse(text);
      ADD_FAILURE() << "'" << text << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.message()).find(text), std::string::npos) << e.message();
    }
  }
}

// A GPU index no machine has: with or without a CUDA backend in the build, asking for its
// backend (or memory on it) is a lockstep::Error naming the device, never a crash.
TEST(Device, MissingCudaDeviceGivesError) {
  try {
    backend::backend_for(Device::cuda(999));
    ADD_FAILURE() << "cuda:999 has a backend";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("cuda:999"), std::string::npos) << e.message();
  }
  EXPECT_THROW(Tensor::empty({2, 2}, Device::cuda(999)), Error);
}

}  // namespace
}  // namespace lockstep
