#include "sysinfo.h"

#include <cblas.h>
#include <omp.h>

#include <strings.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

namespace attnbench {

BlasInfo GetBlasInfo() {
  BlasInfo b;
  b.library = "OpenBLAS";
  b.config = openblas_get_config();
  std::smatch m;
  static const std::regex ver_re(R"(OpenBLAS\s+([0-9][0-9.]*))");
  if (std::regex_search(b.config, m, ver_re)) b.version = m[1];
  b.kernel = openblas_get_corename();
  b.threads = openblas_get_num_threads();
  if (const char* e = std::getenv("OPENBLAS_CORETYPE")) b.coretype_env = e;
  return b;
}

std::string BlasKernelWarning(const BlasInfo& info) {
  static const char* kGeneric[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Katmai",
                                   "Coppermine", "Northwood", "Banias", "Atom", "Athlon", "Opteron",
                                   "Barcelona", "Bobcat", "Generic", "Unknown"};
  bool generic = false;
  for (const char* g : kGeneric)
    if (strcasecmp(info.kernel.c_str(), g) == 0) generic = true;
  if (!generic) return {};
  std::string fix;
  if (__builtin_cpu_supports("avx512f"))
    fix = "SkylakeX";
  else if (__builtin_cpu_supports("avx2"))
    fix = "Haswell";
  else
    return {};
  return "WARNING: OpenBLAS runs its generic '" + info.kernel + "' kernel on this CPU with " +
         (fix == "SkylakeX" ? "AVX-512" : "AVX2") +
         " (it does not recognise the CPU), several times slower than it can be; "
         "set OPENBLAS_CORETYPE=" + fix + " (scripts/bench does this for you)";
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(line.find_first_not_of(" \t", pos + 1));
    }
  return "unknown";
}

std::string CpuSimdFlags() {
  std::string s;
  auto add = [&s](bool have, const char* name) {
    if (have) s += (s.empty() ? "" : " ") + std::string(name);
  };
  add(__builtin_cpu_supports("sse4.2"), "sse4.2");
  add(__builtin_cpu_supports("avx"), "avx");
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("fma"), "fma");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  add(__builtin_cpu_supports("avx512bw"), "avx512bw");
  add(__builtin_cpu_supports("avx512vl"), "avx512vl");
  add(__builtin_cpu_supports("avx512dq"), "avx512dq");
  add(__builtin_cpu_supports("avx512vnni"), "avx512vnni");
  add(__builtin_cpu_supports("avx512bf16"), "avx512bf16");
  return s;
}

int CpuCount() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

void SetThreads(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

}  // namespace attnbench
