// Writing safetensors files: header JSON in the reference layout (metadata first, compact,
// padded with spaces to a multiple of 8), F32 data in the order given, written atomically.
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "io/safetensors_detail.h"
#include "lockstep/base/error.h"
#include "lockstep/io/atomic_file.h"
#include "lockstep/io/safetensors.h"

namespace lockstep::io {

namespace {

void check_names(const std::filesystem::path& path, const NamedTensors& tensors) {
  std::set<std::string> seen;
  for (const NamedTensor& named : tensors) {
    LOCKSTEP_CHECK(named.name != "__metadata__", "safetensors file '"
                                                     << path.string()
                                                     << "': '__metadata__' is reserved and "
                                                        "cannot name a tensor");
    LOCKSTEP_CHECK(seen.insert(named.name).second, "safetensors file '"
                                                       << path.string() << "': tensor name '"
                                                       << named.name << "' appears twice");
    LOCKSTEP_CHECK(named.tensor.defined(), "safetensors file '" << path.string() << "': tensor '"
                                                                << named.name << "' is undefined");
  }
}

// The header text, already padded to a multiple of 8 bytes.
std::string header_text(const std::filesystem::path& path, const NamedTensors& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json entries = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) entries[key] = value;
    header["__metadata__"] = std::move(entries);
  }
  uint64_t offset = 0;
  for (const NamedTensor& named : tensors) {
    const uint64_t bytes = named.tensor.bytes();
    header[named.name] = {{"dtype", "F32"},
                          {"shape", named.tensor.shape()},
                          {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    LOCKSTEP_THROW("safetensors file '" << path.string()
                                        << "': a tensor name or metadata string is not valid "
                                           "UTF-8: "
                                        << e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

void write_tensor_data(AtomicFile& file, const Tensor& tensor) {
  if (tensor.numel() == 0) return;
  const Tensor host = tensor.device().is_cpu() ? tensor : tensor.to(Device::cpu());
  if constexpr (std::endian::native == std::endian::little) {
    file.write(host.data(), host.bytes());
  } else {
    std::vector<float> values = host.to_vector();
    detail::swap_to_little_endian(values.data(), values.size());
    file.write(values.data(), host.bytes());
  }
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata,
                       const std::function<void()>& before_rename) {
  check_names(path, tensors);
  const std::string header = header_text(path, tensors, metadata);
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header.size() >> (8 * i));

  AtomicFile file(path);
  file.write(length, sizeof length);
  file.write(header.data(), header.size());
  for (const NamedTensor& named : tensors) write_tensor_data(file, named.tensor);
  file.commit(before_rename);
}

}  // namespace lockstep::io
