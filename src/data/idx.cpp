// IDX reader and writer: every header field is checked against the limits and, for plain
// files, against the file size before the payload is allocated; gzip payloads are read in
// chunks and refused as soon as they run past the declared size.
#include "lockstep/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>

#include "data/byte_order.h"
#include "lockstep/base/error.h"

namespace lockstep::data {

namespace fs = std::filesystem;

namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr uint32_t kMaxDim = static_cast<uint32_t>(std::numeric_limits<int32_t>::max());

std::string hex_byte(unsigned value) {
  static const char* kDigits = "0123456789abcdef";
  return std::string("0x") + kDigits[(value >> 4) & 0xF] + kDigits[value & 0xF];
}

// Reads a file front to back. A file that starts with the gzip magic 1f 8b is inflated on the
// way: one gzip member or several back to back (as `cat a.gz b.gz` makes), and any other bytes
// after the last member are trailing data, refused as they are after a plain payload.
class ByteSource {
 public:
  ByteSource(const fs::path& path, const std::string& where) : where_(where) {
    std::error_code error;
    LOCKSTEP_CHECK(fs::is_regular_file(path, error), where_ << "no such regular file");
    size_ = static_cast<int64_t>(fs::file_size(path, error));
    LOCKSTEP_CHECK(!error, where_ << "cannot read its size: " << error.message());
    file_.reset(std::fopen(path.c_str(), "rb"));
    LOCKSTEP_CHECK(file_ != nullptr, where_ << "cannot open it");
    unsigned char magic[2] = {0, 0};
    compressed_ = read_raw(magic, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    std::rewind(file_.get());
    raw_read_ = 0;
    if (compressed_) {
      // 16 + MAX_WBITS: gzip framing only, with its CRC-32 and length checked by zlib.
      LOCKSTEP_CHECK(inflateInit2(&stream_, 16 + MAX_WBITS) == Z_OK,
                     where_ << "cannot start zlib: " << (stream_.msg ? stream_.msg : "no memory"));
      inflating_ = true;
      input_.resize(kInputBytes);
    }
  }
  ~ByteSource() {
    if (inflating_) inflateEnd(&stream_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  bool compressed() const { return compressed_; }
  int64_t file_size() const { return size_; }

  // Reads up to `n` bytes; returns fewer only at the end of the data.
  size_t read(uint8_t* buffer, size_t n) {
    size_t total = 0;
    while (total < n) {
      const size_t want = std::min(n - total, kChunkBytes);
      const size_t got =
          compressed_ ? read_gzip(buffer + total, want) : read_raw(buffer + total, want);
      total += got;
      if (got < want) break;
    }
    return total;
  }

 private:
  static constexpr size_t kInputBytes = size_t{64} << 10;

  size_t read_raw(uint8_t* buffer, size_t n) {
    const size_t got = std::fread(buffer, 1, n, file_.get());
    LOCKSTEP_CHECK(!std::ferror(file_.get()), where_ << "read error");
    raw_read_ += static_cast<int64_t>(got);
    return got;
  }

  // Inflates up to `n` bytes; returns fewer only after the last gzip member.
  size_t read_gzip(uint8_t* buffer, size_t n) {
    stream_.next_out = buffer;
    stream_.avail_out = static_cast<uInt>(n);
    while (stream_.avail_out > 0 && !finished_) {
      if (stream_.avail_in == 0) {
        stream_.next_in = input_.data();
        stream_.avail_in = static_cast<uInt>(read_raw(input_.data(), input_.size()));
      }
      const bool out_of_input = stream_.avail_in == 0;
      const int code = inflate(&stream_, Z_NO_FLUSH);
      if (code == Z_STREAM_END) {
        next_member();
      } else if (code != Z_OK) {
        fail(code, out_of_input);
      }
    }
    return n - stream_.avail_out;
  }

  // After a member: the end of the file, or the start of another member.
  void next_member() {
    member_end_ = raw_read_ - static_cast<int64_t>(stream_.avail_in);
    if (member_end_ == size_) {
      finished_ = true;
      return;
    }
    LOCKSTEP_CHECK(inflateReset(&stream_) == Z_OK, where_ << "cannot reset zlib");
  }

  [[noreturn]] void fail(int code, bool out_of_input) const {
    // A member that fails before giving a byte, after a complete one, is not gzip data at all.
    LOCKSTEP_CHECK(member_end_ == 0 || stream_.total_out > 0,
                   where_ << "has " << size_ - member_end_ << " bytes after the gzip stream that "
                          << "ends at offset " << member_end_ << " (trailing data)");
    LOCKSTEP_CHECK(!(code == Z_BUF_ERROR && out_of_input),
                   where_ << "the gzip stream is truncated: the file ends at offset " << size_
                          << " inside it");
    LOCKSTEP_THROW(where_ << "the gzip stream is damaged ("
                          << (stream_.msg ? stream_.msg : zError(code)) << ")");
  }

  std::string where_;
  int64_t size_ = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
  bool compressed_ = false;
  // gzip state: zlib's stream, the compressed bytes read so far, where the last member ended.
  z_stream stream_{};
  bool inflating_ = false;
  bool finished_ = false;
  std::vector<uint8_t> input_;
  int64_t raw_read_ = 0;
  int64_t member_end_ = 0;
};

// Reads and checks the magic and the dimensions; returns the header's byte count.
int64_t read_header(ByteSource& source, const std::string& where, IdxArray& array) {
  uint8_t magic[4];
  const size_t got = source.read(magic, 4);
  LOCKSTEP_CHECK(got == 4, where << "header is truncated: expected 4 magic bytes, found " << got);
  LOCKSTEP_CHECK(magic[0] == 0 && magic[1] == 0,
                 where << "expected the magic to start with two zero bytes, found "
                       << hex_byte(magic[0]) << " " << hex_byte(magic[1]));
  switch (static_cast<IdxType>(magic[2])) {
    case IdxType::kUint8:
    case IdxType::kInt8:
    case IdxType::kInt16:
    case IdxType::kInt32:
    case IdxType::kFloat32:
    case IdxType::kFloat64:
      break;
    default:
      LOCKSTEP_THROW(where << "unknown type code " << hex_byte(magic[2])
                           << " at offset 2; expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e");
  }
  array.type = static_cast<IdxType>(magic[2]);
  const int ndims = magic[3];
  LOCKSTEP_CHECK(ndims >= 1 && ndims <= kIdxMaxDims, where << "dimension count at offset 3 is "
                                                           << ndims << ", expected 1 to "
                                                           << kIdxMaxDims);
  uint8_t raw[4 * kIdxMaxDims];
  const size_t dim_bytes = 4 * static_cast<size_t>(ndims);
  const size_t got_dims = source.read(raw, dim_bytes);
  LOCKSTEP_CHECK(got_dims == dim_bytes, where << "header is truncated: expected " << dim_bytes
                                              << " bytes of dimensions at offset 4, found "
                                              << got_dims);
  array.dims.assign(static_cast<size_t>(ndims), 0);
  for (int d = 0; d < ndims; ++d) {
    const uint32_t extent = detail::load_big_endian_u32(raw + 4 * d);
    LOCKSTEP_CHECK(extent <= kMaxDim, where << "dimension " << d << " (offset " << 4 + 4 * d
                                            << ") is " << extent << ", larger than 2^31-1");
    array.dims[static_cast<size_t>(d)] = extent;
  }
  return 4 + static_cast<int64_t>(dim_bytes);
}

// The payload size the dimensions declare, checked for overflow and against `max_bytes`.
int64_t declared_payload(const IdxArray& array, const std::string& where, int64_t max_bytes) {
  const int64_t element = static_cast<int64_t>(idx_element_size(array.type));
  int64_t bytes = element;
  for (int64_t extent : array.dims) {
    LOCKSTEP_CHECK(extent == 0 || bytes <= std::numeric_limits<int64_t>::max() / extent,
                   where << "dimensions " << to_string(array.dims) << " of "
                         << idx_type_name(array.type) << " hold more bytes than int64 can count");
    bytes *= extent;
  }
  LOCKSTEP_CHECK(bytes <= max_bytes, where << "dimensions " << to_string(array.dims) << " of "
                                           << idx_type_name(array.type) << " declare " << bytes
                                           << " bytes of data, above the limit of " << max_bytes);
  return bytes;
}

// Reads exactly `payload` bytes into array.data, then checks that nothing follows.
void read_payload(ByteSource& source, const std::string& where, int64_t header_bytes,
                  int64_t payload, IdxArray& array) {
  if (!source.compressed()) {
    const int64_t found = source.file_size() - header_bytes;
    LOCKSTEP_CHECK(found >= payload, where << "data is truncated: expected " << payload
                                           << " bytes after the " << header_bytes
                                           << "-byte header, found " << found);
    LOCKSTEP_CHECK(found == payload, where << "has " << found - payload
                                           << " trailing bytes after the " << payload
                                           << " bytes of data the header declares");
    array.data.resize(static_cast<size_t>(payload));
  }
  // A gzip payload grows one chunk at a time: the allocation follows the data actually
  // decompressed, never the declared size alone.
  size_t have = 0;
  const size_t total = static_cast<size_t>(payload);
  while (have < total) {
    const size_t want = std::min(kChunkBytes, total - have);
    if (array.data.size() < have + want) array.data.resize(have + want);
    const size_t got = source.read(array.data.data() + have, want);
    have += got;
    LOCKSTEP_CHECK(got == want, where << "data is truncated: expected " << payload
                                      << " bytes after the " << header_bytes
                                      << "-byte header, found " << have
                                      << (source.compressed() ? " (decompressed)" : ""));
  }
  uint8_t extra = 0;
  LOCKSTEP_CHECK(source.read(&extra, 1) == 0, where << "has trailing data after the " << payload
                                                    << " bytes of data the header declares");
}

template <typename T>
double load(const uint8_t* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return static_cast<double>(value);
}

// out[i] = element i * scale, computed in double and rounded once.
template <typename T>
void convert(const uint8_t* bytes, int64_t n, float scale, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(load<T>(bytes + static_cast<size_t>(i) * sizeof(T)) * scale);
  }
}

}  // namespace

size_t idx_element_size(IdxType type) {
  switch (type) {
    case IdxType::kUint8:
    case IdxType::kInt8:
      return 1;
    case IdxType::kInt16:
      return 2;
    case IdxType::kInt32:
    case IdxType::kFloat32:
      return 4;
    case IdxType::kFloat64:
      return 8;
  }
  LOCKSTEP_THROW("IDX: unknown type code " << hex_byte(static_cast<unsigned>(type)));
}

const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::kUint8:
      return "uint8";
    case IdxType::kInt8:
      return "int8";
    case IdxType::kInt16:
      return "int16";
    case IdxType::kInt32:
      return "int32";
    case IdxType::kFloat32:
      return "float32";
    case IdxType::kFloat64:
      return "float64";
  }
  return "unknown";
}

