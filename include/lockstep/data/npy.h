// NumPy .npy files: a reader (format versions 1.0, 2.0, 3.0) and a writer, for C-order arrays
// of float32, uint8, int8, int32 and int64, plus conversion to and from float Tensors.
// The header is a Python dict literal; it is parsed by a strict parser of exactly that grammar
// and every size in it is checked against the file before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/base/shape.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::data {

// The supported element types, named by their NumPy descr strings.
enum class NpyDtype {
  kFloat32,  // '<f4'
  kUint8,    // '|u1'
  kInt8,     // '|i1'
  kInt32,    // '<i4'
  kInt64,    // '<i8'
};

// "<f4", "|u1", ...
const char* npy_descr(NpyDtype dtype);
size_t npy_element_size(NpyDtype dtype);
// The dtype of a descr string; throws lockstep::Error naming the unsupported descr.
NpyDtype npy_dtype_from_descr(std::string_view descr);

// Headers longer than this are refused (NumPy itself refuses headers over 10000 bytes).
inline constexpr int64_t kNpyMaxHeaderBytes = int64_t{1} << 20;

// The raw form of an array: elements in host byte order, row-major.
struct NpyArray {
  NpyDtype dtype = NpyDtype::kFloat32;
  Shape shape;
  std::vector<uint8_t> bytes;

  int64_t numel() const { return shape_numel(shape); }
};

// The fields of a header dict.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// Parses a header dict such as "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
// (trailing spaces and a newline allowed). Exactly the keys descr, fortran_order and shape,
// each once; shape a tuple of non-negative integers. Throws lockstep::Error with the offset
// of the first character that breaks the grammar.
NpyHeader parse_npy_header(std::string_view text);

// Reads a .npy file; throws lockstep::Error naming the file for a bad magic, an unsupported
// version or dtype, Fortran order, a header past the end, or data of the wrong length.
NpyArray read_npy(const std::filesystem::path& path);
// Writes format 1.0 (2.0 when the header needs it), padded so the data start at a multiple
// of 64 bytes, as NumPy does.
void write_npy(const std::filesystem::path& path, const NpyArray& array);

// Converts any supported dtype to float (int64 values beyond 2^24 lose precision).
Tensor npy_to_tensor(const NpyArray& array);
// A '<f4' array with the tensor's shape and values (the tensor may live on any device).
NpyArray npy_from_tensor(const Tensor& tensor);

// read_npy + npy_to_tensor.
Tensor load_npy_tensor(const std::filesystem::path& path);
// Writes `tensor` as a '<f4' array.
void save_npy(const std::filesystem::path& path, const Tensor& tensor);

}  // namespace lockstep::data
