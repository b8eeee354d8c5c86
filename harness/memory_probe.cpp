#include "memory_probe.h"

#include <malloc.h>

#include <algorithm>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace attnbench {

namespace {

// A "VmRSS:   1234 kB" style line of /proc/self/status, in bytes (0 when absent).
uint64_t StatusBytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      unsigned long long kb = 0;
      if (std::sscanf(line.c_str() + n + 1, "%llu", &kb) == 1) return kb * 1024;
    }
  return 0;
}

bool ResetHighWaterMark() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

std::string Mib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1 << 20));
  return buf;
}

}  // namespace

MemoryProbe::MemoryProbe() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  ok_ = ResetHighWaterMark();
  baseline_ = StatusBytes("VmRSS");
  ok_ = ok_ && baseline_ > 0;
}

uint64_t MemoryProbe::PeakAboveBaseline() const {
  if (!ok_) return 0;
  const uint64_t peak = StatusBytes("VmHWM");
  return peak > baseline_ ? peak - baseline_ : 0;
}

bool ExceedsClaim(uint64_t measured, uint64_t claimed) {
  const uint64_t margin = std::max<uint64_t>(4ull << 20, claimed / 4);
  return measured > claimed + margin;
}

std::string DescribeMemoryExcess(uint64_t measured, uint64_t claimed) {
  return Mib(measured) + " measured in prepare + run > " + Mib(claimed) + " claimed (workspace_bytes)";
}

}  // namespace attnbench
