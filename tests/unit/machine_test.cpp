// harness/machine/: the profile's arithmetic and JSON, the cache on disk (written, reused,
// ignored on request, re-measured when corrupt or partial, never a crash), the narrower-ISA BLAS
// warning. Measurements here are shrunk (tiny buffers, one repetition) and nothing asserts a
// duration: tests/cli/machine_likwid_test.sh checks the figures themselves.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/peak.h"
#include "machine.h"

using namespace attnbench::machine;

namespace {

// Fast settings: one repetition, 1 ms FMA runs, 3 MiB of buffers whatever the LLC.
MeasureSettings Quick() {
  MeasureSettings s;
  s.repetitions = 1;
  s.max_repetitions = 1;
  s.fma_seconds = 0.001;
  s.min_buffer_bytes = 3u << 20;
  s.llc_multiple = 0;
  s.keep_disturbed = true;  // 1 ms runs on a busy machine: the cache logic is under test, not the figures
  return s;
}

// Points $XDG_CACHE_HOME at a fresh directory for one test and restores it after.
class TempCacheHome {
 public:
  TempCacheHome() {
    if (const char* old = std::getenv("XDG_CACHE_HOME")) old_ = old, had_ = true;
    char tmpl[] = "/tmp/attnbench-machine-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    setenv("XDG_CACHE_HOME", dir_.c_str(), 1);
  }
  ~TempCacheHome() {
    std::filesystem::remove_all(dir_);
    if (had_)
      setenv("XDG_CACHE_HOME", old_.c_str(), 1);
    else
      unsetenv("XDG_CACHE_HOME");
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, old_;
  bool had_ = false;
};

void Overwrite(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::trunc);
  f << content;
}

}  // namespace

TEST_CASE("MeasureMachine: every ISA at every thread count, FLOPs and bytes counted as documented") {
  const MachineProfile p = MeasureMachine({2, 1, 2}, Quick());
  const size_t isas = attnbench::kernels::PeakTargets().size();
  REQUIRE(p.fma.size() == 2 * isas);  // the duplicate 2 measured once
  for (const FmaPeak& f : p.fma) {
    INFO(f.isa << " T=" << f.threads);
    CHECK(f.gflops > 0);
    CHECK(f.runs == 1);
    CHECK(f.gflops == Approx(2.0 * f.lanes * attnbench::kernels::kFmaChains * f.iterations * f.threads /
                             f.seconds / 1e9));
  }
  REQUIRE(p.bandwidth.size() == 4);  // triad and read at 1 and 2 threads
  const double elems = p.memory_method.buffer_bytes / 4.0 / 3.0;
  for (const Bandwidth& b : p.bandwidth) {
    INFO(b.kernel << " T=" << b.threads);
    CHECK(b.runs == 1);
    CHECK(b.gbytes_per_s == Approx(3 * 4 * elems / b.seconds / 1e9));  // 12 bytes per element, both kernels
  }
  CHECK(p.memory_method.buffer_bytes <= 3u << 20);
  CHECK(p.memory_method.buffer_bytes >= (3u << 20) - 3 * 64);
  CHECK_FALSE(p.memory_method.write_allocate_counted);
  CHECK(BestFmaGflops(p, 1) > 0);
  CHECK(BestFmaGflops(p, 3) == 0);
  CHECK(BestBandwidth(p, "triad", 2) > 0);
  CHECK_FALSE(p.build_id.empty());
  // The JSON round trip keeps every figure.
  const MachineProfile back = nlohmann::json::parse(nlohmann::json(p).dump()).get<MachineProfile>();
  CHECK(nlohmann::json(back) == nlohmann::json(p));
}

TEST_CASE("MeasureMachine refuses a thread count below 1") {
  CHECK_THROWS_AS(MeasureMachine({1, 0}, Quick()), std::invalid_argument);
  CHECK_THROWS_AS(MeasureMachine({}, Quick()), std::invalid_argument);
}

TEST_CASE("The default buffers are at least 256 MiB and 8 x the last-level cache") {
  const MeasureSettings s;
  CHECK(s.min_buffer_bytes == 256u << 20);
  CHECK(s.llc_multiple == 8);
}

