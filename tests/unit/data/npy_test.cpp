// .npy reader and writer: round trips of every dtype and shape, files written by NumPy 2.4
// (their bytes embedded below), byte-identical output, and rejection of malformed files.
#include "lockstep/data/npy.h"

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep::data {
namespace {

using lockstep::testing::read_file;
using lockstep::testing::TempDir;
using lockstep::testing::write_file;

// np.save of np.array([[-1.0, -0.5, 0.0], [0.5, 1.0, 1.5]], dtype='<f4')
const std::string kNumpyF4(
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }  "
    "                                                        \x0a\x00\x00\x80\xbf\x00"
    "\x00\x00\xbf\x00\x00\x00\x00\x00\x00\x00\x3f\x00\x00\x80\x3f\x00\x00\xc0\x3f",
    152);
// np.save of np.array([-5, 0, 1099511627776], dtype='<i8')
const std::string kNumpyI8(
    "\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }    "
    "                                                        \x0a\xfb\xff\xff\xff\xff"
    "\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00",
    152);
// np.save of np.array(200, dtype='|u1')
const std::string kNumpyU1Scalar(
    "\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (), }      "
    "                                                        \x0a\xc8",
    129);
// np.save of np.array([-128, 127], dtype='|i1')
const std::string kNumpyI1(
    "\x93NUMPY\x01\x00v\x00{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }    "
    "                                                        \x0a\x80\x7f",
    130);
// np.save of np.array([[1, -2], [3, 2147483647]], dtype='<i4'), version=(2, 0)
const std::string kNumpyI4Version2(
    "\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<i4', 'fortran_order': False, 'shape': (2,"
    " 2), }                                                        \x0a\x01\x00\x00\x00"
    "\xfe\xff\xff\xff\x03\x00\x00\x00\xff\xff\xff\x7f",
    144);
// np.save of np.array([[1, 2], [3, 4]], dtype='<i4') in Fortran order
const std::string kNumpyFortran(
    "\x93NUMPY\x01\x00v\x00{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2), }   "
    "                                                        \x0a\x01\x00\x00\x00\x03"
    "\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00",
    144);
// np.save of np.array([1.5], dtype='>f4')
const std::string kNumpyBigEndian(
    "\x93NUMPY\x01\x00v\x00{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }    "
    "                                                        \x0a\x3f\xc0\x00\x00",
    132);
// np.save of np.array([1.5], dtype='<f8')
const std::string kNumpyF8(
    "\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }    "
    "                                                        \x0a\x00\x00\x00\x00\x00"
    "\x00\xf8\x3f",
    136);

// Expects read_npy to throw a lockstep::Error with `fragment` and the file name.
void expect_rejected(const std::filesystem::path& path, const std::string& fragment) {
  try {
    read_npy(path);
    ADD_FAILURE() << "read_npy accepted " << path << ", expected '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
    EXPECT_NE(e.message().find(path.string()), std::string::npos) << e.message();
  }
}

// A version 1.0 file around `dict` (no padding) followed by `data`.
std::string npy_file(const std::string& dict, const std::string& data) {
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict + data;
}

template <typename T>
std::vector<T> elements(const NpyArray& array) {
  std::vector<T> out(array.bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), array.bytes.data(), array.bytes.size());
  return out;
}

TEST(Npy, ReadsFilesWrittenByNumpy) {
  TempDir dir;
  write_file(dir / "f4.npy", kNumpyF4);
  const Tensor f4 = load_npy_tensor(dir / "f4.npy");
  EXPECT_EQ(f4.shape(), Shape({2, 3}));
  EXPECT_EQ(f4.to_vector(), std::vector<float>({-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}));

  write_file(dir / "i8.npy", kNumpyI8);
  const NpyArray i8 = read_npy(dir / "i8.npy");
  EXPECT_EQ(i8.dtype, NpyDtype::kInt64);
  EXPECT_EQ(i8.shape, Shape({3}));
  EXPECT_EQ(elements<int64_t>(i8), std::vector<int64_t>({-5, 0, int64_t{1} << 40}));

  write_file(dir / "u1.npy", kNumpyU1Scalar);
  const NpyArray u1 = read_npy(dir / "u1.npy");
  EXPECT_EQ(u1.dtype, NpyDtype::kUint8);
  EXPECT_EQ(u1.shape, Shape({}));
  EXPECT_EQ(elements<uint8_t>(u1), std::vector<uint8_t>({200}));
  EXPECT_EQ(npy_to_tensor(u1).to_vector(), std::vector<float>({200.0f}));

  write_file(dir / "i1.npy", kNumpyI1);
  EXPECT_EQ(load_npy_tensor(dir / "i1.npy").to_vector(), std::vector<float>({-128.0f, 127.0f}));

  write_file(dir / "i4.npy", kNumpyI4Version2);
  const NpyArray i4 = read_npy(dir / "i4.npy");
  EXPECT_EQ(i4.dtype, NpyDtype::kInt32);
  EXPECT_EQ(i4.shape, Shape({2, 2}));
  EXPECT_EQ(elements<int32_t>(i4), std::vector<int32_t>({1, -2, 3, 2147483647}));
}

