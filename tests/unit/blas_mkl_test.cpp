// The BLAS choice (issue 7): blas-mkl really calls oneMKL (not the OpenBLAS the executable puts
// in the global symbol scope), and the SGEMM ceiling's libraries all compute the right product.
// Without MKL (no libmkl_rt configured, blas-mkl not built) the MKL checks are skipped with a
// warning; the OpenBLAS ones always run.
#include <catch2/catch.hpp>
#include <cblas.h>
#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/blas/mkl_rt.h"
#include "bench/sgemm_ceiling.h"
#include "sysinfo.h"
#include "test_util.h"

#ifdef ATTNBENCH_MKL_HEADERS
#include <mkl_service.h>
// The constants and the MKLVersion layout mkl_rt.h declares by hand match oneMKL's headers.
static_assert(MKL_THREADING_GNU == attnbench::mkl_rt::kThreadingGnu);
static_assert(MKL_THREADING_SEQUENTIAL == attnbench::mkl_rt::kThreadingSequential);
static_assert(MKL_THREADING_INTEL == attnbench::mkl_rt::kThreadingIntel);
static_assert(sizeof(MKLVersion) == sizeof(attnbench::mkl_rt::MklVersion));
static_assert(offsetof(MKLVersion, Processor) == offsetof(attnbench::mkl_rt::MklVersion, processor));
#endif

namespace {

using namespace attnbench;
namespace fs = std::filesystem;

const std::string kPlugin = std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-blas-mkl.so";

// stdout + stderr of a shell command.
std::string Capture(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  pclose(f);
  return out;
}

bool MklBuilt() {
  if (fs::exists(kPlugin)) return true;
  WARN("skipped: blas-mkl was not built (no libmkl_rt found at configure time; scripts/setup-mkl installs it)");
  return false;
}

}  // namespace

TEST_CASE("blas-mkl: its sgemm lies in libmkl_rt, not in the executable's OpenBLAS", "[blas-mkl]") {
  if (!MklBuilt()) return;
  // The pitfall is real in this process too: the global cblas_sgemm is OpenBLAS's.
  const std::string global = mkl_rt::LibraryOf(reinterpret_cast<const void*>(&cblas_sgemm));
  INFO("global cblas_sgemm in " << global);
  CHECK(global.find("openblas") != std::string::npos);

  PluginRegistry reg;
  REQUIRE(reg.LoadFile(kPlugin));
  const LoadedBackend* b = reg.Find("blas-mkl");
  REQUIRE(b != nullptr);
  const std::string info = b->table->runtime_info();
  INFO("runtime_info: " << info);
  CHECK(info.find("oneMKL ") == 0);
  CHECK(info.find("(GNU OpenMP)") != std::string::npos);
  // The plugin reports where the function pointer it calls lives (dladdr inside the plugin).
  const size_t at = info.find("sgemm in ");
  REQUIRE(at != std::string::npos);
  const std::string where = info.substr(at + 9);
  CHECK(fs::path(where).filename().string().rfind("libmkl_rt.so", 0) == 0);
  CHECK(where.find("openblas") == std::string::npos);
  CHECK(fs::equivalent(where, mkl_rt::ConfiguredPath()));

  // This test binary's own view through the same header agrees.
  const auto& mkl = mkl_rt::Get();
  REQUIRE(mkl.ok());
  CHECK(fs::equivalent(mkl_rt::LibraryOf(reinterpret_cast<const void*>(mkl.sgemm)), where));
  CHECK(mkl.threading == mkl_rt::kThreadingGnu);
}

TEST_CASE("blas-mkl: MKL_VERBOSE shows MKL executing the plugin's GEMMs, none for blas", "[blas-mkl]") {
  if (!MklBuilt()) return;
  const std::string args = " --variant mha --batch 1 --seq-len 17 --d-in 12 --d-out 12 --heads 3 --threads 2 --dump " +
                           (fs::temp_directory_path() / ("blas_mkl_test_" + std::to_string(getpid()))).string();
  const std::string mkl_out = Capture("MKL_VERBOSE=1 '" ATTNBENCH_CLI "' run --backend blas-mkl" + args);
  INFO(mkl_out);
  CHECK(mkl_out.find("MKL_VERBOSE SGEMM(") != std::string::npos);
  CHECK(mkl_out.find("gnu_thread") != std::string::npos);
  const std::string blas_out = Capture("MKL_VERBOSE=1 '" ATTNBENCH_CLI "' run --backend blas" + args);
  INFO(blas_out);
  CHECK(blas_out.find("MKL_VERBOSE SGEMM(") == std::string::npos);
  fs::remove_all(fs::temp_directory_path() / ("blas_mkl_test_" + std::to_string(getpid())));
}

