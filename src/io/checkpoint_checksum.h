// The checksum a checkpoint carries in its metadata ("checksum": "crc32:89abcdef"): a CRC-32
// over every other metadata entry and every tensor's name, shape and bytes, so that a flipped
// bit anywhere the safetensors checks cannot see (a digit of the step, a weight) is caught.
#pragma once

#include <map>
#include <string>

#include "lockstep/tensor/named_tensor.h"

namespace lockstep::io::detail {

inline constexpr const char* kChecksumKey = "checksum";

// "crc32:" and 8 lowercase hex digits, over `metadata` without kChecksumKey and `tensors` in
// file order (float32 values taken as little-endian bytes, as the file stores them).
std::string checkpoint_checksum(const std::map<std::string, std::string>& metadata,
                                const NamedTensors& tensors);

}  // namespace lockstep::io::detail
