// IDX reader: round trips of every element type through plain and gzip files, and rejection
// of malformed files (each a lockstep::Error, never a crash or an unchecked allocation).
#include "lockstep/data/idx.h"

#include <zlib.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/base/philox.h"
#include "support/test_support.h"

// The largest single allocation while `g_track_allocations` is set: lets a test prove that a
// reader did not allocate what an unchecked header field asked for.
namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<size_t> g_largest_allocation{0};
}  // namespace

// This file replaces the global operator new/delete pair with malloc/free; GCC cannot see
// that they pair up and warns at every inlined delete.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t bytes) {
  if (g_track_allocations.load(std::memory_order_relaxed)) {
    size_t seen = g_largest_allocation.load();
    while (bytes > seen && !g_largest_allocation.compare_exchange_weak(seen, bytes)) {
    }
  }
  void* p = std::malloc(bytes ? bytes : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace lockstep::data {
namespace {

using lockstep::testing::read_file;
using lockstep::testing::TempDir;
using lockstep::testing::write_file;

void append_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

// An IDX file built byte by byte, independently of write_idx.
std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) append_u32(out, d);
  return out + payload;
}

void write_gzip(const std::filesystem::path& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(file), Z_OK);
}

// Expects read_idx to throw a lockstep::Error whose message contains `fragment`.
void expect_rejected(const std::filesystem::path& path, const std::string& fragment) {
  try {
    read_idx(path);
    ADD_FAILURE() << "read_idx accepted " << path << ", expected an error with '" << fragment
                  << "'";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(fragment), std::string::npos)
        << "message '" << e.message() << "' lacks '" << fragment << "'";
    EXPECT_NE(e.message().find(path.string()), std::string::npos)
        << "message '" << e.message() << "' does not name the file";
  }
}

// Big-endian payloads, written by hand: the reader must decode each type's bytes.
TEST(Idx, DecodesEveryTypeFromBigEndianPlainAndGzip) {
  struct Case {
    uint8_t code;
    IdxType type;
    std::string payload;
    std::vector<float> values;
  };
  const std::vector<Case> cases = {
      {0x08, IdxType::kUint8, std::string("\x00\x7f\xff", 3), {0, 127, 255}},
      {0x09, IdxType::kInt8, std::string("\x80\x00\x7f", 3), {-128, 0, 127}},
      {0x0B, IdxType::kInt16, std::string("\xff\xfe\x01\x00\x7f\xff", 6), {-2, 256, 32767}},
      {0x0C,
       IdxType::kInt32,
       std::string("\xff\xff\xff\xfb\x00\x01\x00\x00\x00\x00\x00\x07", 12),
       {-5, 65536, 7}},
      {0x0D,
       IdxType::kFloat32,
       std::string("\x3f\xc0\x00\x00\xc0\x20\x00\x00\x00\x00\x00\x00", 12),
       {1.5f, -2.5f, 0.0f}},
      {0x0E,
       IdxType::kFloat64,
       std::string("\x3f\xf8\x00\x00\x00\x00\x00\x00\xc0\x04\x00\x00\x00\x00\x00\x00"
                   "\x40\x59\x00\x00\x00\x00\x00\x00",
                   24),
       {1.5f, -2.5f, 100.0f}},
  };
  TempDir dir;
  for (const Case& c : cases) {
    const std::string bytes = idx_bytes(c.code, {3}, c.payload);
    write_file(dir / "plain", bytes);
    write_gzip(dir / "packed", bytes);
    for (const char* name : {"plain", "packed"}) {
      const IdxArray array = read_idx(dir / name);
      EXPECT_EQ(array.type, c.type) << idx_type_name(c.type) << " " << name;
      EXPECT_EQ(array.dims, Shape({3}));
      EXPECT_EQ(idx_to_tensor(array).to_vector(), c.values) << idx_type_name(c.type) << " " << name;
      EXPECT_EQ(array.value(2), c.values[2]);
    }
  }
}

