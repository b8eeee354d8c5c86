// libFuzzer target: the .npy parser must throw NpyError or return a consistent array for any
// bytes, never crash, hang or read out of bounds.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const attnbench::NpyArray a = attnbench::ParseNpy(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    size_t n = 1;
    for (int64_t d : a.shape) n *= static_cast<size_t>(d);
    if (n != a.data.size()) std::abort();  // the shape and the data must agree
  } catch (const attnbench::NpyError&) {
  }
  return 0;
}
