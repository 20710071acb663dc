// A build without CUDA: make_nccl_communicator exists and says why it cannot work.
#include "lockstep/base/error.h"
#include "lockstep/comm/nccl_communicator.h"

namespace lockstep::comm {

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Device device) {
  (void)host;
  LOCKSTEP_THROW("NCCL communicator for " << device.str()
                                          << ": this build of Lockstep has no CUDA backend "
                                             "(LOCKSTEP_WITH_CUDA=OFF)");
}

std::unique_ptr<Communicator> make_host_staged_communicator(Communicator& host, Device device) {
  return make_nccl_communicator(host, device);  // says why neither exists here
}

}  // namespace lockstep::comm
