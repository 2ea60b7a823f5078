// covers: CORE-NPY CORE-NPZ-BUDGET
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <zip.h>
#include <fstream>
#include <iterator>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/npy.hpp"

using namespace touchstone;

namespace {
std::vector<std::uint8_t> slurp(const std::string& name) {
  std::ifstream f(std::string(TOUCHSTONE_TEST_DATA) + "/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
NpyArray load(const std::string& name) { return parse_npy(slurp(name), name); }
std::string expect_invalid(const std::vector<std::uint8_t>& bytes) {
  try {
    parse_npy(bytes, "x");
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "x");
    return e.what();
  }
  ADD_FAILURE() << "no InvalidInput";
  return "";
}
}  // namespace

TEST(Npy, ReadsWhatNumpyWrites) {
  const NpyArray a = load("f32_2x3.npy");
  EXPECT_EQ(a.dtype_name(), "float32");
  EXPECT_EQ(a.values.shape().str(), "(2, 3)");
  EXPECT_EQ(a.values(1, 2), 5.0 / 8);

  const NpyArray be = load("f64_be.npy");
  EXPECT_EQ(be.values[1], -2.25);
  EXPECT_EQ(be.values[2], 1e-310);

  const NpyArray h = load("f16.npy");
  EXPECT_EQ(h.dtype_name(), "float16");
  EXPECT_EQ(h.values[1], 65504.0);
  EXPECT_EQ(h.values[2], std::ldexp(1.0, -24));
  EXPECT_TRUE(std::signbit(h.values[3]));

  const NpyArray i = load("i16.npy");
  EXPECT_EQ(i.kind, NpyKind::signed_int);
  EXPECT_EQ(i.values(1, 0), 32767);
  EXPECT_EQ(i.values(1, 1), -32768);

  EXPECT_EQ(load("u8_bool.npy").values[2], 1.0);
  const NpyArray s = load("scalar.npy");
  EXPECT_EQ(s.values.rank(), 0);
  EXPECT_EQ(s.values[0], 3.25);

  const NpyArray f = load("fortran.npy");  // numpy's arange(12).reshape(3, 4) in F order
  EXPECT_EQ(f.values(2, 1), 9.0);
  EXPECT_EQ(f.values(0, 3), 3.0);
  EXPECT_EQ(load("v2.npy").values[4], 4.0);
}

// complex64 / complex128 arrays read as their real view, shape + (2,) holding (re, im) pairs,
// whatever the byte order and memory order of the file.
TEST(Npy, ReadsComplexAsRealAndImaginaryPairs) {
  const NpyArray c = load("c64_2x3.npy");  // (arange(6)/4 - 1j arange(6)/8).reshape(2, 3)
  EXPECT_TRUE(c.complex);
  EXPECT_EQ(c.kind, NpyKind::floating);
  EXPECT_EQ(c.item_bytes, 4);
  EXPECT_EQ(c.dtype_name(), "complex64");
  EXPECT_EQ(c.values.shape().str(), "(2, 3, 2)");
  EXPECT_EQ(c.values(1, 2, 0), 5.0 / 4);
  EXPECT_EQ(c.values(1, 2, 1), -5.0 / 8);
  EXPECT_EQ(c.values(0, 1, 1), -1.0 / 8);

  const NpyArray f = load("c128_be_fortran.npy");  // big-endian, Fortran order: k + (k + 0.5)j
  EXPECT_EQ(f.dtype_name(), "complex128");
  EXPECT_EQ(f.item_bytes, 8);
  EXPECT_EQ(f.values.shape().str(), "(2, 3, 2)");
  for (Index i = 0; i < 2; ++i)
    for (Index j = 0; j < 3; ++j) {
      EXPECT_EQ(f.values(i, j, 0), static_cast<double>(3 * i + j));
      EXPECT_EQ(f.values(i, j, 1), 3 * i + j + 0.5);
    }
}

TEST(Npy, RoundTrip) {
  Tensor<double> t(Shape{2, 2}, std::vector<double>{0.1, -2, 1e300, -0.0});
  const NpyArray back = parse_npy(serialize_npy(t), "t");
  EXPECT_EQ(back.values.values(), t.values());
  const NpyArray f = parse_npy(serialize_npy(t, true), "t");
  EXPECT_EQ(f.dtype_name(), "float32");
  EXPECT_EQ(f.values[0], static_cast<double>(0.1f));
}

TEST(Npy, RejectsMalformedInputWithTheArrayName) {
  EXPECT_NE(expect_invalid({}).find("bad magic"), std::string::npos);
  auto good = serialize_npy(Tensor<double>(Shape{3}, std::vector<double>{1, 2, 3}));
  auto truncated = good;
  truncated.resize(truncated.size() - 8);
  EXPECT_NE(expect_invalid(truncated).find("truncated"), std::string::npos);
  auto bad_header = good;
  bad_header[12] = '#';
  expect_invalid(bad_header);
  auto huge_len = good;
  huge_len[8] = 0xff;
  huge_len[9] = 0xff;
  expect_invalid(huge_len);
}

TEST(Npy, RejectsUnsupportedDtypesAndHugeShapes) {
  auto make = [](const std::string& header_dict, std::size_t data_bytes) {
    std::string h = header_dict;
    h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
    h.push_back('\n');
    std::vector<std::uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                   static_cast<std::uint8_t>(h.size()), 0};
    b.insert(b.end(), h.begin(), h.end());
    b.resize(b.size() + data_bytes, 0);
    return b;
  };
  EXPECT_NE(expect_invalid(make("{'descr': '<c4', 'fortran_order': False, 'shape': (1,), }", 8))
                .find("unsupported dtype"), std::string::npos);
  EXPECT_NE(expect_invalid(make("{'descr': '<c32', 'fortran_order': False, 'shape': (1,), }", 32))
                .find("unsupported dtype"), std::string::npos);
  // A complex element is two numbers: one complex64 needs 8 bytes.
  EXPECT_NE(expect_invalid(make("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 4))
                .find("truncated"), std::string::npos);
  EXPECT_NE(expect_invalid(make("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 8))
                .find("2^48"), std::string::npos);
  EXPECT_NE(expect_invalid(make("{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }", 8))
                .find("truncated"), std::string::npos);
  expect_invalid(make("{'descr': '<f4', 'shape': (1,), }", 4));  // no fortran_order
  expect_invalid(make("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", 0));
  // An integer beyond 2^53 cannot be a double exactly.
  auto big = make("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", 8);
  big[big.size() - 1] = 0x7f;
  EXPECT_NE(expect_invalid(big).find("2^53"), std::string::npos);
}

TEST(Npz, ReadsNumpySavezAndCompressed) {
  for (const char* name : {"scan_inputs.npz", "scan_inputs_compressed.npz"}) {
    const NpyMap m = read_npz(std::string(TOUCHSTONE_TEST_DATA) + "/" + name);
    ASSERT_EQ(m.count("u"), 1u) << name;
    EXPECT_EQ(m.at("u").values.shape().str(), "(2, 4, 40)");
    EXPECT_EQ(m.at("delta_softplus").kind, NpyKind::boolean);
    EXPECT_EQ(m.at("B").values.rank(), 4);
  }
  const NpyMap a = read_npz(std::string(TOUCHSTONE_TEST_DATA) + "/scan_inputs.npz");
  const NpyMap b = read_npz(std::string(TOUCHSTONE_TEST_DATA) + "/scan_inputs_compressed.npz");
  EXPECT_EQ(a.at("C").values.values(), b.at("C").values.values());
}

TEST(Npz, WriteThenRead) {
  const std::string path = testing::TempDir() + "/touchstone_roundtrip.npz";
  std::map<std::string, Tensor<double>> arrays{
      {"out", Tensor<double>(Shape{2}, std::vector<double>{1.5, -0.25})},
      {"s", Tensor<double>(Shape{}, 7.0)}};
  write_npz(path, arrays);
  const NpyMap m = read_npz(path);
  EXPECT_EQ(m.at("out").values.values(), arrays.at("out").values());
  EXPECT_EQ(m.at("s").values[0], 7.0);
  std::remove(path.c_str());
}

TEST(Npz, RejectsNonArchives) {
  try {
    read_npz(std::string(TOUCHSTONE_TEST_DATA) + "/not_a_zip.npz");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read as .npz"), std::string::npos);
  }
  EXPECT_THROW(read_npz("/nonexistent/file.npz"), InvalidInput);
  const std::vector<std::uint8_t> junk = {'P', 'K', 3, 4, 0, 0};
  EXPECT_THROW(read_npz_bytes(junk, "mem"), InvalidInput);
}

// [CORE-NPZ-BUDGET] The memory an archive will take is known from its headers and refused before
// any array is decompressed; the shape check sees only headers, and refusing there means the
// data pass never runs.
TEST(Npz, RefusesAnArchiveBeyondTheMemoryBudgetBeforeReadingIt) {
  const std::string path = testing::TempDir() + "/touchstone_budget.npz";
  write_npz(path, {{"big", Tensor<double>(Shape{1 << 17})}, {"small", Tensor<double>(Shape{4})}});
  // 2^17 float64 values: 1 MiB raw + 1 MiB decoded.
  try {
    read_npz(path, std::uint64_t{1} << 20);
    FAIL() << "an archive needing 2 MiB read within a 1 MiB budget";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("budget"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("big"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_npz(path, std::uint64_t{3} << 20).at("big").values.count(), 1 << 17);
  bool data_read = false;
  int headers_seen = 0;
  try {
    read_npz(path, 0, [&](const NpyHeaders& h) {
      headers_seen = static_cast<int>(h.size());
      EXPECT_EQ(h.at("big").shape, std::vector<Index>{1 << 17});
      EXPECT_EQ(h.at("small").dtype_name(), "float64");
      throw InvalidInput("big", "refused from its header");
    });
    data_read = true;
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("refused from its header"), std::string::npos);
  }
  EXPECT_EQ(headers_seen, 2);
  EXPECT_FALSE(data_read);
  EXPECT_GT(memory_budget(), std::uint64_t{1} << 26);
  std::remove(path.c_str());
}

// A header that claims more data than its entry holds is refused in the header pass.
TEST(Npz, RefusesAHeaderThatClaimsMoreThanTheEntryHolds) {
  std::vector<std::uint8_t> npy = serialize_npy(Tensor<double>(Shape{8}));
  npy.resize(npy.size() - 16);  // two values short
  const std::string path = testing::TempDir() + "/touchstone_short.npz";
  {
    int err = 0;
    zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    ASSERT_NE(za, nullptr);
    zip_source_t* src = zip_source_buffer(za, npy.data(), npy.size(), 0);
    ASSERT_GE(zip_file_add(za, "x.npy", src, ZIP_FL_OVERWRITE), 0);
    ASSERT_EQ(zip_close(za), 0);
  }
  bool checked = false;
  try {
    read_npz(path, 0, [&](const NpyHeaders&) { checked = true; });
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("data truncated"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(checked);
  std::remove(path.c_str());
}