// write_idx then read_idx gives back the same type, dims and bytes, also for a zero extent.
TEST(Idx, WriterRoundTripsEveryTypeAndShape) {
  TempDir dir;
  const IdxType types[] = {IdxType::kUint8, IdxType::kInt8,    IdxType::kInt16,
                           IdxType::kInt32, IdxType::kFloat32, IdxType::kFloat64};
  const Shape shapes[] = {{5}, {2, 3}, {2, 3, 4}, {0}, {3, 0, 2}};
  for (IdxType type : types) {
    for (const Shape& shape : shapes) {
      IdxArray array;
      array.type = type;
      array.dims = shape;
      array.data.resize(static_cast<size_t>(array.numel()) * idx_element_size(type));
      for (size_t i = 0; i < array.data.size(); ++i)
        array.data[i] = static_cast<uint8_t>(i * 37 + 11);
      write_idx(dir / "a.idx", array);
      write_gzip(dir / "a.idx.gz", read_file(dir / "a.idx"));
      for (const char* name : {"a.idx", "a.idx.gz"}) {
        const IdxArray back = read_idx(dir / name);
        EXPECT_EQ(back.type, type);
        EXPECT_EQ(back.dims, shape);
        EXPECT_EQ(back.data, array.data) << idx_type_name(type) << " " << to_string(shape);
      }
    }
  }
}

// Gzip is recognised by its magic bytes, not by the file name.
TEST(Idx, DetectsGzipByMagicNotName) {
  TempDir dir;
  const std::string bytes = idx_bytes(0x08, {2, 2}, "\x01\x02\x03\x04");
  write_gzip(dir / "looks-plain.idx", bytes);
  write_file(dir / "looks-packed.gz", bytes);
  EXPECT_EQ(idx_to_tensor(read_idx(dir / "looks-plain.idx")).to_vector(),
            std::vector<float>({1, 2, 3, 4}));
  EXPECT_EQ(idx_to_tensor(read_idx(dir / "looks-packed.gz")).to_vector(),
            std::vector<float>({1, 2, 3, 4}));
}

// idx_to_tensor multiplies by the scale: uint8 255 with 1/255 is exactly 1.
TEST(Idx, ToTensorAppliesScale) {
  TempDir dir;
  write_file(dir / "a", idx_bytes(0x08, {3}, std::string("\x00\x33\xff", 3)));
  const std::vector<float> v = idx_to_tensor(read_idx(dir / "a"), 1.0f / 255.0f).to_vector();
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_FLOAT_EQ(v[1], 0.2f);
  EXPECT_EQ(v[2], 1.0f);
}

