#include "env_info.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "kernels/blas/mkl_rt.h"
#include "../sysinfo.h"

#ifndef ATTNBENCH_SOURCE_DIR
#define ATTNBENCH_SOURCE_DIR ""
#endif
#ifndef ATTNBENCH_CXX_FLAGS
#define ATTNBENCH_CXX_FLAGS ""
#endif
#ifndef ATTNBENCH_BUILD_TYPE
#define ATTNBENCH_BUILD_TYPE ""
#endif

namespace attnbench::bench {

namespace {

// First line of a command's stdout, "" on any failure.
std::string CommandLine(const std::string& cmd) {
  FILE* f = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!f) return {};
  std::array<char, 512> buf{};
  std::string out;
  if (fgets(buf.data(), buf.size(), f)) out = buf.data();
  pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::string UtcTimestamp() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string LocalDate() {
  const std::time_t t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::localtime(&t));
  return buf;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

size_t LastLevelCacheBytes() {
  size_t best = 0;
  for (int i = 0; i < 8; ++i) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    std::string s;
    if (!(f >> s) || s.empty()) continue;
    size_t v = std::strtoull(s.c_str(), nullptr, 10);
    if (s.back() == 'K') v <<= 10;
    if (s.back() == 'M') v <<= 20;
    best = std::max(best, v);
  }
  return best;
}

nlohmann::json PluginJson(const LoadedBackend& b) {
  nlohmann::json j = {{"file", b.path}, {"build", DescribeBuild(b.build)}};
  if (b.build.known) {
    j.update({{"compiler", b.build.compiler}, {"build_type", b.build.build_type}, {"flags", b.build.flags},
              {"optimised", b.build.optimised}});
  } else {
    j["optimised"] = nullptr;  // unknown, not false: nothing says it was unoptimised
  }
  j["warning"] = UnoptimisedWarning(b);
  return j;
}

nlohmann::json CollectEnv(const std::vector<const LoadedBackend*>& backends) {
  const BlasInfo blas = GetBlasInfo();
  nlohmann::json runtime = nlohmann::json::object(), descriptions = nlohmann::json::object();
  nlohmann::json plugins = nlohmann::json::object();
  std::string highway;
  for (const auto* b : backends) {
    runtime[b->name] = b->runtime_info;
    descriptions[b->name] = b->description;
    plugins[b->name] = PluginJson(*b);
    // The Highway target the SIMD backends dispatched to ("highway target AVX3" in their
    // runtime info): the highway backend's, else the first other one that says it (fused).
    const auto at = b->runtime_info.find("highway target ");
    if (at != std::string::npos && (highway.empty() || b->name == "highway")) {
      const auto end = b->runtime_info.find(';', at);
      highway = b->runtime_info.substr(at, end == std::string::npos ? std::string::npos : end - at) +
                (b->name == "highway" ? "" : " (" + b->name + ")");
    }
  }
  std::string commit, dirty;
  if (std::string(ATTNBENCH_SOURCE_DIR).size()) {
    const std::string git = "git -C '" + std::string(ATTNBENCH_SOURCE_DIR) + "' ";
    commit = CommandLine(git + "rev-parse HEAD");
    dirty = CommandLine(git + "status --porcelain --untracked-files=no | head -1");
  }
  nlohmann::json j = {
      {"date", UtcTimestamp()},
      {"host", HostName()},
      {"cpu", {{"model", CpuModel()}, {"cores", CpuCount()}, {"isa", CpuSimdFlags()},
               {"llc_bytes", LastLevelCacheBytes()}}},
      {"blas", {{"library", blas.library}, {"version", blas.version}, {"kernel", blas.kernel},
                {"config", blas.config}, {"threads", blas.threads},
                {"openblas_coretype_env", blas.coretype_env},
                {"kernel_warning", BlasKernelWarning(blas)}}},
      // The second SGEMM library (the blas-mkl backend and the SGEMM ceiling), when configured.
      {"mkl", [] {
         if (mkl_rt::ConfiguredPath().empty()) return nlohmann::json{{"configured", false}};
         const auto& mkl = mkl_rt::Get();
         if (!mkl.ok()) return nlohmann::json{{"configured", true}, {"path", mkl.path}, {"error", mkl.error}};
         return nlohmann::json{{"configured", true}, {"path", mkl.path}, {"version", mkl.version},
                               {"threading", mkl.ThreadingName()}, {"code_path", mkl.code_path},
                               {"threads", mkl.get_max_threads()}};
       }()},
      {"highway_target", highway},
      {"backends", runtime},
      {"backend_descriptions", descriptions},
      {"plugins", plugins},
      {"compiler", {{"id", __VERSION__},
                    {"flags", ATTNBENCH_CXX_FLAGS},
                    {"build_type", ATTNBENCH_BUILD_TYPE}}},
      {"git", {{"commit", commit}, {"dirty", !dirty.empty()}}},
      {"threads_env", {{"OMP_NUM_THREADS", Env("OMP_NUM_THREADS")},
                       {"OPENBLAS_NUM_THREADS", Env("OPENBLAS_NUM_THREADS")},
                       {"OMP_PROC_BIND", Env("OMP_PROC_BIND")},
                       {"OMP_PLACES", Env("OMP_PLACES")}}},
      {"google_benchmark", "1.7.1 (Debian libbenchmark-dev)"},
  };
  return j;
}

}  // namespace attnbench::bench
