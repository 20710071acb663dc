// Device binding: the --device text and the rank's place on its node -> a Device, and for a
// GPU, that GPU made current. The arithmetic (choose_device) is apart from the CUDA calls so
// that it is tested on machines without a GPU.
#include "lockstep/runtime/device_binding.h"

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "runtime/select_cuda_device.h"

namespace lockstep::runtime {

namespace {

constexpr const char* kAccepted = "auto, cpu, cuda or cuda:N (N a GPU number)";

// "cuda:N" -> N; -1 when the text after "cuda:" is not a plain number of at most 5 digits.
int parse_ordinal(const std::string& text) {
  const std::string digits = text.substr(5);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return -1;
  }
  return std::stoi(digits);
}

void check_some_gpu(const std::string& text, int gpu_count, const std::string& why) {
  LOCKSTEP_CHECK(gpu_count > 0, "--device " << text << ": no CUDA device answers ("
                                            << (why.empty() ? "no reason given" : why) << ")");
}

// One GPU per local rank, round robin over the GPUs this process sees.
Device gpu_per_rank(const std::string& text, bool allow_sharing, int local_rank, int local_size,
                    int gpu_count, const std::string& why) {
  check_some_gpu(text, gpu_count, why);
  LOCKSTEP_CHECK(allow_sharing || local_size <= gpu_count,
                 "--device " << text << ": " << local_size << " ranks run on this node but only "
                             << gpu_count << " GPU" << (gpu_count == 1 ? "" : "s")
                             << " answer; start at most " << gpu_count
                             << " ranks per node, or pass --allow-gpu-sharing to let ranks share "
                                "GPUs (each then runs at a fraction of a GPU's speed)");
  return Device::cuda(local_rank % gpu_count);
}

// Exactly GPU `ordinal`, for every local rank.
Device fixed_gpu(const std::string& text, bool allow_sharing, int local_size, int gpu_count,
                 const std::string& why) {
  const int ordinal = parse_ordinal(text);
  LOCKSTEP_CHECK(ordinal >= 0, "--device: expected " << kAccepted << ", found '" << text << "'");
  check_some_gpu(text, gpu_count, why);
  LOCKSTEP_CHECK(ordinal < gpu_count,
                 "--device " << text << ": GPU " << ordinal << " does not exist; this process sees "
                             << gpu_count << " GPU" << (gpu_count == 1 ? "" : "s")
                             << " (cuda:0 to cuda:" << gpu_count - 1 << ")");
  LOCKSTEP_CHECK(allow_sharing || local_size == 1,
                 "--device " << text << ": all " << local_size
                             << " ranks of this node would run on GPU " << ordinal
                             << "; use --device cuda to give each rank its own GPU, or "
                                "pass --allow-gpu-sharing");
  return Device::cuda(ordinal);
}

}  // namespace

Device choose_device(const DeviceRequest& request, int local_rank, int local_size, int gpu_count,
                     const std::string& why) {
  LOCKSTEP_CHECK(local_size >= 1 && local_rank >= 0 && local_rank < local_size,
                 "choose_device: local rank must be from 0 to local size - 1, found rank "
                     << local_rank << " of " << local_size);
  LOCKSTEP_CHECK(gpu_count >= 0,
                 "choose_device: GPU count must be at least 0, found " << gpu_count);
  const std::string& text = request.device;
  const bool sharing = request.allow_gpu_sharing;
  if (text == "cpu") return Device::cpu();
  if (text == "auto") {
    if (gpu_count == 0) return Device::cpu();
    return gpu_per_rank(text, sharing, local_rank, local_size, gpu_count, why);
  }
  if (text == "cuda") return gpu_per_rank(text, sharing, local_rank, local_size, gpu_count, why);
  if (text.rfind("cuda:", 0) == 0) return fixed_gpu(text, sharing, local_size, gpu_count, why);
  LOCKSTEP_THROW("--device: expected " << kAccepted << ", found '" << text << "'");
}

Device bind_device(const DeviceRequest& request, const ProcessInfo& process) {
  std::string why;
  // Asking the CUDA runtime starts it (a second or more); "cpu" never needs it.
  const int gpu_count = request.device == "cpu" ? 0 : backend::cuda_device_count(&why);
  const Device device =
      choose_device(request, process.local_rank, process.local_size, gpu_count, why);
  if (device.is_cuda()) detail::select_cuda_device(device.index);
  return device;
}

bool shares_gpu(const Device& device, const DeviceRequest& request, const ProcessInfo& process) {
  if (!device.is_cuda() || process.local_size == 1) return false;
  if (request.device.rfind("cuda:", 0) == 0) return true;  // every local rank on that one GPU
  return process.local_size > backend::cuda_device_count();
}

}  // namespace lockstep::runtime
