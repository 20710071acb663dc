// A build without CUDA: choose_device never returns a GPU here (the device count is 0), so
// there is no device to select; the entry point exists so device binding links.
#include "runtime/select_cuda_device.h"

namespace lockstep::runtime::detail {

void select_cuda_device(int /*ordinal*/) {}

}  // namespace lockstep::runtime::detail