TEST_CASE("More repetitions only while the best still improves, within the bounds") {
  MeasureSettings s = Quick();
  s.repetitions = 2;
  s.max_repetitions = 6;
  const MachineProfile p = MeasureMachine({1}, s);
  for (const FmaPeak& f : p.fma) CHECK((f.runs >= 2 && f.runs <= 6));
  for (const Bandwidth& b : p.bandwidth) CHECK((b.runs >= 2 && b.runs <= 6));
  CHECK(p.fma_method.max_repetitions == 6);
  CHECK(p.memory_method.repetitions == 2);
}

TEST_CASE("The machine profile cache: written, reused, ignored with force, rebuilt when corrupt") {
  const TempCacheHome home;
  const std::string path = MachineCachePath();
  CHECK(path.rfind(home.dir() + "/attnbench/machine-", 0) == 0);

  const CachedProfile first = LoadOrMeasureMachine({1}, false, Quick());
  CHECK_FALSE(first.from_cache);
  CHECK(first.path == path);
  REQUIRE(std::filesystem::exists(path));

  const CachedProfile second = LoadOrMeasureMachine({1}, false, Quick());
  CHECK(second.from_cache);
  CHECK(nlohmann::json(second.profile) == nlohmann::json(first.profile));

  SECTION("force measures again and rewrites") {
    const CachedProfile forced = LoadOrMeasureMachine({1}, true, Quick());
    CHECK_FALSE(forced.from_cache);
    CHECK(forced.note.find("request") != std::string::npos);
    const CachedProfile after = LoadOrMeasureMachine({1}, false, Quick());
    CHECK(after.from_cache);
    CHECK(nlohmann::json(after.profile) == nlohmann::json(forced.profile));
  }
  SECTION("a missing thread count is measured and merged, the rest reused") {
    const CachedProfile both = LoadOrMeasureMachine({1, 2}, false, Quick());
    CHECK_FALSE(both.from_cache);
    CHECK(both.note.find("missing") != std::string::npos);
    CHECK(both.profile.measured_at == first.profile.measured_at);
    CHECK(BestFmaGflops(both.profile, 1) == BestFmaGflops(first.profile, 1));
    CHECK(BestFmaGflops(both.profile, 2) > 0);
    CHECK(LoadOrMeasureMachine({2, 1}, false, Quick()).from_cache);
  }
  for (const std::string bad : {"{not json", "", "{\"schema\": 1}", "[1, 2]", "{\"schema\": 99}"}) {
    SECTION("corrupt: '" + bad + "' is re-measured, not a crash") {
      Overwrite(path, bad);
      const CachedProfile again = LoadOrMeasureMachine({1}, false, Quick());
      CHECK_FALSE(again.from_cache);
      CHECK(again.note.find("unreadable") != std::string::npos);
      CHECK(BestFmaGflops(again.profile, 1) > 0);
      CHECK(LoadOrMeasureMachine({1}, false, Quick()).from_cache);  // and the file is good again
    }
  }
}

TEST_CASE("An unwritable cache is a note, not an error") {
  const TempCacheHome home;
  Overwrite(home.dir() + "/attnbench", "a file where the cache directory should be");
  const CachedProfile c = LoadOrMeasureMachine({1}, false, Quick());
  CHECK_FALSE(c.from_cache);
  CHECK(c.note.find("not cached") != std::string::npos);
  CHECK(BestFmaGflops(c.profile, 1) > 0);
}

TEST_CASE("DisturbedReason: a wider ISA below a narrower one, or more threads below one thread") {
  MachineProfile quiet;
  quiet.fma = {{"AVX3", 16, true, 1, 1, 5, 1.0, 177.0}, {"AVX2", 8, true, 1, 1, 5, 1.0, 111.0},
               {"AVX3", 16, true, 2, 1, 5, 1.0, 353.0}, {"AVX2", 8, true, 2, 1, 5, 1.0, 220.0}};
  CHECK(DisturbedReason(quiet).empty());
  MachineProfile zen4 = quiet;  // AVX-512 at the AVX2 rate (double-pumped): not a disturbance
  zen4.fma[0].gflops = 108.0;
  CHECK(DisturbedReason(zen4).empty());
  MachineProfile wide_low = quiet;
  wide_low.fma[2].gflops = 57.0;  // AVX3 at 2 threads below AVX2's 220
  CHECK_THAT(DisturbedReason(wide_low), Catch::Contains("AVX3 measured 57.0") && Catch::Contains("at 2 thread"));
  MachineProfile threads_low = quiet;
  threads_low.fma[2].gflops = 150.0;
  threads_low.fma[3].gflops = 140.0;  // 2 threads below 1 thread's 177
  CHECK_THAT(DisturbedReason(threads_low), Catch::Contains("2 threads measured 150.0"));
  CHECK(DisturbedReason(MachineProfile{}).empty());
}

