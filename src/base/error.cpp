// lockstep::Error: what() carries the message followed by its source location.
#include "lockstep/base/error.h"

#include <sstream>

namespace lockstep {

namespace {
std::string with_location(const std::string& message, const char* file, int line) {
  std::ostringstream text;
  text << message << " (" << file << ":" << line << ")";
  return text.str();
}
}  // namespace

Error::Error(const std::string& message, const char* file, int line)
    : std::runtime_error(with_location(message, file, line)),
      message_(message),
      file_(file),
      line_(line) {}

}  // namespace lockstep
