// The error policy of Lockstep programs: an exception on any rank is printed with the rank
// and ends the whole job, so that no peer is left waiting inside a collective.
#include <exception>

#include "lockstep/base/error.h"
#include "lockstep/runtime/runtime.h"

namespace lockstep::runtime {

namespace {

int fail(Runtime& runtime, int code, const char* what) {
  logging::error("%s", what);
  // Peers may be inside a collective this rank will never join: end them too. With one rank
  // returning is enough, and lets MPI finalise cleanly.
  if (runtime.info().size > 1) runtime.world().abort(code);
  return code;
}

}  // namespace

int run_guarded(Runtime& runtime, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    return fail(runtime, kExitBadInput, e.what());
  } catch (const std::exception& e) {
    return fail(runtime, kExitFailure, e.what());
  } catch (...) {
    return fail(runtime, kExitFailure, "unknown exception (not derived from std::exception)");
  }
}

}  // namespace lockstep::runtime
