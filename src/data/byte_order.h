// Byte-order helpers shared by the IDX (big-endian) and npy (little-endian) readers and
// writers: files keep their own order, arrays in memory are always in host order.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace lockstep::data::detail {

// Reverses each `element_size`-byte element of `bytes` in place.
inline void swap_elements(uint8_t* bytes, size_t count, size_t element_size) {
  if (element_size <= 1) return;
  for (size_t i = 0; i < count; ++i) {
    std::reverse(bytes + i * element_size, bytes + (i + 1) * element_size);
  }
}

// Converts between big-endian and host order (the same swap works both ways).
inline void big_endian_to_host(uint8_t* bytes, size_t count, size_t element_size) {
  if constexpr (std::endian::native == std::endian::little) {
    swap_elements(bytes, count, element_size);
  }
}

// Converts between little-endian and host order (the same swap works both ways).
inline void little_endian_to_host(uint8_t* bytes, size_t count, size_t element_size) {
  if constexpr (std::endian::native == std::endian::big) {
    swap_elements(bytes, count, element_size);
  }
}

inline uint32_t load_big_endian_u32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

inline uint32_t load_little_endian_u32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[3]) << 24) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[1]) << 8) | static_cast<uint32_t>(p[0]);
}

}  // namespace lockstep::data::detail
