// Fuzz target of the IDX reader: every input is read as a plain file and again gzip-compressed;
// both must agree (gzip is only a wrapper), and a file that loads must survive write_idx and a
// second read unchanged. Anything else, or a crash, a sanitizer report, another exception or a
// large allocation, is a finding.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/data/idx.h"
#include "lockstep/data/idx_dataset.h"
#include "scratch_file.h"

namespace {

using namespace lockstep;

// A gzip stream of the input, so the fuzzer explores IDX headers through zlib as well.
std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream stream{};
  // Level 1 and a small memLevel: the compressed bytes matter, not their size.
  if (deflateInit2(&stream, 1, Z_DEFLATED, 16 + MAX_WBITS, 1, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::abort();
  }
  std::vector<uint8_t> out(deflateBound(&stream, static_cast<uLong>(size)));
  stream.next_in = const_cast<Bytef*>(data);
  stream.avail_in = static_cast<uInt>(size);
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  if (deflate(&stream, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// The array in the file, or nothing when the reader refuses it.
std::optional<data::IdxArray> read_all(const std::filesystem::path& path) {
  try {
    data::IdxArray array = data::read_idx(path);
    data::idx_to_tensor(array, 0.5f);
    data::IdxDatasetOptions options;
    options.num_classes = 10;
    data::load_idx_dataset(path, path, options);
    return array;
  } catch (const Error&) {
    return std::nullopt;
  }
}

bool same(const data::IdxArray& a, const data::IdxArray& b) {
  return a.type == b.type && a.dims == b.dims && a.data == b.data;
}

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "idx fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchFile plain(".idx");
  static fuzz::ScratchFile packed(".idx.gz");
  static fuzz::ScratchFile rewritten(".idx");
  const std::optional<data::IdxArray> from_plain = read_all(plain.write(data, size));
  const std::vector<uint8_t> compressed = gzip(data, size);
  const std::optional<data::IdxArray> from_packed =
      read_all(packed.write(compressed.data(), compressed.size()));
  // Plain bytes that start with the gzip magic are themselves gzip: only then may they differ.
  if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) {
    require(from_plain.has_value() == from_packed.has_value(),
            "the plain and the gzip-compressed file disagree on being valid");
    require(!from_plain || same(*from_plain, *from_packed),
            "the plain and the gzip-compressed file hold different arrays");
  }
  if (from_plain) {
    data::write_idx(rewritten.path(), *from_plain);
    require(same(data::read_idx(rewritten.path()), *from_plain),
            "write_idx then read_idx changed the array");
  }
  return 0;
}
