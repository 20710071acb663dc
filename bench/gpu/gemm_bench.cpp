// bench_gpu_gemm: TFLOP/s of nn::Dense's forward pass on a GPU against cuBLAS called directly
// on the same product, in FP32 and in TF32. Dense computes y[batch, out] = x[batch, in] W^T
// (+ bias) through the CUDA backend, which also allocates y and adds the bias, so the ratio
// shows what the layer costs on top of the bare GEMM. Each call is timed between two CUDA
// events on the backend's stream; the median of many calls after a warm-up is reported.
// Both results are compared elementwise, so the two sides are known to compute the same.
//   bench_gpu_gemm --json gemm.json
// Exit status: 0, 77 when no GPU answers (nothing measured), 1 on an error.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "gpu/gpu_info.h"
#include "lockstep/base/error.h"
#include "lockstep/nn/dense.h"
#include "lockstep/nn/model.h"
#include "lockstep/tensor/tensor.h"
#include "support/process_info.h"
#include "support/stats.h"
#include "support/text_table.h"

namespace po = boost::program_options;
using namespace lockstep;
using lockstep::backend::cuda::CudaBackend;

namespace {

struct Options {
  int warmup = 10;
  int iterations = 50;
  std::string json;
};

// A Dense layer's product: batch rows of in_features to out_features.
struct DenseShape {
  int64_t batch, in_features, out_features;
  double flops() const { return 2.0 * batch * in_features * out_features; }
  std::string str() const {
    return std::to_string(batch) + "x" + std::to_string(in_features) + "->" +
           std::to_string(out_features);
  }
};

// The mlp's first layer at the training batch and at a large batch, and a square product
// big enough to reach the GPU's peak.
const std::vector<DenseShape> kShapes = {{256, 784, 1024}, {4096, 784, 1024}, {4096, 4096, 4096}};

enum class Precision { kFp32, kTf32 };
const char* name(Precision p) { return p == Precision::kFp32 ? "fp32" : "tf32"; }

// Returns false when --help was asked for.
bool parse_options(int argc, char** argv, Options& o) {
  po::options_description desc("bench_gpu_gemm options (defaults in parentheses)");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed calls per case")
      ("iterations", po::value(&o.iterations)->default_value(o.iterations),
       "timed calls per case (the median is reported)")
      ("json", po::value(&o.json), "write the results to this JSON file");
  // clang-format on
  po::variables_map given;
  try {
    po::store(po::parse_command_line(argc, argv, desc), given);
    po::notify(given);
  } catch (const po::error& e) {
    LOCKSTEP_THROW("bench_gpu_gemm: " << e.what() << " (see --help)");
  }
  if (given.count("help")) {
    std::cout << desc << "\nExit status: 0, " << bench::kExitNoDevice
              << " when no GPU answers, 1 on an error.\n";
    return false;
  }
  LOCKSTEP_CHECK(o.warmup >= 0, "--warmup must be at least 0, found " << o.warmup);
  LOCKSTEP_CHECK(o.iterations >= 1, "--iterations must be at least 1, found " << o.iterations);
  return true;
}

// A pair of CUDA events on one stream, timing one call at a time.
class EventTimer {
 public:
  explicit EventTimer(cudaStream_t stream) : stream_(stream) {
    LOCKSTEP_CUDA_CHECK(cudaEventCreate(&start_));
    LOCKSTEP_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  // Milliseconds of `warmup` + `iterations` calls of `call`, the timed ones only.
  template <class Call>
  std::vector<double> time(int warmup, int iterations, Call&& call) {
    for (int i = 0; i < warmup; ++i) call();
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
      LOCKSTEP_CUDA_CHECK(cudaEventRecord(start_, stream_));
      call();
      LOCKSTEP_CUDA_CHECK(cudaEventRecord(stop_, stream_));
      LOCKSTEP_CUDA_CHECK(cudaEventSynchronize(stop_));
      float elapsed = 0.0f;
      LOCKSTEP_CUDA_CHECK(cudaEventElapsedTime(&elapsed, start_, stop_));
      ms.push_back(elapsed);
    }
    return ms;
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

// cuBLAS on its own handle, bound to the backend's stream so both sides queue alike.
class CublasGemm {
 public:
  explicit CublasGemm(cudaStream_t stream) {
    LOCKSTEP_CUBLAS_CHECK(cublasCreate(&handle_));
    LOCKSTEP_CUBLAS_CHECK(cublasSetStream(handle_, stream));
  }
  ~CublasGemm() { cublasDestroy(handle_); }
  CublasGemm(const CublasGemm&) = delete;
  CublasGemm& operator=(const CublasGemm&) = delete;

  // y[batch, out] = x[batch, in] W[out, in]^T, row-major. cuBLAS is column-major, where these
  // arrays read as x^T [in, batch], W^T [in, out] and y^T [out, batch]: y^T = W x^T.
  void dense_forward(const DenseShape& s, cublasComputeType_t compute, const float* x,
                     const float* w, float* y) {
    const float one = 1.0f;
    const float zero = 0.0f;
    LOCKSTEP_CUBLAS_CHECK(cublasGemmEx(
        handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.out_features),
        static_cast<int>(s.batch), static_cast<int>(s.in_features), &one, w, CUDA_R_32F,
        static_cast<int>(s.in_features), x, CUDA_R_32F, static_cast<int>(s.in_features), &zero, y,
        CUDA_R_32F, static_cast<int>(s.out_features), compute, CUBLAS_GEMM_DEFAULT));
  }

 private:
  cublasHandle_t handle_ = nullptr;
};

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = uniform(engine);
  return Tensor::from_vector(shape, values);
}

// Largest |a - b| and largest |b| over the elements.
std::pair<double, double> max_differences(const Tensor& a, const Tensor& b) {
  const std::vector<float> av = a.to_vector();
  const std::vector<float> bv = b.to_vector();
  double difference = 0.0;
  double magnitude = 0.0;
  for (size_t i = 0; i < av.size(); ++i) {
    difference = std::max(difference, std::abs(static_cast<double>(av[i]) - bv[i]));
    magnitude = std::max(magnitude, std::abs(static_cast<double>(bv[i])));
  }
  return {difference, magnitude};
}

nlohmann::json measure(const DenseShape& s, Precision precision, const Options& o) {
  const Device gpu = Device::cuda(0);
  CudaBackend& backend = backend::cuda::cuda_backend(0);
  CudaBackend::set_allow_tf32(precision == Precision::kTf32);

  nn::Model model({s.in_features});
  model.add(std::make_unique<nn::Dense>(s.in_features, s.out_features));
  model.to(gpu);
  const Tensor x = random_tensor({s.batch, s.in_features}, 7).to(gpu);
  const float* weight = model.parameters().at(0)->value.data();  // [out, in]
  Tensor y_cublas = Tensor::empty({s.batch, s.out_features}, gpu);
  CublasGemm cublas(backend.stream());
  EventTimer timer(backend.stream());
  const nn::ForwardContext inference;

  const std::vector<double> dense_ms =
      timer.time(o.warmup, o.iterations, [&] { model.forward(x, inference); });
  // The usual call for each precision; for FP32 also the pedantic mode that Lockstep's FP32
  // GEMM asks for (no reduced-precision shortcuts), which may pick slower kernels.
  const auto time_cublas = [&](cublasComputeType_t compute) {
    return timer.time(o.warmup, o.iterations,
                      [&] { cublas.dense_forward(s, compute, x.data(), weight, y_cublas.data()); });
  };
  const bool tf32 = precision == Precision::kTf32;
  const std::vector<double> cublas_ms =
      time_cublas(tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
  const std::vector<double> pedantic_ms =
      tf32 ? std::vector<double>{} : time_cublas(CUBLAS_COMPUTE_32F_PEDANTIC);

  // The bias starts at zero, so both sides compute x W^T; TF32 rounds inputs to 10 mantissa
  // bits and the two may pick different kernels, hence the looser bound.
  const Tensor y_dense = model.forward(x, inference);
  const auto [difference, magnitude] = max_differences(y_dense, y_cublas);
  const double tolerance = (precision == Precision::kTf32 ? 2e-2 : 1e-4) * magnitude;
  LOCKSTEP_CHECK(difference <= tolerance, "bench_gpu_gemm: Dense "
                                              << s.str() << " " << name(precision)
                                              << " differs from cuBLAS by " << difference
                                              << ", expected at most " << tolerance);

  const double dense_median = bench::median(dense_ms);
  const double cublas_median = bench::median(cublas_ms);
  const auto tflops = [&](double ms) { return s.flops() / (ms * 1e-3) / 1e12; };
  nlohmann::json pedantic = nullptr;
  if (!pedantic_ms.empty()) {
    const double median = bench::median(pedantic_ms);
    pedantic = {{"ms_median", median}, {"tflops", tflops(median)}};
  }
  return {{"batch", s.batch},
          {"in_features", s.in_features},
          {"out_features", s.out_features},
          {"gemm_mnk", {s.batch, s.out_features, s.in_features}},
          {"flops", s.flops()},
          {"precision", name(precision)},
          {"lockstep_allow_tf32", CudaBackend::allow_tf32()},
          {"lockstep_dense_ms_median", dense_median},
          {"cublas_ms_median", cublas_median},
          {"lockstep_dense_tflops", tflops(dense_median)},
          {"cublas_tflops", tflops(cublas_median)},
          {"cublas_compute_type", tf32 ? "CUBLAS_COMPUTE_32F_FAST_TF32" : "CUBLAS_COMPUTE_32F"},
          {"cublas_pedantic", pedantic},
          {"lockstep_over_cublas", cublas_median / dense_median},
          {"max_abs_difference", difference},
          {"max_abs_output", magnitude}};
}

void print_table(const nlohmann::json& results) {
  bench::TextTable table({"Dense forward", "precision", "Lockstep TFLOP/s", "cuBLAS TFLOP/s",
                          "Lockstep/cuBLAS", "max |diff|"});
  for (const nlohmann::json& r : results) {
    table.add_row({std::to_string(r["batch"].get<int64_t>()) + "x" +
                       std::to_string(r["in_features"].get<int64_t>()) + "->" +
                       std::to_string(r["out_features"].get<int64_t>()),
                   r["precision"].get<std::string>(),
                   bench::format("%.2f", r["lockstep_dense_tflops"].get<double>()),
                   bench::format("%.2f", r["cublas_tflops"].get<double>()),
                   bench::format("%.3f", r["lockstep_over_cublas"].get<double>()),
                   bench::format("%.1e", r["max_abs_difference"].get<double>())});
  }
  table.print(stdout);
}

int run(const Options& o) {
  nlohmann::json results = nlohmann::json::array();
  for (const DenseShape& shape : kShapes) {
    for (Precision precision : {Precision::kFp32, Precision::kTf32}) {
      results.push_back(measure(shape, precision, o));
    }
  }
  CudaBackend::set_allow_tf32(false);
  print_table(results);
  if (!o.json.empty()) {
    bench::write_json_file(o.json, {{"benchmark", "gpu_gemm"},
                                    {"gpu", bench::gpu_description(0)},
                                    {"warmup_calls", o.warmup},
                                    {"timed_calls", o.iterations},
                                    {"statistic", "median of per-call CUDA event times"},
                                    {"results", results},
                                    {"build_type", bench::build_type()}});
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options options;
    if (!parse_options(argc, argv, options)) return 0;
    if (!bench::cuda_device_answers("bench_gpu_gemm")) return bench::kExitNoDevice;
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu_gemm: error: %s\n", e.what());
    return 1;
  }
}
