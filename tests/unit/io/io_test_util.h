// Helpers of the io tests: building safetensors bytes by hand and checking that a call fails
// with a lockstep::Error whose message holds given fragments.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "lockstep/base/error.h"

namespace lockstep::io::testing {

// `value` as 8 little-endian bytes.
inline std::string little_endian_u64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// The little-endian bytes of float32 values.
inline std::string float_bytes(std::initializer_list<float> values) {
  std::string bytes;
  for (const float value : values) {
    uint32_t word = 0;
    std::memcpy(&word, &value, sizeof word);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(word >> (8 * i)));
  }
  return bytes;
}

// A file: header length, `header` verbatim (no padding added), then `data`.
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return little_endian_u64(header.size()) + header + data;
}

// Passes when `call` throws lockstep::Error and its message contains every fragment; any
// other outcome (no throw, another exception type) fails with what happened.
inline ::testing::AssertionResult throws_error_containing(
    const std::function<void()>& call, const std::vector<std::string>& fragments) {
  try {
    call();
  } catch (const Error& error) {
    for (const std::string& fragment : fragments) {
      if (error.message().find(fragment) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "message \"" << error.message() << "\" lacks \"" << fragment << "\"";
      }
    }
    return ::testing::AssertionSuccess() << error.message();
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure() << "threw a non-lockstep exception: " << other.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace lockstep::io::testing
