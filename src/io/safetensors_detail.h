// Internals of the safetensors reader and writer: the dtype table, header validation and
// byte order. Kept out of the public headers; the io tests use them directly.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lockstep/io/safetensors.h"

namespace lockstep::io::detail {

// Bits per element of a safetensors dtype ("F32" -> 32, "F4" -> 4), or 0 for unknown names.
int safetensors_dtype_bits(std::string_view dtype);

// Parses and validates the JSON `header` of a file whose data buffer holds `buffer_bytes`
// bytes: field names and types, dtypes, shapes, byte counts, and offsets that tile the
// buffer exactly. `source` names the file in errors. data_start is left for the caller.
SafetensorsIndex parse_safetensors_header(std::string_view header, uint64_t buffer_bytes,
                                          const std::string& source);

// The file stores little-endian floats; on a big-endian host each word is swapped.
inline void swap_to_little_endian(float* values, size_t count) {
  if constexpr (std::endian::native == std::endian::big) {
    for (size_t i = 0; i < count; ++i) {
      values[i] = std::bit_cast<float>(__builtin_bswap32(std::bit_cast<uint32_t>(values[i])));
    }
  } else {
    (void)values;
    (void)count;
  }
}

}  // namespace lockstep::io::detail
