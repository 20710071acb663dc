// Helpers shared by the tests: random tensors and floats, a tensor's bits, closeness checks,
// finite-difference gradients and temporary folders.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "lockstep/tensor/tensor.h"

namespace lockstep::testing {

// A CPU tensor with elements uniform in [low, high), reproducible from `seed`.
Tensor random_tensor(const Shape& shape, uint64_t seed, float low = -1.0f, float high = 1.0f);

// n values uniform in [low, high), drawn from `rng`.
std::vector<float> random_floats(size_t n, std::mt19937& rng, float low = -1.0f, float high = 1.0f);

// The bit patterns of a tensor's elements, for comparisons that must be exact to the bit.
std::vector<uint32_t> bits(const Tensor& t);

// Passes when |a - b| <= atol + rtol * |b| elementwise; the failure names the worst element.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected,
                                     double rtol = 1e-5, double atol = 1e-6);

// Largest |a - b| over the elements, divided by max(largest |b|, tiny).
double max_relative_difference(const Tensor& a, const Tensor& b);

// Central finite differences of a scalar function of `x` (perturbed in place, restored):
// d f / d x[i] ~ (f(x + h e_i) - f(x - h e_i)) / 2h, with f evaluated in double.
Tensor numerical_gradient(Tensor& x, const std::function<double()>& f, double h = 1e-2);

// A fresh empty folder under the system temporary folder, removed when this goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Writes `bytes` to `path` verbatim (for malformed-file tests).
void write_file(const std::filesystem::path& path, const std::string& bytes);
std::string read_file(const std::filesystem::path& path);

}  // namespace lockstep::testing
