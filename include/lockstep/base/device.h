// Device: where a tensor's storage lives (the host CPU, or one CUDA GPU by index).
#pragma once

#include <string>

namespace lockstep {

enum class DeviceType { kCpu, kCuda };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;  // GPU ordinal; always 0 for the CPU

  static Device cpu() { return {DeviceType::kCpu, 0}; }
  static Device cuda(int index) { return {DeviceType::kCuda, index}; }

  bool is_cpu() const { return type == DeviceType::kCpu; }
  bool is_cuda() const { return type == DeviceType::kCuda; }
  bool operator==(const Device& other) const = default;

  // "cpu" or "cuda:N".
  std::string str() const;
  // Parses "cpu", "cuda" (GPU 0) or "cuda:N"; throws lockstep::Error otherwise.
  static Device parse(const std::string& text);
};

}  // namespace lockstep
