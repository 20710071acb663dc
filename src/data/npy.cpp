// .npy files: preamble and header validation against the file size, exact-length data,
// the writer, and conversion to and from float Tensors.
#include "lockstep/data/npy.h"

#include <cstring>
#include <fstream>
#include <limits>

#include "data/byte_order.h"
#include "lockstep/base/error.h"

namespace lockstep::data {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr int64_t kAlignment = 64;

std::string describe_bytes(const char* bytes, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (i) out += ' ';
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// Reads exactly `n` bytes at the stream's position or throws naming `what`.
void read_exact(std::ifstream& in, char* buffer, size_t n, const std::string& where,
                const char* what) {
  in.read(buffer, static_cast<std::streamsize>(n));
  LOCKSTEP_CHECK(static_cast<size_t>(in.gcount()) == n, where << "cannot read " << what
                                                              << ": expected " << n
                                                              << " bytes, found " << in.gcount());
}

// Parses the preamble; returns the header length and sets `preamble` to its own length.
int64_t read_preamble(std::ifstream& in, int64_t file_size, const std::string& where,
                      int64_t& preamble) {
  LOCKSTEP_CHECK(file_size >= 10, where << "expected at least 10 bytes (magic, version, header "
                                           "length), found "
                                        << file_size);
  char start[8];
  read_exact(in, start, 8, where, "the magic");
  LOCKSTEP_CHECK(std::memcmp(start, kMagic, kMagicBytes) == 0,
                 where << "bad magic: expected 93 4e 55 4d 50 59 (\\x93NUMPY), found "
                       << describe_bytes(start, kMagicBytes));
  const int major = static_cast<unsigned char>(start[6]);
  const int minor = static_cast<unsigned char>(start[7]);
  LOCKSTEP_CHECK(major >= 1 && major <= 3 && minor == 0,
                 where << "format version " << major << "." << minor
                       << " is not supported; expected 1.0, 2.0 or 3.0");
  const size_t length_bytes = major == 1 ? 2 : 4;
  unsigned char length[4] = {0, 0, 0, 0};
  read_exact(in, reinterpret_cast<char*>(length), length_bytes, where, "the header length");
  preamble = 8 + static_cast<int64_t>(length_bytes);
  return detail::load_little_endian_u32(length);
}

// The number of data bytes `header` declares, checked for overflow.
int64_t declared_bytes(const NpyHeader& header, NpyDtype dtype, const std::string& where) {
  int64_t bytes = static_cast<int64_t>(npy_element_size(dtype));
  for (int64_t extent : header.shape) {
    LOCKSTEP_CHECK(extent == 0 || bytes <= std::numeric_limits<int64_t>::max() / extent,
                   where << "shape " << to_string(header.shape) << " of '" << header.descr
                         << "' holds more bytes than int64 can count");
    bytes *= extent;
  }
  return bytes;
}

std::string shape_literal(const Shape& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

template <typename T>
void to_float(const uint8_t* bytes, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    T value;
    std::memcpy(&value, bytes + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(value);
  }
}

}  // namespace

NpyArray read_npy(const fs::path& path) {
  const std::string where = "npy file '" + path.string() + "': ";
  std::error_code error;
  LOCKSTEP_CHECK(fs::is_regular_file(path, error), where << "no such regular file");
  const auto file_size = static_cast<int64_t>(fs::file_size(path, error));
  LOCKSTEP_CHECK(!error, where << "cannot read its size: " << error.message());
  std::ifstream in(path, std::ios::binary);
  LOCKSTEP_CHECK(in.good(), where << "cannot open it");

  int64_t preamble = 0;
  const int64_t header_length = read_preamble(in, file_size, where, preamble);
  LOCKSTEP_CHECK(header_length <= kNpyMaxHeaderBytes, where << "header length " << header_length
                                                            << " at offset 8 exceeds the limit of "
                                                            << kNpyMaxHeaderBytes << " bytes");
  LOCKSTEP_CHECK(header_length <= file_size - preamble,
                 where << "header of " << header_length << " bytes at offset " << preamble
                       << " runs past the end of the file (" << file_size << " bytes)");
  std::string text(static_cast<size_t>(header_length), '\0');
  read_exact(in, text.data(), text.size(), where, "the header");

  NpyHeader header;
  try {
    header = parse_npy_header(text);
  } catch (const Error& e) {
    LOCKSTEP_THROW(where << e.message());
  }
  LOCKSTEP_CHECK(!header.fortran_order,
                 where << "'fortran_order': True is not supported; expected C order "
                          "(save with numpy.ascontiguousarray)");
  NpyArray array;
  try {
    array.dtype = npy_dtype_from_descr(header.descr);
  } catch (const Error& e) {
    LOCKSTEP_THROW(where << e.message());
  }
  const int64_t data_offset = preamble + header_length;
  const int64_t expected = declared_bytes(header, array.dtype, where);
  const int64_t found = file_size - data_offset;
  LOCKSTEP_CHECK(found == expected,
                 where << "shape " << shape_literal(header.shape) << " of '" << header.descr
                       << "' needs " << expected << " bytes of data at offset " << data_offset
                       << ", found " << found
                       << (found < expected ? " (truncated)" : " (trailing bytes)"));
  array.shape = header.shape;
  array.bytes.resize(static_cast<size_t>(expected));
  read_exact(in, reinterpret_cast<char*>(array.bytes.data()), array.bytes.size(), where,
             "the data");
  const size_t element = npy_element_size(array.dtype);
  detail::little_endian_to_host(array.bytes.data(), array.bytes.size() / element, element);
  return array;
}

void write_npy(const fs::path& path, const NpyArray& array) {
  const std::string where = "write_npy '" + path.string() + "': ";
  const size_t element = npy_element_size(array.dtype);
  const int64_t numel = shape_numel(array.shape);
  LOCKSTEP_CHECK(array.bytes.size() == static_cast<size_t>(numel) * element,
                 where << "shape " << to_string(array.shape) << " of '" << npy_descr(array.dtype)
                       << "' needs " << numel * static_cast<int64_t>(element) << " bytes, found "
                       << array.bytes.size());
  std::string dict = std::string("{'descr': '") + npy_descr(array.dtype) +
                     "', 'fortran_order': False, 'shape': " + shape_literal(array.shape) + ", }";
  // Version 1.0 stores the header length in 2 bytes; longer headers need version 2.0.
  int64_t preamble = 10;
  int64_t total = preamble + static_cast<int64_t>(dict.size()) + 1;
  if ((total + kAlignment - 1) / kAlignment * kAlignment - preamble > 65535) preamble = 12;
  total = preamble + static_cast<int64_t>(dict.size()) + 1;
  const int64_t padded = (total + kAlignment - 1) / kAlignment * kAlignment;
  dict.append(static_cast<size_t>(padded - total), ' ');
  dict += '\n';
  const auto header_length = static_cast<uint32_t>(dict.size());

  std::string out(kMagic, kMagicBytes);
  out += static_cast<char>(preamble == 10 ? 1 : 2);
  out += '\0';
  for (int64_t i = 0; i < preamble - 8; ++i) {
    out += static_cast<char>((header_length >> (8 * i)) & 0xFF);
  }
  out += dict;
  std::vector<uint8_t> data = array.bytes;
  detail::little_endian_to_host(data.data(), data.size() / element, element);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  file.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  file.close();
  LOCKSTEP_CHECK(file.good(), where << "cannot write the file");
}

Tensor npy_to_tensor(const NpyArray& array) {
  const int64_t n = array.numel();
  LOCKSTEP_CHECK(array.bytes.size() == static_cast<size_t>(n) * npy_element_size(array.dtype),
                 "npy_to_tensor: shape " << to_string(array.shape) << " does not match "
                                         << array.bytes.size() << " bytes of '"
                                         << npy_descr(array.dtype) << "'");
  Tensor out = Tensor::empty(array.shape);
  const uint8_t* in = array.bytes.data();
  switch (array.dtype) {
    case NpyDtype::kFloat32:
      to_float<float>(in, n, out.data());
      break;
    case NpyDtype::kUint8:
      to_float<uint8_t>(in, n, out.data());
      break;
    case NpyDtype::kInt8:
      to_float<int8_t>(in, n, out.data());
      break;
    case NpyDtype::kInt32:
      to_float<int32_t>(in, n, out.data());
      break;
    case NpyDtype::kInt64:
      to_float<int64_t>(in, n, out.data());
      break;
  }
  return out;
}

NpyArray npy_from_tensor(const Tensor& tensor) {
  LOCKSTEP_CHECK(tensor.defined(), "npy_from_tensor: the tensor is undefined");
  NpyArray array;
  array.dtype = NpyDtype::kFloat32;
  array.shape = tensor.shape();
  const std::vector<float> values = tensor.to_vector();
  array.bytes.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(array.bytes.data(), values.data(), array.bytes.size());
  return array;
}

Tensor load_npy_tensor(const fs::path& path) { return npy_to_tensor(read_npy(path)); }

void save_npy(const fs::path& path, const Tensor& tensor) {
  write_npy(path, npy_from_tensor(tensor));
}

}  // namespace lockstep::data