TEST(Idx, RejectsMalformedHeaders) {
  TempDir dir;
  const auto check = [&](const std::string& bytes, const std::string& fragment) {
    write_file(dir / "bad", bytes);
    expect_rejected(dir / "bad", fragment);
    write_gzip(dir / "bad.gz", bytes);
    expect_rejected(dir / "bad.gz", fragment);
  };
  check("", "header is truncated");
  check(std::string("\0\0\x08", 3), "header is truncated");
  check(idx_bytes(0x08, {3, 4}, "").substr(0, 9), "expected 8 bytes of dimensions");
  check(std::string("\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9), "two zero bytes");
  check(std::string("\x00\x02\x08\x01\x00\x00\x00\x01\x05", 9), "two zero bytes");
  check(idx_bytes(0x0A, {1}, "x"), "unknown type code 0x0a");
  check(idx_bytes(0x08, {}, ""), "dimension count at offset 3 is 0");
  check(idx_bytes(0x08, std::vector<uint32_t>(9, 1), "x"), "dimension count at offset 3 is 9");
  check(idx_bytes(0x08, {0x80000000u}, ""), "larger than 2^31-1");
  check(idx_bytes(0x08, {0x80000000u, 0x80000000u, 0x80000000u}, ""), "larger than 2^31-1");
  check(idx_bytes(0x08, {0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu}, ""), "more bytes than int64");
  check(idx_bytes(0x0E, {0x7FFFFFFFu, 4}, ""), "above the limit of 4294967296");
}

TEST(Idx, RejectsPayloadOfWrongLength) {
  TempDir dir;
  write_file(dir / "short", idx_bytes(0x08, {10}, "12345"));
  expect_rejected(dir / "short", "expected 10 bytes after the 8-byte header, found 5");
  write_file(dir / "long", idx_bytes(0x08, {3}, "1234"));
  expect_rejected(dir / "long", "1 trailing bytes");
  write_gzip(dir / "short.gz", idx_bytes(0x0C, {100}, std::string(50, 'x')));
  expect_rejected(dir / "short.gz", "expected 400 bytes after the 8-byte header, found 50");
  write_gzip(dir / "long.gz", idx_bytes(0x08, {3}, "1234"));
  expect_rejected(dir / "long.gz", "trailing data");
}

// A header that declares 3 GiB (below the 4 GiB limit) over a few bytes of data is refused
// without allocating anything near its claim, for plain and gzip files alike.
TEST(Idx, DoesNotAllocateWhatTheHeaderClaimsBeyondTheFile) {
  TempDir dir;
  const std::string bytes = idx_bytes(0x08, {3u << 10, 1u << 20}, std::string(1000, 'x'));
  write_file(dir / "claim", bytes);
  write_gzip(dir / "claim.gz", bytes);
  for (const char* name : {"claim", "claim.gz"}) {
    g_largest_allocation = 0;
    g_track_allocations = true;
    EXPECT_THROW(read_idx(dir / name), Error) << name;
    g_track_allocations = false;
    EXPECT_LT(g_largest_allocation.load(), size_t{16} << 20) << name;
  }
}

// Every proper prefix of a valid file, plain or gzip-compressed, is an error.
TEST(Idx, EveryTruncationIsAnError) {
  TempDir dir;
  std::string payload;
  for (int i = 0; i < 24; ++i) payload += static_cast<char>(i * 7);
  const std::string bytes = idx_bytes(0x0B, {3, 4}, payload);
  write_gzip(dir / "full.gz", bytes);
  const std::string packed = read_file(dir / "full.gz");
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_file(dir / "cut", bytes.substr(0, n));
    EXPECT_THROW(read_idx(dir / "cut"), Error) << "plain prefix of " << n << " bytes";
  }
  for (size_t n = 0; n < packed.size(); ++n) {
    write_file(dir / "cut.gz", packed.substr(0, n));
    EXPECT_THROW(read_idx(dir / "cut.gz"), Error) << "gzip prefix of " << n << " bytes";
  }
}

TEST(Idx, DamagedGzipStreamIsAnError) {
  TempDir dir;
  write_gzip(dir / "a.gz", idx_bytes(0x08, {64}, std::string(64, 'q')));
  std::string packed = read_file(dir / "a.gz");
  for (size_t i = 10; i < packed.size(); ++i) packed[i] = static_cast<char>(packed[i] ^ 0x5A);
  write_file(dir / "a.gz", packed);
  EXPECT_THROW(read_idx(dir / "a.gz"), Error);
}

// Random bytes, alone or behind a plausible magic, are rejected with an Error.
TEST(Idx, RandomGarbageIsAnError) {
  TempDir dir;
  for (uint32_t seed = 0; seed < 200; ++seed) {
    std::string bytes(4 + seed % 61, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) {
      const philox::Counter c =
          philox::philox4x32_10({{static_cast<uint32_t>(i), seed, 0, 0}}, {{0xDA7Au, 0}});
      bytes[i] = static_cast<char>(c.w[0]);
    }
    if (seed % 2 == 1) {
      bytes[0] = 0;
      bytes[1] = 0;
      bytes[2] = 0x08;
      bytes[3] = static_cast<char>(1 + seed % 4);
    }
    write_file(dir / "garbage", bytes);
    EXPECT_THROW(read_idx(dir / "garbage"), Error) << "seed " << seed;
  }
}

TEST(Idx, MissingFileAndDirectoryAreErrors) {
  TempDir dir;
  expect_rejected(dir / "absent", "no such regular file");
  expect_rejected(dir.path(), "no such regular file");
}

}  // namespace
}  // namespace lockstep::data
