// Device binding: which device a rank computes on, from the --device text and the rank's
// place on its node. One rank per GPU is the rule (docs/ARCHITECTURE.md: one process per device);
// several ranks per GPU only when asked for. The GPU numbers are those the CUDA runtime
// shows this process, so CUDA_VISIBLE_DEVICES (honoured by the CUDA runtime itself, before
// Lockstep sees any GPU) narrows and renumbers them.
#pragma once

#include <string>

#include "lockstep/base/device.h"
#include "lockstep/runtime/runtime.h"

namespace lockstep::runtime {

struct DeviceRequest {
  // "auto" (a GPU when one answers, else the CPU), "cpu", "cuda" (GPU local_rank % GPUs),
  // or "cuda:N" (exactly GPU N).
  std::string device = "auto";
  // Lets more ranks of a node than it has GPUs share them (round robin). Off by default: a
  // shared GPU runs each rank at a fraction of its speed, which is rarely what was meant.
  bool allow_gpu_sharing = false;
};

// The pure arithmetic of binding: the device of local rank `local_rank` of `local_size` when
// `gpu_count` GPUs answer (`why`: the reason when none does, quoted in the error). Throws
// lockstep::Error when the request cannot be met (no GPU, a GPU out of range, more ranks than
// GPUs without sharing) or is not one of the accepted texts.
Device choose_device(const DeviceRequest& request, int local_rank, int local_size, int gpu_count,
                     const std::string& why);

// choose_device with the GPUs this process sees; for a GPU it also makes that GPU the current
// CUDA device of the calling thread (cudaSetDevice), so later CUDA work lands on it.
Device bind_device(const DeviceRequest& request, const ProcessInfo& process);

// Whether other ranks of this node run on the same GPU as `device` (bound from `request`):
// NCCL refuses such ranks in one communicator, so their gradients go through host memory
// (runtime::DeviceCommunicator).
bool shares_gpu(const Device& device, const DeviceRequest& request, const ProcessInfo& process);

}  // namespace lockstep::runtime