TEST_CASE("blas-mkl: same output as blas (OpenBLAS) on odd sizes, 1 and 2 threads", "[blas-mkl]") {
  if (!MklBuilt()) return;
  PluginRegistry reg;
  REQUIRE(reg.LoadFile(kPlugin));
  REQUIRE(reg.LoadFile(std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-blas.so"));
  for (int threads : {1, 2})
    for (int T : {1, 17, 67}) {
      ab_problem p = MakeProblem(Variant::kMha, 2, T, 24, 24, 3);
      p.threads = threads;
      p.qkv_bias = 1;
      p.dropout_p = 0.1f;
      p.dropout_seed = 7;
      const ProblemData d = MakeRandomProblemData(p, 1234 + T);
      const auto ref = test::RunBackend(*reg.Find("blas"), d);
      const auto got = test::RunBackend(*reg.Find("blas-mkl"), d);
      double err = 0, mag = 0;
      for (size_t i = 0; i < OutputElems(p); ++i) {
        err = std::max(err, static_cast<double>(std::fabs(got[i] - ref[i])));
        mag = std::max(mag, static_cast<double>(std::fabs(ref[i])));
      }
      INFO("T=" << T << " threads=" << threads);
      CHECK(err <= 1e-4 * (1 + mag));
    }
}

TEST_CASE("SGEMM ceiling: every library's sgemm is right at n = 67 (NN and NT, padded ld)", "[sgemm]") {
  std::vector<std::string> unavailable;
  const auto libs = bench::SgemmLibraries(&unavailable);
  REQUIRE(!libs.empty());
  CHECK(libs.front().name.rfind("OpenBLAS ", 0) == 0);
  for (const auto& u : unavailable) WARN(u);
  if (fs::exists(kPlugin)) {  // MKL was configured: it must be measured, not silently dropped
    REQUIRE(libs.size() == 2);
    CHECK(libs[1].name.rfind("oneMKL ", 0) == 0);
  }
  const int n = 67, ld = 71;
  std::vector<float> a(n * ld), b(n * ld), c(n * ld);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    b[i] = static_cast<float>((i * 40503u) % 1000) / 500.0f - 1.0f;
  }
  for (const auto& lib : libs)
    for (int threads : {1, 2})
      for (int tb : {111, 112}) {
        lib.set_threads(threads);
        std::fill(c.begin(), c.end(), -7.0f);
        // C = 0.5 A B(^T) + 2 C on row-major views with leading dimension 71.
        lib.sgemm(101, 111, tb, n, n, n, 0.5f, a.data(), ld, b.data(), ld, 2.0f, c.data(), ld);
        double worst = 0;
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < n; ++j) {
            double ref = 0, mag = 0;
            for (int k = 0; k < n; ++k) {
              const double bv = tb == 111 ? b[k * ld + j] : b[j * ld + k];
              ref += static_cast<double>(a[i * ld + k]) * bv;
              mag += std::fabs(a[i * ld + k] * bv);
            }
            ref = 0.5 * ref + 2.0 * -7.0;
            worst = std::max(worst, std::fabs(c[i * ld + j] - ref) / (0.5 * mag + 14.0));
          }
        INFO(lib.name << ", " << threads << " thread(s), " << (tb == 111 ? "NN" : "NT"));
        CHECK(worst < 1e-6);
        // The padding between rows is left alone.
        CHECK(c[n] == -7.0f);
      }
  SetThreads(1);
}

TEST_CASE("SGEMM ceiling: every library measured, the fastest is the ceiling and named", "[sgemm]") {
  const auto libs = bench::SgemmLibraries();
  const bench::SgemmCeiling ceiling = bench::MeasureSgemmCeiling(1, 67, 2);
  REQUIRE(ceiling.libraries.size() == libs.size());
  double fastest = 0;
  for (size_t i = 0; i < libs.size(); ++i) {
    INFO(ceiling.libraries[i].library << ": " << ceiling.libraries[i].error);
    CHECK(ceiling.libraries[i].library == libs[i].name);
    CHECK(ceiling.libraries[i].error.empty());
    CHECK(ceiling.libraries[i].gflops > 0);
    CHECK(ceiling.libraries[i].threads == 1);
    fastest = std::max(fastest, ceiling.libraries[i].gflops);
  }
  CHECK(ceiling.best.gflops == fastest);
  CHECK(!ceiling.best.library.empty());
  CHECK(bench::MeasureSgemm(1, 33, 1).library.size() > 0);
}
