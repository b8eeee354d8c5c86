// .npy reading and writing: round trip, and a clear error for every kind of bad file.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "npy.h"

using namespace attnbench;

namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attnbench_npy_test_" + name)).string();
}

std::string ValidFile(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  const std::string path = TempPath("valid.npy");
  WriteNpy(path, v.data(), shape);
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string ErrorOf(const std::string& bytes) {
  try {
    ParseNpy(bytes, "f.npy");
  } catch (const NpyError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("npy round trip keeps shape and values, header is 64-byte aligned") {
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{5}, {2, 3}, {1, 3, 17}, {0, 4}}) {
    const std::string bytes = ValidFile(shape);
    const int header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    CHECK((10 + header_len) % 64 == 0);
    NpyArray a = ParseNpy(bytes, "x");
    REQUIRE(a.shape == shape);
    for (size_t i = 0; i < a.data.size(); ++i) REQUIRE(a.data[i] == static_cast<float>(i) * 0.5f - 3.0f);
  }
}

TEST_CASE("npy: every bad file is refused with a message saying what is wrong") {
  const std::string good = ValidFile({2, 3});
  CHECK_THAT(ErrorOf(""), Catch::Contains("bad magic"));
  CHECK_THAT(ErrorOf("PK\x03\x04 a zip file, not npy"), Catch::Contains("bad magic"));
  std::string v9 = good;
  v9[6] = 9;
  CHECK_THAT(ErrorOf(v9), Catch::Contains("unsupported .npy version 9"));
  std::string f8 = good;
  f8.replace(f8.find("<f4"), 3, "<f8");
  CHECK_THAT(ErrorOf(f8), Catch::Contains("dtype '<f8', expected float32"));
  std::string big_endian = good;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  CHECK_THAT(ErrorOf(big_endian), Catch::Contains("expected float32"));
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  CHECK_THAT(ErrorOf(fortran), Catch::Contains("Fortran-order"));
  CHECK_THAT(ErrorOf(good.substr(0, good.size() - 4)), Catch::Contains("truncated"));
  CHECK_THAT(ErrorOf(good.substr(0, 40)), Catch::Contains("truncated header"));
  CHECK_THAT(ErrorOf(good + "xx"), Catch::Contains("trailing bytes"));
  std::string bad_shape = good;
  bad_shape.replace(bad_shape.find("(2, 3)"), 6, "(2, x)");
  CHECK_THAT(ErrorOf(bad_shape), Catch::Contains("bad shape entry"));
  std::string huge = good;
  huge.replace(huge.find("(2, 3)"), 6, "(999999999999, 99999)");
  CHECK_THAT(ErrorOf(huge), Catch::Contains("too large"));
}

TEST_CASE("npy: ReadNpyExpect names the file, the shape found and the shape wanted") {
  const float v[6] = {};
  const std::string path = TempPath("shape.npy");
  WriteNpy(path, v, {2, 3});
  try {
    ReadNpyExpect(path, {3, 2});
    FAIL("no error");
  } catch (const NpyError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("shape (2, 3), expected (3, 2)"));
  }
  CHECK_THROWS_WITH(ReadNpy(TempPath("does-not-exist.npy")), Catch::Contains("cannot open"));
  std::remove(path.c_str());
}
