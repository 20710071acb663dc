// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed: a reader that
// validates every header field against the file before it allocates, and conversion to Tensor.
// Layout: two zero bytes, a type code, a dimension count, one big-endian uint32 per
// dimension, then the elements in big-endian row-major order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "lockstep/base/shape.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::data {

// The element type codes of the IDX format.
enum class IdxType : uint8_t {
  kUint8 = 0x08,
  kInt8 = 0x09,
  kInt16 = 0x0B,
  kInt32 = 0x0C,
  kFloat32 = 0x0D,
  kFloat64 = 0x0E,
};

// Bytes per element of `type`.
size_t idx_element_size(IdxType type);
// "uint8", "int16", ...
const char* idx_type_name(IdxType type);

// At most this many dimensions are accepted (the format allows 255; no real file has more).
inline constexpr int kIdxMaxDims = 8;
// Payloads above this size are refused unless the caller raises the limit: a header field is
// never trusted for an allocation larger than this.
inline constexpr int64_t kIdxDefaultMaxBytes = int64_t{4} << 30;

// The contents of one IDX file. `data` holds numel() elements of `type` in host byte order
// (the reader converts from the file's big-endian order), row-major.
struct IdxArray {
  IdxType type = IdxType::kUint8;
  Shape dims;
  std::vector<uint8_t> data;

  int64_t numel() const { return shape_numel(dims); }
  // Element `i` (flat, row-major) as a double; checked against numel().
  double value(int64_t i) const;
};

// Reads an IDX file; gzip is recognised by its magic bytes 1f 8b, not by the name.
// Throws lockstep::Error naming the file and the field for a malformed header, a payload
// larger than `max_bytes`, and data shorter or longer than the header declares.
IdxArray read_idx(const std::filesystem::path& path, int64_t max_bytes = kIdxDefaultMaxBytes);

// Writes `array` as an uncompressed IDX file (elements converted back to big-endian).
void write_idx(const std::filesystem::path& path, const IdxArray& array);

// A CPU float tensor of shape `array.dims` holding every element times `scale`.
Tensor idx_to_tensor(const IdxArray& array, float scale = 1.0f);

}  // namespace lockstep::data
