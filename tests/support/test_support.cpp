// Test helpers: random tensors from Philox, random floats, bits, closeness, finite differences,
// temp folders.
#include "support/test_support.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "lockstep/base/philox.h"

namespace lockstep::testing {

Tensor random_tensor(const Shape& shape, uint64_t seed, float low, float high) {
  Tensor t = Tensor::empty(shape);
  float* x = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float u = philox::sample_uniform(seed, 0xC0FFEEu, 0, static_cast<uint64_t>(i) >> 20,
                                           static_cast<uint32_t>(i & 0xFFFFF));
    x[i] = low + (high - low) * u;
  }
  return t;
}

std::vector<float> random_floats(size_t n, std::mt19937& rng, float low, float high) {
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

std::vector<uint32_t> bits(const Tensor& t) {
  const std::vector<float> values = t.to_vector();
  std::vector<uint32_t> out(values.size());
  if (!values.empty()) std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
  return out;
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol,
                                     double atol) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shapes differ: " << to_string(actual.shape())
                                         << " vs expected " << to_string(expected.shape());
  }
  const std::vector<float> a = actual.to_vector(), b = expected.to_vector();
  double worst_excess = 0.0;
  int64_t worst = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(static_cast<double>(a[i]) - b[i]);
    const double allowed = atol + rtol * std::abs(static_cast<double>(b[i]));
    const double excess = std::isnan(diff) ? INFINITY : diff - allowed;
    if (excess > 0 && excess > worst_excess) {
      worst_excess = excess;
      worst = static_cast<int64_t>(i);
    }
  }
  if (worst < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "element " << worst << " is " << a[static_cast<size_t>(worst)] << ", expected "
         << b[static_cast<size_t>(worst)] << " (rtol " << rtol << ", atol " << atol << ")";
}

double max_relative_difference(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double diff = 0.0, scale = 1e-30;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(x[i]) - y[i]));
    scale = std::max(scale, std::abs(static_cast<double>(y[i])));
  }
  return diff / scale;
}

Tensor numerical_gradient(Tensor& x, const std::function<double()>& f, double h) {
  Tensor grad = Tensor::zeros(x.shape());
  float* values = x.data();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float original = values[i];
    values[i] = static_cast<float>(original + h);
    const double plus = f();
    values[i] = static_cast<float>(original - h);
    const double minus = f();
    values[i] = original;
    grad.data()[i] = static_cast<float>((plus - minus) / (2.0 * h));
  }
  return grad;
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("lockstep-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace lockstep::testing
