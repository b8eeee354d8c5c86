// libFuzzer target: the preset parser and the grid expansion must throw InputError or return
// valid configs for any text, never crash or hang (a huge cartesian grid is refused up front).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "bench/preset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto sections =
        attnbench::bench::ParsePreset(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    for (const auto& s : sections)
      for (const auto& c : attnbench::bench::ExpandSection(s, 2))
        if (!attnbench::CheckProblem(c.problem).empty()) std::abort();  // invalid config let through
  } catch (const attnbench::InputError&) {
  }
  return 0;
}
