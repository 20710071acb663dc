// CRC-32 of a checkpoint's contents (zlib's crc32), fed in chunks that fit its 32-bit length.
#include "io/checkpoint_checksum.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace lockstep::io::detail {

namespace {

class Crc32 {
 public:
  void add(const void* data, size_t bytes) {
    const auto* next = static_cast<const Bytef*>(data);
    while (bytes > 0) {
      const size_t chunk = std::min<size_t>(bytes, 1u << 30);
      crc_ = crc32(crc_, next, static_cast<uInt>(chunk));
      next += chunk;
      bytes -= chunk;
    }
  }
  // Text followed by a NUL, so that ("ab", "c") and ("a", "bc") differ.
  void add_field(const std::string& text) { add(text.c_str(), text.size() + 1); }
  uLong value() const { return crc_; }

 private:
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

void add_tensor_bytes(Crc32& crc, const Tensor& tensor) {
  if (tensor.numel() == 0) return;
  const Tensor host = tensor.device().is_cpu() ? tensor : tensor.to(Device::cpu());
  if constexpr (std::endian::native == std::endian::little) {
    crc.add(host.data(), host.bytes());
  } else {
    std::vector<uint32_t> words(static_cast<size_t>(host.numel()));
    for (size_t i = 0; i < words.size(); ++i) {
      words[i] = __builtin_bswap32(std::bit_cast<uint32_t>(host.data()[i]));
    }
    crc.add(words.data(), words.size() * sizeof(uint32_t));
  }
}

}  // namespace

std::string checkpoint_checksum(const std::map<std::string, std::string>& metadata,
                                const NamedTensors& tensors) {
  Crc32 crc;
  for (const auto& [key, value] : metadata) {
    if (key == kChecksumKey) continue;
    crc.add_field(key);
    crc.add_field(value);
  }
  for (const NamedTensor& named : tensors) {
    crc.add_field(named.name);
    crc.add_field(to_string(named.tensor.shape()));
    add_tensor_bytes(crc, named.tensor);
  }
  char text[16];
  std::snprintf(text, sizeof text, "%08lx", static_cast<unsigned long>(crc.value() & 0xffffffffu));
  return std::string("crc32:") + text;
}

}  // namespace lockstep::io::detail
