// NumPy .npy files (format 1.0 / 2.0), float32 little-endian C-order only: what `run --dump`
// writes and `--input` / `--weights` read back. Readers throw NpyError with a message naming the
// file and what is wrong (magic, version, dtype, order, shape, truncation).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <attnbench/tensor.hpp>

namespace attnbench {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void WriteNpy(const std::string& path, const float* data, const std::vector<int64_t>& shape);

struct NpyArray {
  std::vector<int64_t> shape;
  AlignedBuffer<float> data;
};
NpyArray ReadNpy(const std::string& path);
// Parses an in-memory file (the fuzz target and tests use this); `name` is used in messages.
NpyArray ParseNpy(const std::string& bytes, const std::string& name);

// Reads and checks the shape; throws NpyError "file: shape (3, 4), expected (2, 4)".
NpyArray ReadNpyExpect(const std::string& path, const std::vector<int64_t>& shape);

std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace attnbench