TEST_CASE("BlasIsaWarning: a BLAS kernel narrower than the CPU, and only then") {
  MachineProfile avx512;
  avx512.fma = {{"AVX3", 16, true, 1, 1, 5, 1.0, 150.0}, {"AVX2", 8, true, 1, 1, 5, 1.0, 95.0},
                {"SSE4", 4, false, 1, 1, 5, 1.0, 23.0}};
  MachineProfile avx2;
  avx2.fma = {{"AVX2", 8, true, 1, 1, 5, 1.0, 95.0}, {"SSE4", 4, false, 1, 1, 5, 1.0, 23.0}};

  const std::string haswell = BlasIsaWarning("Haswell", "Haswell", avx512);
  CHECK(haswell.find("'Haswell'") != std::string::npos);
  CHECK(haswell.find("AVX-512") != std::string::npos);
  CHECK(haswell.find("95") != std::string::npos);
  CHECK(haswell.find("150") != std::string::npos);
  CHECK(haswell.find("OPENBLAS_CORETYPE=Haswell is set") != std::string::npos);
  CHECK(haswell.find("OPENBLAS_CORETYPE=SkylakeX") != std::string::npos);
  CHECK(BlasIsaWarning("Prescott", "", avx512).find("OPENBLAS_CORETYPE is unset") != std::string::npos);
  CHECK(BlasIsaWarning("Prescott", "", avx2).find("OPENBLAS_CORETYPE=Haswell") != std::string::npos);
  CHECK(BlasIsaWarning("SkylakeX", "", avx512).empty());
  CHECK(BlasIsaWarning("Cooperlake", "", avx512).empty());
  CHECK(BlasIsaWarning("Haswell", "", avx2).empty());
  CHECK(BlasIsaWarning("Zen", "", avx2).empty());
  CHECK(BlasIsaWarning("SomethingNew", "", avx512).empty());  // unknown: no guess
  CHECK(BlasIsaWarning("Haswell", "", MachineProfile{}).empty());  // nothing measured: nothing to compare
  CHECK(attnbench::BlasKernelIsaClass("skylakex") == 3);
  CHECK(IsaClass("AVX3_DL") == 3);
}

TEST_CASE("BlasKernelWarning (list, validate, bench, env.json): a BLAS kernel narrower than this CPU, and only then") {
  attnbench::BlasInfo b;
  b.library = "OpenBLAS";
  b.kernel = "SkylakeX";
  CHECK(attnbench::BlasKernelWarning(b).empty());
  b.kernel = "SomethingNew";  // unknown: no guess
  CHECK(attnbench::BlasKernelWarning(b).empty());
  const int cpu = attnbench::CpuIsaClass();
  b.kernel = "Haswell";
  b.coretype_env = "Haswell";
  if (cpu == 3) {
    const std::string w = attnbench::BlasKernelWarning(b);
    CHECK_THAT(w, Catch::Contains("'Haswell' kernel (AVX2) on this CPU with AVX-512") &&
                      Catch::Contains("OPENBLAS_CORETYPE=Haswell is set") &&
                      Catch::Contains("set OPENBLAS_CORETYPE=SkylakeX"));
  } else {
    CHECK(attnbench::BlasKernelWarning(b).empty());  // Haswell is this CPU's widest (or wider than it)
  }
  b.kernel = "Prescott";
  b.coretype_env = "";
  if (cpu >= 2)
    CHECK_THAT(attnbench::BlasKernelWarning(b), Catch::Contains("generic 'Prescott'") && Catch::Contains("does not recognise"));
  b.coretype_env = "Prescott";  // forced by the user: not "does not recognise"
  if (cpu >= 2) CHECK_THAT(attnbench::BlasKernelWarning(b), Catch::Contains("OPENBLAS_CORETYPE=Prescott is set"));
}
