// The error path of LOCKSTEP_NCCL_CHECK: the code's name, NCCL's description and NCCL's own
// last error message (which names the cause: a peer gone, a socket error, a CUDA failure).
#include "comm/nccl/nccl_check.h"

#include <string>

#include "lockstep/base/error.h"

namespace lockstep::comm::detail {

const char* nccl_result_name(ncclResult_t result) {
  switch (result) {
    case ncclSuccess:
      return "ncclSuccess";
    case ncclUnhandledCudaError:
      return "ncclUnhandledCudaError";
    case ncclSystemError:
      return "ncclSystemError";
    case ncclInternalError:
      return "ncclInternalError";
    case ncclInvalidArgument:
      return "ncclInvalidArgument";
    case ncclInvalidUsage:
      return "ncclInvalidUsage";
    case ncclRemoteError:
      return "ncclRemoteError";
    case ncclInProgress:
      return "ncclInProgress";
    default:
      return "unknown ncclResult_t";
  }
}

void throw_nccl_error(ncclResult_t result, const char* call, const char* file, int line) {
  // ncclGetLastError ignores its argument and reports the thread's last error; it may be
  // empty or stale (an earlier failure), so it is quoted as context, not as the cause.
  const char* last = ncclGetLastError(nullptr);
  std::string message = std::string("NCCL: ") + call + " " + nccl_result_name(result) + " (" +
                        ncclGetErrorString(result) + ")";
  if (last != nullptr && last[0] != '\0') message += "; NCCL's last error: " + std::string(last);
  throw Error(message, file, line);
}

}  // namespace lockstep::comm::detail
