// LOCKSTEP_NCCL_CHECK: every NCCL return code is checked; a failure becomes a lockstep::Error
// naming the call, the code (ncclSystemError, ...), NCCL's text for it and NCCL's last error
// message. The NCCL communicator aborts its NCCL communicator before such an error leaves it,
// so that no peer is left inside a collective this rank will never finish.
#pragma once

#include <nccl.h>

namespace lockstep::comm::detail {

// "ncclSystemError", ... ("unknown ncclResult_t" for a code this build does not know).
const char* nccl_result_name(ncclResult_t result);

// Throws lockstep::Error for NCCL code `result` at file:line; the message reads
// "NCCL: <call> <code name> (<NCCL's text>); NCCL's last error: <text>", so `call` ends with
// how the code came ("ncclGetUniqueId(&id) returned").
[[noreturn]] void throw_nccl_error(ncclResult_t result, const char* call, const char* file,
                                   int line);

}  // namespace lockstep::comm::detail

// Throws unless the NCCL call returns ncclSuccess.
#define LOCKSTEP_NCCL_CHECK(call)                                                          \
  do {                                                                                     \
    const ncclResult_t lockstep_nccl_result_ = (call);                                     \
    if (lockstep_nccl_result_ != ncclSuccess) {                                            \
      ::lockstep::comm::detail::throw_nccl_error(lockstep_nccl_result_, #call " returned", \
                                                 __FILE__, __LINE__);                      \
    }                                                                                      \
  } while (0)

// For calls on a non-blocking communicator (config.blocking = 0), which may return before
// their work is done: ncclInProgress is accepted too, and the caller then polls
// ncclCommGetAsyncError until the communicator leaves that state.
#define LOCKSTEP_NCCL_CHECK_STARTED(call)                                                  \
  do {                                                                                     \
    const ncclResult_t lockstep_nccl_result_ = (call);                                     \
    if (lockstep_nccl_result_ != ncclSuccess && lockstep_nccl_result_ != ncclInProgress) { \
      ::lockstep::comm::detail::throw_nccl_error(lockstep_nccl_result_, #call " returned", \
                                                 __FILE__, __LINE__);                      \
    }                                                                                      \
  } while (0)
