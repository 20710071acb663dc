// DeviceCommunicator: the communicator a DataParallel on `device` needs — the world itself for
// the CPU, an NCCL communicator made over the world for a GPU (whose host() is the world, for
// host memory), or, when ranks of a node share a GPU (which NCCL refuses), the world
// with device buffers staged through pinned host memory. The apps and benchmarks pick it the
// same way through this.
#pragma once

#include <memory>

#include "lockstep/base/device.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/comm/nccl_communicator.h"

namespace lockstep::runtime {

class DeviceCommunicator {
 public:
  // Collective over `world` when `device` is a GPU (every rank must bind the same kind).
  // `gpus_shared`: more ranks of this node than GPUs (see runtime::bind_device).
  DeviceCommunicator(comm::Communicator& world, const Device& device, bool gpus_shared)
      : world_(world), owned_(make(world, device, gpus_shared)) {}

  comm::Communicator& get() { return owned_ ? *owned_ : world_; }

 private:
  static std::unique_ptr<comm::Communicator> make(comm::Communicator& world, const Device& device,
                                                  bool gpus_shared) {
    if (!device.is_cuda()) return nullptr;
    // Every rank must pick the same kind, so one rank sharing a GPU decides for all.
    double sharing = gpus_shared ? 1.0 : 0.0;
    {
      const comm::ScopedLabel label(world, "GPU sharing check");
      world.allreduce_sum(&sharing, 1);
    }
    return sharing > 0.0 ? comm::make_host_staged_communicator(world, device)
                         : comm::make_nccl_communicator(world, device);
  }

  comm::Communicator& world_;
  std::unique_ptr<comm::Communicator> owned_;
};

}  // namespace lockstep::runtime
