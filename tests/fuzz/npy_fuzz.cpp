// Fuzz target of the .npy reader: every input is read as a file and, when it loads, converted to
// a tensor and written back, which must read the same; the same bytes also go to the header
// parser directly, so mutations of the dict need not keep the preamble's length consistent.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "lockstep/base/error.h"
#include "lockstep/data/npy.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lockstep;
  static fuzz::ScratchFile file(".npy");
  static fuzz::ScratchFile rewritten(".npy");
  std::optional<data::NpyArray> array;
  try {
    array = data::read_npy(file.write(data, size));
    data::npy_to_tensor(*array);
  } catch (const Error&) {
  }
  if (array) {
    data::write_npy(rewritten.path(), *array);
    const data::NpyArray back = data::read_npy(rewritten.path());
    if (back.dtype != array->dtype || back.shape != array->shape || back.bytes != array->bytes) {
      std::fprintf(stderr, "npy fuzz: write_npy then read_npy changed the array\n");
      std::abort();
    }
  }
  try {
    data::parse_npy_header(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const Error&) {
  }
  return 0;
}
