// The CUDA side of backend_for, defined in cuda/ (one backend per GPU ordinal, made on first
// use) or, in a build without CUDA, in no_cuda/ (throws).
#pragma once

#include "lockstep/backend/backend.h"

namespace lockstep::backend {

// The backend of GPU `ordinal`; throws lockstep::Error when no such GPU answers or this build
// has no CUDA.
Backend& cuda_backend_for(int ordinal);

}  // namespace lockstep::backend
