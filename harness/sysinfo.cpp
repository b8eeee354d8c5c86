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

int BlasKernelIsaClass(const std::string& corename) {
  static const std::pair<const char*, int> kClasses[] = {
      {"SkylakeX", 3},   {"Cooperlake", 3},  {"SapphireRapids", 3}, {"Haswell", 2},    {"Zen", 2},
      {"Sandybridge", 1}, {"Bulldozer", 1},  {"Piledriver", 1},     {"Steamroller", 1}, {"Excavator", 1},
      {"Prescott", 0},   {"Core2", 0},       {"Penryn", 0},         {"Dunnington", 0}, {"Nehalem", 0},
      {"Katmai", 0},     {"Coppermine", 0},  {"Northwood", 0},      {"Banias", 0},     {"Atom", 0},
      {"Athlon", 0},     {"Opteron", 0},     {"Barcelona", 0},      {"Bobcat", 0},     {"Generic", 0},
      {"Unknown", 0}};
  for (const auto& [name, cls] : kClasses)
    if (strcasecmp(corename.c_str(), name) == 0) return cls;
  return -1;
}

int CpuIsaClass() {
  if (__builtin_cpu_supports("avx512f")) return 3;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
  if (__builtin_cpu_supports("avx")) return 1;
  return 0;
}

std::string BlasKernelWarning(const BlasInfo& info) {
  const int blas = BlasKernelIsaClass(info.kernel);
  const int cpu = CpuIsaClass();
  if (blas < 0 || blas >= cpu || cpu < 2) return {};
  const std::string fix = cpu == 3 ? "SkylakeX" : "Haswell";
  const char* wide = cpu == 3 ? "AVX-512" : "AVX2";
  if (blas == 0 && info.coretype_env.empty())  // a generic kernel: OpenBLAS did not recognise the CPU
    return "WARNING: OpenBLAS runs its generic '" + info.kernel + "' kernel on this CPU with " + wide +
           " (it does not recognise the CPU), several times slower than it can be; "
           "set OPENBLAS_CORETYPE=" + fix + " (or unset it); attnbench does not change it for you";
  static const char* kNames[] = {"SSE", "AVX", "AVX2", "AVX-512"};
  return "WARNING: OpenBLAS runs its '" + info.kernel + "' kernel (" + kNames[blas] + ") on this CPU with " + wide +
         ", so its SGEMM (and every backend on it) cannot reach the CPU's peak; " +
         (info.coretype_env.empty() ? "OpenBLAS picked it" : "OPENBLAS_CORETYPE=" + info.coretype_env + " is set") +
         ": set OPENBLAS_CORETYPE=" + fix + " (or unset it) for the " + wide +
         " kernel. attnbench does not change it for you";
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
