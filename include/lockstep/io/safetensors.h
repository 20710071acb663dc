// safetensors files, the public tensor format Lockstep checkpoints use: an 8-byte
// little-endian header length N, N bytes of JSON header, then the raw little-endian data.
// The reader checks every size and offset against the file before it allocates anything.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lockstep/base/shape.h"
#include "lockstep/tensor/named_tensor.h"

namespace lockstep::io {

// Largest header the reader accepts (the limit of the reference implementation).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// One validated tensor entry; offsets are relative to the start of the data buffer.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64", ...
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// The validated header of a file.
struct SafetensorsIndex {
  std::map<std::string, std::string> metadata;
  std::vector<SafetensorsEntry> entries;  // in data order (by begin offset)
  uint64_t data_start = 0;                // file offset of the data buffer: 8 + N
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  NamedTensors tensors;  // CPU float32, in data order
};

// Writes `tensors` as F32 in the order given (device tensors are copied to the host), with
// `metadata` as "__metadata__" when it is not empty. The write is atomic (see AtomicFile):
// on any error the previous file at `path` stays intact. Duplicate or reserved names throw.
// `before_rename` runs when the temporary is complete, before it replaces `path`.
void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {},
                       const std::function<void()>& before_rename = {});

// Reads and validates the header of `path` without reading the tensor data.
SafetensorsIndex read_safetensors_index(const std::filesystem::path& path);

// Reads every tensor of `path`; all must be F32 (other dtypes throw "unsupported dtype").
SafetensorsFile read_safetensors(const std::filesystem::path& path);

}  // namespace lockstep::io