double IdxArray::value(int64_t i) const {
  const size_t element = idx_element_size(type);
  LOCKSTEP_CHECK(
      i >= 0 && static_cast<size_t>(i) < data.size() / element,
      "IdxArray::value: index " << i << " is outside the " << data.size() / element << " elements");
  const uint8_t* at = data.data() + static_cast<size_t>(i) * element;
  switch (type) {
    case IdxType::kUint8:
      return load<uint8_t>(at);
    case IdxType::kInt8:
      return load<int8_t>(at);
    case IdxType::kInt16:
      return load<int16_t>(at);
    case IdxType::kInt32:
      return load<int32_t>(at);
    case IdxType::kFloat32:
      return load<float>(at);
    case IdxType::kFloat64:
      return load<double>(at);
  }
  return 0.0;
}

IdxArray read_idx(const fs::path& path, int64_t max_bytes) {
  const std::string where = "IDX file '" + path.string() + "': ";
  ByteSource source(path, where);
  IdxArray array;
  const int64_t header_bytes = read_header(source, where, array);
  const int64_t payload = declared_payload(array, where, max_bytes);
  read_payload(source, where, header_bytes, payload, array);
  detail::big_endian_to_host(array.data.data(), array.data.size() / idx_element_size(array.type),
                             idx_element_size(array.type));
  return array;
}

