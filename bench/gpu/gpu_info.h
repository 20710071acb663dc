// What the GPU benchmarks share: the exit code and message for "no GPU answers", and the
// description of the GPU that every result file records.
#pragma once

#include <nlohmann/json.hpp>

namespace lockstep::bench {

// The exit code of a GPU benchmark run where no GPU answers: 77, the code test drivers
// (Automake, Meson, tests/gpu/device_check.sh) read as "skipped", so a run on a machine
// without a GPU is told apart from a failure.
inline constexpr int kExitNoDevice = 77;

// True when a CUDA device answers. Otherwise prints "<program>: no CUDA device (<reason>);
// nothing to measure" on stderr and returns false; the caller exits with kExitNoDevice.
bool cuda_device_answers(const char* program);

// Name, compute capability, multiprocessors, memory, clocks, driver and runtime versions of
// GPU `ordinal`, for the result files.
nlohmann::json gpu_description(int ordinal);

}  // namespace lockstep::bench
