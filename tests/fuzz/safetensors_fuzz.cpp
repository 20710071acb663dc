// Fuzz target of the safetensors reader: every input is read as a file (index, then tensors);
// the same bytes also go to the header validator directly as the JSON text of a file with a
// 16-byte data buffer, so mutations of the JSON need not keep the length field consistent.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "io/safetensors_detail.h"
#include "lockstep/base/error.h"
#include "lockstep/io/safetensors.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lockstep;
  static fuzz::ScratchFile file(".safetensors");
  const std::filesystem::path& path = file.write(data, size);
  try {
    io::read_safetensors_index(path);
    io::read_safetensors(path);
  } catch (const Error&) {
  }
  try {
    io::detail::parse_safetensors_header(
        std::string_view(reinterpret_cast<const char*>(data), size), 16, "fuzz input");
  } catch (const Error&) {
  }
  return 0;
}