// The writer reproduces NumPy's bytes exactly (header text, padding to 64, data).
TEST(Npy, WriterMatchesNumpyByteForByte) {
  TempDir dir;
  for (const std::string* expected : {&kNumpyF4, &kNumpyI8, &kNumpyU1Scalar, &kNumpyI1}) {
    write_file(dir / "in.npy", *expected);
    write_npy(dir / "out.npy", read_npy(dir / "in.npy"));
    EXPECT_EQ(read_file(dir / "out.npy"), *expected);
  }
  write_file(dir / "in.npy", kNumpyF4);
  save_npy(dir / "out.npy", load_npy_tensor(dir / "in.npy"));
  EXPECT_EQ(read_file(dir / "out.npy"), kNumpyF4);
}

TEST(Npy, RoundTripsEveryDtypeAndShape) {
  TempDir dir;
  const NpyDtype dtypes[] = {NpyDtype::kFloat32, NpyDtype::kUint8, NpyDtype::kInt8,
                             NpyDtype::kInt32, NpyDtype::kInt64};
  const Shape shapes[] = {{}, {0}, {3}, {2, 3, 4}};
  for (NpyDtype dtype : dtypes) {
    for (const Shape& shape : shapes) {
      NpyArray array;
      array.dtype = dtype;
      array.shape = shape;
      array.bytes.resize(static_cast<size_t>(array.numel()) * npy_element_size(dtype));
      for (size_t i = 0; i < array.bytes.size(); ++i)
        array.bytes[i] = static_cast<uint8_t>(i * 29 + 3);
      write_npy(dir / "a.npy", array);
      EXPECT_EQ(read_file(dir / "a.npy").find(std::string("'descr': '") + npy_descr(dtype)), 11u);
      const NpyArray back = read_npy(dir / "a.npy");
      EXPECT_EQ(back.dtype, dtype) << npy_descr(dtype) << " " << to_string(shape);
      EXPECT_EQ(back.shape, shape) << npy_descr(dtype) << " " << to_string(shape);
      EXPECT_EQ(back.bytes, array.bytes) << npy_descr(dtype) << " " << to_string(shape);
      EXPECT_EQ((read_file(dir / "a.npy").size() - array.bytes.size()) % 64, 0u);
    }
  }
}

// A header too long for version 1.0's 2-byte length field is written as version 2.0.
TEST(Npy, WriterSwitchesToVersion2ForLongHeaders) {
  TempDir dir;
  NpyArray array;
  array.dtype = NpyDtype::kUint8;
  array.shape = Shape(22000, 1);
  array.bytes = {42};
  write_npy(dir / "long.npy", array);
  const std::string bytes = read_file(dir / "long.npy");
  EXPECT_EQ(bytes[6], 2);
  EXPECT_EQ((bytes.size() - 1) % 64, 0u);
  const NpyArray back = read_npy(dir / "long.npy");
  EXPECT_EQ(back.shape, array.shape);
  EXPECT_EQ(back.bytes, array.bytes);
}

TEST(Npy, FloatTensorRoundTrip) {
  TempDir dir;
  const Tensor t = lockstep::testing::random_tensor({4, 5, 6}, 17);
  save_npy(dir / "t.npy", t);
  const Tensor back = load_npy_tensor(dir / "t.npy");
  EXPECT_EQ(back.shape(), t.shape());
  EXPECT_EQ(back.to_vector(), t.to_vector());
}

TEST(Npy, RejectsUnsupportedContent) {
  TempDir dir;
  write_file(dir / "fortran.npy", kNumpyFortran);
  expect_rejected(dir / "fortran.npy", "'fortran_order': True is not supported");
  write_file(dir / "big.npy", kNumpyBigEndian);
  expect_rejected(dir / "big.npy", "dtype '>f4' is not supported (big-endian data)");
  write_file(dir / "f8.npy", kNumpyF8);
  expect_rejected(dir / "f8.npy", "dtype '<f8' is not supported");
  std::string version = kNumpyF4;
  version[6] = 4;
  write_file(dir / "v4.npy", version);
  expect_rejected(dir / "v4.npy", "format version 4.0 is not supported");
}

