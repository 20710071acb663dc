// Shared pieces of the GPU tests: a fixture that skips (with the reason) when no GPU answers,
// the two backends under comparison, random host data from a seeded std::mt19937, typed device
// buffers, a model's weights, and the relative error ||actual - expected|| / ||expected||.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/nn/model.h"
#include "support/model_values.h"
#include "support/test_support.h"

// Skips the current test with "no CUDA device: <reason>" when no GPU answers.
#define LOCKSTEP_SKIP_WITHOUT_GPU()                                    \
  do {                                                                 \
    std::string lockstep_why_;                                         \
    if (::lockstep::backend::cuda_device_count(&lockstep_why_) == 0) { \
      GTEST_SKIP() << "no CUDA device: " << lockstep_why_;             \
    }                                                                  \
  } while (false)

namespace lockstep::gpu_testing {

inline Device gpu_device() { return Device::cuda(0); }
inline backend::Backend& cpu() { return backend::backend_for(Device::cpu()); }
inline backend::Backend& gpu() { return backend::backend_for(gpu_device()); }

// Every GPU test derives from this: its body runs only when GPU 0 answers. GEMM runs in plain
// FP32 during the test (whatever LOCKSTEP_ALLOW_TF32 says) unless the test opts in.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LOCKSTEP_SKIP_WITHOUT_GPU();
    saved_tf32_ = backend::cuda::CudaBackend::allow_tf32();
    backend::cuda::CudaBackend::set_allow_tf32(false);
  }
  void TearDown() override { backend::cuda::CudaBackend::set_allow_tf32(saved_tf32_); }

 private:
  bool saved_tf32_ = false;
};

// n values uniform in [low, high).
using testing::random_floats;

// ||actual - expected|| / ||expected|| in double (the plain norm of actual when expected is
// zero); infinity when the sizes differ or anything is NaN.
inline double relative_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  if (actual.size() != expected.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double d = static_cast<double>(actual[i]) - expected[i];
    diff += d * d;
    norm += static_cast<double>(expected[i]) * expected[i];
  }
  const double error = norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  return std::isnan(error) ? std::numeric_limits<double>::infinity() : error;
}

// Every parameter of `model`, concatenated in parameter order, read back to the host.
inline std::vector<float> model_weights(nn::Model& model) {
  return testing::parameter_values(model);
}

// A block of n values of T in GPU 0's memory, released on destruction.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n), data_(static_cast<T*>(gpu().allocate(n * sizeof(T)))) {}
  explicit DeviceBuffer(const std::vector<T>& values) : DeviceBuffer(values.size()) {
    upload(values);
  }
  ~DeviceBuffer() { gpu().deallocate(data_, n_ * sizeof(T)); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() { return data_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& values) {
    gpu().copy_from_host(data_, values.data(), n_ * sizeof(T));
  }
  std::vector<T> download() const {
    std::vector<T> values(n_);
    gpu().copy_to_host(values.data(), data_, n_ * sizeof(T));
    return values;
  }

 private:
  size_t n_;
  T* data_;
};

// The message of the lockstep::Error that `action` throws; "(no error)" when it throws none.
inline std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.message();
  }
  return "(no error)";
}

}  // namespace lockstep::gpu_testing