void write_idx(const fs::path& path, const IdxArray& array) {
  const std::string where = "write_idx '" + path.string() + "': ";
  const int ndims = static_cast<int>(array.dims.size());
  LOCKSTEP_CHECK(ndims >= 1 && ndims <= kIdxMaxDims,
                 where << "expected 1 to " << kIdxMaxDims << " dimensions, found " << ndims);
  std::vector<uint8_t> bytes = {0, 0, static_cast<uint8_t>(array.type),
                                static_cast<uint8_t>(ndims)};
  for (int64_t extent : array.dims) {
    LOCKSTEP_CHECK(extent >= 0 && extent <= kMaxDim,
                   where << "dimension " << extent << " is outside 0 to 2^31-1");
    for (int shift = 24; shift >= 0; shift -= 8) {
      bytes.push_back(static_cast<uint8_t>(static_cast<uint64_t>(extent) >> shift));
    }
  }
  const size_t element = idx_element_size(array.type);
  LOCKSTEP_CHECK(array.data.size() == static_cast<size_t>(array.numel()) * element,
                 where << "dimensions " << to_string(array.dims) << " need "
                       << array.numel() * static_cast<int64_t>(element) << " bytes, found "
                       << array.data.size());
  const size_t header = bytes.size();
  bytes.insert(bytes.end(), array.data.begin(), array.data.end());
  detail::big_endian_to_host(bytes.data() + header, array.data.size() / element, element);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  LOCKSTEP_CHECK(out.good(), where << "cannot write the file");
}

Tensor idx_to_tensor(const IdxArray& array, float scale) {
  const int64_t n = array.numel();
  LOCKSTEP_CHECK(array.data.size() == static_cast<size_t>(n) * idx_element_size(array.type),
                 "idx_to_tensor: dimensions "
                     << to_string(array.dims) << " need "
                     << n * static_cast<int64_t>(idx_element_size(array.type)) << " bytes, found "
                     << array.data.size());
  Tensor out = Tensor::empty(array.dims);
  const uint8_t* in = array.data.data();
  float* x = out.data();
  switch (array.type) {
    case IdxType::kUint8:
      convert<uint8_t>(in, n, scale, x);
      break;
    case IdxType::kInt8:
      convert<int8_t>(in, n, scale, x);
      break;
    case IdxType::kInt16:
      convert<int16_t>(in, n, scale, x);
      break;
    case IdxType::kInt32:
      convert<int32_t>(in, n, scale, x);
      break;
    case IdxType::kFloat32:
      convert<float>(in, n, scale, x);
      break;
    case IdxType::kFloat64:
      convert<double>(in, n, scale, x);
      break;
  }
  return out;
}

}  // namespace lockstep::data