TEST(Npy, RejectsMalformedFiles) {
  TempDir dir;
  std::string magic = kNumpyF4;
  magic[1] = 'M';
  write_file(dir / "magic.npy", magic);
  expect_rejected(dir / "magic.npy", "bad magic");
  write_file(dir / "empty.npy", "");
  expect_rejected(dir / "empty.npy", "expected at least 10 bytes");
  std::string long_header = kNumpyF4;
  long_header[8] = static_cast<char>(0xFF);
  long_header[9] = static_cast<char>(0x7F);
  write_file(dir / "header.npy", long_header);
  expect_rejected(dir / "header.npy", "header of 32767 bytes at offset 10 runs past the end");
  write_file(dir / "short.npy", kNumpyF4.substr(0, kNumpyF4.size() - 1));
  expect_rejected(dir / "short.npy", "needs 24 bytes of data at offset 128, found 23 (truncated)");
  write_file(dir / "long.npy", kNumpyF4 + "x");
  expect_rejected(dir / "long.npy", "found 25 (trailing bytes)");
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  write_file(dir / "overflow.npy",
             npy_file(dict + "(4294967296, 4294967296, 4294967296), }\n", ""));
  expect_rejected(dir / "overflow.npy", "more bytes than int64 can count");
  write_file(dir / "huge.npy", npy_file(dict + "(1000000000000,), }\n", "abcd"));
  expect_rejected(dir / "huge.npy", "needs 4000000000000 bytes");
  write_file(dir / "dict.npy", npy_file("{'descr': '<f4', 'shape': (3,), }\n", ""));
  expect_rejected(dir / "dict.npy", "lacks the key 'fortran_order'");
}

// Every proper prefix of a valid file is an error.
TEST(Npy, EveryTruncationIsAnError) {
  TempDir dir;
  for (size_t n = 0; n < kNumpyI4Version2.size(); ++n) {
    write_file(dir / "cut.npy", kNumpyI4Version2.substr(0, n));
    EXPECT_THROW(read_npy(dir / "cut.npy"), Error) << "prefix of " << n << " bytes";
  }
}

TEST(NpyHeader, AcceptsEveryFormOfTheGrammar) {
  const NpyHeader a =
      parse_npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_FALSE(a.fortran_order);
  EXPECT_EQ(a.shape, Shape({2, 3}));
  const NpyHeader b = parse_npy_header("{\"shape\":(7,),\"fortran_order\":True,\"descr\":\"|u1\"}");
  EXPECT_EQ(b.descr, "|u1");
  EXPECT_TRUE(b.fortran_order);
  EXPECT_EQ(b.shape, Shape({7}));
  EXPECT_EQ(parse_npy_header("{'descr':'<i8','fortran_order':False,'shape':()}   \n").shape,
            Shape({}));
  EXPECT_EQ(
      parse_npy_header("{ 'descr' : '<i8' , 'fortran_order' : False , 'shape' : ( 0 , 5 , ) , }")
          .shape,
      Shape({0, 5}));
  EXPECT_EQ(
      parse_npy_header("{'descr': '<i8', 'fortran_order': False, 'shape': (9223372036854775807,)}")
          .shape,
      Shape({9223372036854775807}));
}

TEST(NpyHeader, RejectsMalformedDicts) {
  const std::string ok_descr = "'descr': '<f4', ";
  const std::string ok_order = "'fortran_order': False, ";
  const std::vector<std::string> bad = {
      "",
      "{}",
      "'descr': '<f4'",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ",
      "{" + ok_descr + ok_order + "'shape': (3), }",    // not a tuple
      "{" + ok_descr + ok_order + "'shape': [3], }",    // a list
      "{" + ok_descr + ok_order + "'shape': (-3,), }",  // negative
      "{" + ok_descr + ok_order + "'shape': (3,,), }",
      "{" + ok_descr + ok_order + "'shape': (,), }",
      "{" + ok_descr + ok_order + "'shape': (3 4), }",
      "{" + ok_descr + ok_order + "'shape': (03,), }",  // leading zero
      "{" + ok_descr + ok_order + "'shape': (3.0,), }",
      "{" + ok_descr + ok_order + "'shape': (9223372036854775808,), }",
      "{" + ok_descr + ok_order + "'shape': (3,), 'extra': 1, }",
      "{" + ok_descr + ok_descr + ok_order + "'shape': (3,), }",  // duplicate key
      "{" + ok_descr + "'fortran_order': false, 'shape': (3,), }",
      "{" + ok_descr + "'fortran_order': Falsey, 'shape': (3,), }",
      "{" + ok_descr + "'fortran_order': 0, 'shape': (3,), }",
      "{'descr': <f4, " + ok_order + "'shape': (3,), }",
      "{'descr': '<f4\", " + ok_order + "'shape': (3,), }",
      "{'descr': '<\\f4', " + ok_order + "'shape': (3,), }",
      "{" + ok_descr + ok_order + "'shape': (3,) }}",
      "{" + ok_descr + ok_order + "'shape': (3,), } x",
      "{" + ok_descr + ok_order + "'shape': (3,),, }",
      "{" + ok_descr + ok_order + "'shape' (3,), }",
  };
  for (const std::string& text : bad) {
    EXPECT_THROW(parse_npy_header(text), Error) << text;
  }
}

}  // namespace
}  // namespace lockstep::data
