#include "npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace attnbench {

static_assert(std::endian::native == std::endian::little, "npy code assumes a little-endian host");

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ",";
  return s + ")";
}

void WriteNpy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + ShapeString(shape) + ", }";
  // magic(6) + version(2) + header_len(2) + dict + padding + '\n' is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw NpyError(path + ": cannot open for writing");
  const uint16_t len = static_cast<uint16_t>(dict.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.write(reinterpret_cast<const char*>(&len), 2);
  f.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n * sizeof(float)));
  if (!f) throw NpyError(path + ": write failed");
}

NpyArray ParseNpy(const std::string& bytes, const std::string& name) {
  auto fail = [&](const std::string& why) -> NpyError { return NpyError(name + ": " + why); };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    throw fail("not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw fail("truncated header");
    uint32_t l;
    std::memcpy(&l, bytes.data() + 8, 4);
    header_len = l;
    header_start = 12;
  } else {
    throw fail("unsupported .npy version " + std::to_string(major));
  }
  if (header_len > bytes.size() - header_start) throw fail("truncated header");
  const std::string header = bytes.substr(header_start, header_len);

  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex order_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  std::smatch m;
  if (!std::regex_search(header, m, descr_re)) throw fail("header has no 'descr'");
  const std::string descr = m[1];
  if (descr != "<f4") throw fail("dtype '" + descr + "', expected float32 ('<f4')");
  if (!std::regex_search(header, m, order_re)) throw fail("header has no 'fortran_order'");
  if (m[1] == "True") throw fail("Fortran-order array, expected C order");
  if (!std::regex_search(header, m, shape_re)) throw fail("header has no 'shape'");

  NpyArray a;
  std::stringstream ss(m[1].str());
  std::string item;
  __int128 count = 1;
  while (std::getline(ss, item, ',')) {
    const auto first = item.find_first_not_of(" \t");
    if (first == std::string::npos) continue;  // trailing comma of a 1-tuple
    const std::string digits = item.substr(first, item.find_last_not_of(" \tL") - first + 1);
    if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
      throw fail("bad shape entry '" + item + "'");
    const int64_t d = std::stoll(digits);
    a.shape.push_back(d);
    count *= d;
    if (count > (static_cast<__int128>(1) << 40)) throw fail("shape too large");
  }
  const size_t n = static_cast<size_t>(count);
  const size_t data_start = header_start + header_len;
  const size_t have = bytes.size() - data_start;
  if (have < n * sizeof(float))
    throw fail("truncated: shape " + ShapeString(a.shape) + " needs " + std::to_string(n * 4) +
               " data bytes, file has " + std::to_string(have));
  if (have > n * sizeof(float)) throw fail("trailing bytes after the data of shape " + ShapeString(a.shape));
  a.data = AlignedBuffer<float>(n);
  if (n) std::memcpy(a.data.data(), bytes.data() + data_start, n * sizeof(float));
  return a;
}

NpyArray ReadNpy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw NpyError(path + ": cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ParseNpy(ss.str(), path);
}

NpyArray ReadNpyExpect(const std::string& path, const std::vector<int64_t>& shape) {
  NpyArray a = ReadNpy(path);
  if (a.shape != shape)
    throw NpyError(path + ": shape " + ShapeString(a.shape) + ", expected " + ShapeString(shape));
  return a;
}

}  // namespace attnbench
