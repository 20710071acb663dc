// lockstep::Error, the one exception type of the library, and the macros that raise it.
// Messages say what was expected and what was found; the location is kept apart so
// that apps can print it after the message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lockstep {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line);

  // The message without the source location.
  const std::string& message() const { return message_; }
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  std::string message_;
  const char* file_;
  int line_;
};

}  // namespace lockstep

// LOCKSTEP_THROW("Dense: input has " << n << " features, expected " << k);
#define LOCKSTEP_THROW(...)                                               \
  do {                                                                    \
    std::ostringstream lockstep_message_;                                 \
    lockstep_message_ << __VA_ARGS__;                                     \
    throw ::lockstep::Error(lockstep_message_.str(), __FILE__, __LINE__); \
  } while (0)

// Throws when `condition` is false; the message is only built on failure.
#define LOCKSTEP_CHECK(condition, ...) \
  do {                                 \
    if (!(condition)) {                \
      LOCKSTEP_THROW(__VA_ARGS__);     \
    }                                  \
  } while (0)
