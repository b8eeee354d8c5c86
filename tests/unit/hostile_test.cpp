// Issue 17: what a hostile plugin cannot do to a run. The worker protocol's parser and result
// decoder (a malformed or forged message is the worker's failure), plugin text made safe, names
// refused, inputs read-only, thread state checked, and the timed calls' output and rate checked.
// The plugins are tests/plugins/hostile.cpp.
#include <benchmark/benchmark.h>
#include <xmmintrin.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>

#include "bench/cell_runner.h"
#include "bench/report.h"
#include "bench/sweep.h"
#include "grid.h"
#include "isolate.h"
#include "problem_data.h"
#include "test_util.h"
#include "validate.h"

using namespace attnbench;

namespace {

const LoadedBackend& LoadTestPlugin(PluginRegistry& reg, const std::string& file, const std::string& name) {
  reg.LoadFile(std::string(ATTNBENCH_TEST_PLUGIN_DIR) + "/" + file + ".so");
  const LoadedBackend* b = reg.Find(name);
  if (!b) FAIL(name << " did not load: " << (reg.errors().empty() ? "" : reg.errors().back()));
  return *b;
}

const LoadedBackend& LoadHostile(PluginRegistry& reg, const std::string& kind) {
  return LoadTestPlugin(reg, "hostile-" + kind, "hostile-" + kind);
}

using test::SmallMhaConfig;

ab_problem SmallMha(int T, int d) { return SmallMhaConfig(T, d).problem; }

nlohmann::json ValidResult() {
  return {{"result", 3},
          {"token", "t0k"},
          {"cell", {{"status", "PASS"}, {"median_s", "0.001"}, {"repetitions", "2"}}},
          {"check", {{"status", "PASS"}}},
          {"benchmarks", {{{"name", "naive/mha/T:8/real_time"}, {"run_name", "naive/mha/T:8/real_time"}}}},
          {"context", {{"num_cpus", 2}}}};
}

}  // namespace

TEST_CASE("worker protocol: only well-formed messages with the token are taken") {
  using M = WorkerMessage;
  M m = ParseWorkerMessage(R"({"begin": 4, "token": "t0k"})", "t0k");
  CHECK(m.kind == M::kBegin);
  CHECK(m.cell == 4);
  m = ParseWorkerMessage(ValidResult().dump(), "t0k");
  CHECK(m.kind == M::kResult);
  CHECK(m.cell == 3);
  // What a plugin printing on stdout, or a broken worker, would send.
  for (const char* bad : {R"({"begin": 4})", R"({"begin": 4, "token": "other"})", R"({"begin": 4, "token": 7})",
                          R"({"result":"x","token":"t0k"})", R"({"result":-1,"token":"t0k"})",
                          R"({"result":1.5,"token":"t0k"})", R"({"begin":1,"result":1,"token":"t0k"})",
                          R"({"token":"t0k"})", R"([1,2])", "PASS 0.001 us", "", "{", "\xff\xfe"}) {
    INFO(bad);
    m = ParseWorkerMessage(bad, "t0k");
    CHECK(m.kind == M::kInvalid);
    CHECK(!m.error.empty());
  }
}

TEST_CASE("worker protocol: a result is checked before the parent uses it") {
  bench::WorkerResult r;
  std::string err;
  REQUIRE(bench::DecodeWorkerResult(ValidResult(), "naive/mha/T:8", &r, &err));
  CHECK(r.cell.status == "PASS");
  CHECK(r.cell.median_s == 0.001);
  CHECK(r.benchmarks.size() == 1);
  auto refused = [&](nlohmann::json j, const std::string& cell = "naive/mha/T:8") {
    err.clear();
    const bool ok = bench::DecodeWorkerResult(j, cell, &r, &err);
    INFO(j.dump() << " -> " << err);
    CHECK(!ok);
    CHECK(!err.empty());
  };
  nlohmann::json j = ValidResult();
  j["cell"] = "PASS";
  refused(j);
  j = ValidResult();
  j["cell"]["status"] = "CRASHED";  // only the parent says that
  refused(j);
  j["cell"]["status"] = "BEST";
  refused(j);
  j = ValidResult();
  j["cell"]["median_s"] = "fast";
  refused(j);
  j["cell"]["median_s"] = "-1";
  refused(j);
  j = ValidResult();
  j["check"] = "PASS";
  refused(j);
  j = ValidResult();
  j["benchmarks"] = "none";
  refused(j);
  refused(ValidResult(), "blas/mha/T:8");             // entries of another cell
  refused(ValidResult(), "naive/mha/T:");             // a prefix is not the cell
  j = ValidResult();
  j["context"] = 1;
  refused(j);
  refused(nlohmann::json::array());
}

TEST_CASE("plugin text: bounded, control characters and bad UTF-8 escaped") {
  CHECK(SanitizePluginText("plain text | ok") == "plain text | ok");
  CHECK(SanitizePluginText("line\nnext\x1b[31m") == "line\\x0Anext\\x1B[31m");
  CHECK(SanitizePluginText("caf\xc3\xa9 \xe2\x80\x94") == "caf\xc3\xa9 \xe2\x80\x94");  // valid UTF-8 kept
  CHECK(SanitizePluginText("bad \xc3 \xff \xed\xa0\x80") == "bad \\xC3 \\xFF \\xED\\xA0\\x80");
  const char no_nul[4] = {'a', 'b', 'c', 'd'};  // read up to the bound, never past it
  CHECK(SanitizePluginText(no_nul, sizeof no_nul) == "abcd");
  CHECK(SanitizePluginText(nullptr).empty());
}

TEST_CASE("plugin names outside [a-z0-9-] are refused at load") {
  CHECK(IsValidBackendName("fused-old2"));
  for (const char* bad : {"", "Blas", "blas\n| 1 |", "a b", "a_b", "a/b", "naïve"}) CHECK(!IsValidBackendName(bad));
  CHECK(!IsValidBackendName(std::string(65, 'a')));
  PluginRegistry reg;
  CHECK(!reg.LoadFile(std::string(ATTNBENCH_TEST_PLUGIN_DIR) + "/hostile-bad-name.so"));
  REQUIRE(reg.errors().size() == 1);
  CHECK(reg.errors()[0].find("[a-z0-9-]") != std::string::npos);
  CHECK(reg.errors()[0].find('\n') == std::string::npos);
  CHECK(!reg.LoadFile(std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-naive.so", "Naive|x"));
  CHECK(reg.backends().empty());
}

TEST_CASE("a message that fills the buffer without a NUL is read to its end and escaped") {
  PluginRegistry reg;
  const LoadedBackend& b = LoadHostile(reg, "message");
  const ValidationCase vc = PrepareCase(SmallMha(3, 16), 1, 32);
  const CheckResult r = CheckBackend(b, vc.data, vc.ref);
  CHECK(r.status == Status::kFail);
  CHECK(r.reason.find('\n') == std::string::npos);
  CHECK(r.reason.find("\\x0A") != std::string::npos);
  // 1024 bytes, of which 4 in 6 are control characters written as 4 bytes each.
  CHECK(r.reason.size() < 3000);
}

TEST_CASE("a backend writing into its inputs is named, the next one is not blamed") {
  PluginRegistry reg;  // both loaded before taking references: the registry's vector grows
  LoadHostile(reg, "writes-input");
  test::LoadNaive(reg);
  const LoadedBackend& evil = *reg.Find("hostile-writes-input");
  const LoadedBackend& naive = *reg.Find("naive");
  const ValidationCase vc = PrepareCase(SmallMha(17, 16), 7, 32);
  const ProblemData pristine = CopyProblemData(vc.data);
  const CheckResult r = CheckBackend(evil, vc.data, vc.ref);
  CHECK(r.status == Status::kFail);
  CHECK(r.reason.find("wrote into its read-only inputs (x, w_q)") != std::string::npos);
  CHECK(ChangedInputs(pristine, vc.data).empty());
  CHECK(CheckBackend(naive, vc.data, vc.ref).status == Status::kPass);
}

TEST_CASE("a backend writing past the end of out is named") {
  PluginRegistry reg;
  const LoadedBackend& evil = LoadHostile(reg, "overrun");
  const ValidationCase vc = PrepareCase(SmallMha(17, 16), 7, 32);
  const CheckResult r = CheckBackend(evil, vc.data, vc.ref);
  CHECK(r.status == Status::kFail);
  CHECK(r.reason == "wrote 1 float(s) past the end of out");
}

TEST_CASE("a backend writing beside its inputs is named: every input buffer is guarded") {
  PluginRegistry reg;
  LoadHostile(reg, "input-overrun");
  test::LoadNaive(reg);
  const ValidationCase vc = PrepareCase(SmallMha(17, 16), 7, 32);
  const CheckResult r = CheckBackend(*reg.Find("hostile-input-overrun"), vc.data, vc.ref);
  CHECK(r.status == Status::kFail);
  CHECK(r.reason == "wrote 1 float(s) before x, wrote 1 float(s) past the end of w_k");
  const CheckResult ok = CheckBackend(*reg.Find("naive"), vc.data, vc.ref);
  CHECK(ok.status == Status::kPass);
  CHECK(ok.reason.empty());
}

TEST_CASE("guarded inputs: the backend's copy, each buffer between guards") {
  const ValidationCase vc = PrepareCase(SmallMha(3, 16), 7, 32);
  const GuardedInputs in(vc.data);
  CHECK(in.x() != vc.data.x.data());
  CHECK(std::memcmp(in.x(), vc.data.x.data(), vc.data.x.bytes()) == 0);
  CHECK(std::memcmp(in.weights().w_o, vc.data.w_o.data(), vc.data.w_o.bytes()) == 0);
  CHECK(reinterpret_cast<uintptr_t>(in.weights().w_q) % 64 == 0);
  CHECK(in.weights().b_q == nullptr);  // no bias: NULL, as the ABI says
  CHECK(in.DamagedGuards().empty());
  CHECK(in.ChangedFrom(vc.data).empty());
  const_cast<float*>(in.weights().w_o)[vc.data.w_o.size()] = 1.0f;
  const_cast<float*>(in.weights().w_v)[1] = 1e9f;
  CHECK(in.DamagedGuards() == "wrote 1 float(s) past the end of w_o");
  CHECK(in.ChangedFrom(vc.data) == "w_v");
}

TEST_CASE("a backend leaving a thread running after destroy is named, an idle one is a note") {
  PluginRegistry reg;
  LoadHostile(reg, "threads");
  LoadHostile(reg, "idle-threads");
  const ValidationCase vc = PrepareCase(SmallMha(17, 16), 7, 32);
  const CheckResult busy = CheckBackend(*reg.Find("hostile-threads"), vc.data, vc.ref);
  CHECK(busy.status == Status::kFail);
  CHECK(busy.reason.find("left 1 thread(s) running after destroy") != std::string::npos);
  const CheckResult idle = CheckBackend(*reg.Find("hostile-idle-threads"), vc.data, vc.ref);
  CHECK(idle.status == Status::kPass);
  CHECK(idle.reason == "note: left 1 idle thread(s) after destroy");
  std::vector<int> none = ProcessThreads();
  bool running = true;
  CHECK(DescribeLeftThreads(none, &running).empty());
  CHECK(!running);
}

TEST_CASE("one wrong row is seen: every row is checked where that is cheap") {
  PluginRegistry reg;
  const LoadedBackend& evil = LoadHostile(reg, "wrong-row");
  // T = 1024 at d = 136: B T^2 d_out = 1.4e8, above the old all-rows bound of 2^27 (where 32
  // sampled rows missed row 513 for most seeds), below the new one of 2^30.
  for (auto [T, d] : {std::pair{256, 48}, {300, 48}, {1024, 136}}) {
    const ValidationCase vc = PrepareCase(SmallMha(T, d), 3, 32);
    CHECK(vc.rows.size() == static_cast<size_t>(T));
    const CheckResult r = CheckBackend(evil, vc.data, vc.ref);
    CHECK(r.status == Status::kFail);
    CHECK(r.reason.find("row " + std::to_string(T / 2 + 1)) != std::string::npos);
  }
}

TEST_CASE("one wrong row is seen where the loop reference samples: the GEMM form checks every row") {
  PluginRegistry reg;
  const LoadedBackend& evil = LoadHostile(reg, "wrong-row");
  // T = 2048 at d = 272: B T^2 d_out = 1.14e9, above the loop reference's all-rows bound (2^30),
  // so it checks 32 sampled rows (row 1025 among them for almost no seed); ComputeAllRowsGemm
  // checks the other rows.
  for (uint64_t seed : {3u, 4u}) {
    const ValidationCase vc = PrepareCase(SmallMha(2048, 272), seed, 32);
    CHECK(vc.rows.size() == 32);
    CHECK(vc.ref.rows_checked() == 2048);
    const CheckResult r = CheckBackend(evil, vc.data, vc.ref);
    CHECK(r.status == Status::kFail);
    CHECK(r.reason.find("all 2048 rows, float64 GEMM check") != std::string::npos);
    CHECK(r.reason.find("row 1025 ") != std::string::npos);
  }
  // The control: the same problem computed right (the mutant plugin with no mutation) PASSes on
  // every row.
  const LoadedBackend& honest = LoadTestPlugin(reg, "mutant-none", "mutant-none");
  const ValidationCase vc = PrepareCase(SmallMha(2048, 272), 3, 32);
  const CheckResult r = CheckBackend(honest, vc.data, vc.ref);
  INFO(r.reason);
  CHECK(r.status == Status::kPass);
}

TEST_CASE("the check times the run() call alone: a slow prepare is not a slow run (the budget goes by it)") {
  PluginRegistry reg;
  const LoadedBackend& slow = LoadHostile(reg, "slow-prepare");
  const ValidationCase vc = PrepareCase(SmallMha(17, 16), 7, 32);
  const auto t0 = std::chrono::steady_clock::now();
  const CheckResult r = CheckBackend(slow, vc.data, vc.ref);
  const double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.status == Status::kPass);
  CHECK(whole >= 0.4);
  CHECK(r.run_seconds > 0.0);
  CHECK(r.run_seconds < 0.4);  // a T = 17 run; the 0.4 s sleep was in prepare
}

TEST_CASE("a backend changing MXCSR or the thread count is named, and the state restored") {
  PluginRegistry reg;
  const LoadedBackend& evil = LoadHostile(reg, "state");
  const ValidationCase vc = PrepareCase(SmallMha(17, 16), 7, 32);
  SetThreadState(1, 0x1F80);
  const ThreadState before = CaptureThreadState();
  const CheckResult r = CheckBackend(evil, vc.data, vc.ref);
  CHECK(r.status == Status::kFail);
  CHECK(r.reason.find("left the thread state changed") != std::string::npos);
  CHECK(r.reason.find("OpenMP threads 1 -> 4") != std::string::npos);
  CHECK(r.reason.find("flush-to-zero") != std::string::npos);
  CHECK(r.reason.find("rounding mode") != std::string::npos);
  const ThreadState after = CaptureThreadState();
  CHECK(after.omp_threads == before.omp_threads);
  CHECK(after.mxcsr == before.mxcsr);
  CHECK(DescribeStateChange(before, after).empty());
}

TEST_CASE("a rate above the machine's peak is an error, not a figure") {
  CHECK(bench::RateAbovePeak(1e9, 1.0, 0, 1).empty());      // peak unknown: no check
  CHECK(bench::RateAbovePeak(1e9, 1.0, 1.0, 1).empty());    // 1 GFLOP/s at a 1 GFLOP/s peak
  CHECK(bench::RateAbovePeak(1.2e9, 1.0, 1.0, 1).empty());  // within the measurement margin
  const std::string e = bench::RateAbovePeak(1e12, 1.0, 100.0, 2);
  CHECK(e.find("1000 GFLOP/s") != std::string::npos);
  CHECK(e.find("peak of 100 GFLOP/s at 2 thread(s)") != std::string::npos);
}

TEST_CASE("the timed calls' output is checked: right once, or right by memo, is a FAIL") {
  // Google Benchmark from the process's flags: short repetitions (the defaults are 0.1 s x 5).
  static bool initialized = [] {
    // Static: Google Benchmark keeps argv[0] (the "executable" of its JSON context).
    static int argc = 3;
    static char a0[] = "hostile_test", a1[] = "--benchmark_min_time=0.01", a2[] = "--benchmark_repetitions=2";
    static char* argv[] = {a0, a1, a2, nullptr};
    benchmark::Initialize(&argc, argv);
    return true;
  }();
  (void)initialized;
  PluginRegistry reg;  // all loaded before taking pointers: the registry's vector grows
  LoadHostile(reg, "first-only");
  LoadHostile(reg, "memo");
  test::LoadNaive(reg);
  const LoadedBackend& first_only = *reg.Find("hostile-first-only");
  const LoadedBackend& memo = *reg.Find("hostile-memo");
  const LoadedBackend& naive = *reg.Find("naive");
  // d = 256: the naive backend takes milliseconds, a memcpy of the output microseconds.
  const Config c = SmallMhaConfig(64, 256);
  const std::vector<bench::PlannedConfig> plan = {{"s", c}};
  const auto cells = bench::PlanCells(plan, {&first_only, &memo, &naive}, "");
  bench::SweepOptions o;
  o.timing = {2, 0.01};
  o.progress = false;
  o.budget_s = 60;
  o.cold_bytes = 1 << 20;
  // A parameter here, so the test does not depend on this machine's measured peak: the naive
  // backend runs at a few GFLOP/s, a memcpy of the output at thousands.
  o.peak_gflops = [](int) { return 400.0; };
  bench::BenchRun run;
  run.sgemm_gflops[1] = 1;
  REQUIRE(bench::RunSweep(plan, cells, o, run));
  REQUIRE(run.cells.size() == 3);
  INFO(run.cells[0].reason << "\n" << run.cells[1].reason << "\n" << run.cells[2].reason);
  CHECK(run.cells[0].status == "FAIL");
  CHECK(run.cells[0].reason.find("output of a timed call is wrong") != std::string::npos);
  CHECK(run.cells[1].status == "FAIL");
  CHECK(run.cells[1].reason.find("above this machine's measured peak") != std::string::npos);
  CHECK(run.cells[0].median_s == 0);
  CHECK(run.cells[1].median_s == 0);
  CHECK(run.cells[2].status == "PASS");
  CHECK(run.cells[2].median_s > 0);
}

TEST_CASE("an all-zero reference output is MISTRUSTED: a zeros backend would pass it") {
  PluginRegistry reg;
  const LoadedBackend& naive = test::LoadNaive(reg);
  GridSpec g;
  g.variants = "causal";
  g.seq_len = "1";
  g.batch = "1";
  g.heads = "1";
  g.d_in = g.d_out = "8";
  g.dropout = "0.9";
  g.qkv_bias = "0";
  int zeros = 0, nonzero = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {  // the one weight is dropped for ~90% of the seeds
    g.seed = seed;
    const ValidationCase vc = PrepareCase(ExpandGrid(g).at(0).problem, 5, 32);
    bool all_zero = true;
    for (double v : vc.ref.out) all_zero = all_zero && v == 0.0;
    const CheckResult r = CheckBackend(naive, vc.data, vc.ref);
    INFO("seed " << seed << ": " << r.reason);
    CHECK(r.status == (all_zero ? Status::kMistrusted : Status::kPass));
    ++(all_zero ? zeros : nonzero);
  }
  CHECK(zeros > 0);
  CHECK(nonzero > 0);
}

TEST_CASE("all-denormal inputs: a correct backend, flushing or not, does not FAIL, zeros are MISTRUSTED") {
  PluginRegistry reg;
  const LoadedBackend& naive = test::LoadNaive(reg);
  for (const char* variant : {"self", "mha"}) {
    GridSpec g;
    g.variants = variant;
    g.seq_len = "256";  // long rows: float32's rounding of denormal products used to exceed the tolerance
    g.batch = "1";
    g.heads = "1";
    g.d_in = g.d_out = "16";
    g.dropout = "0";
    g.qkv_bias = "0";
    g.threads = 1;
    const ab_problem p = ExpandGrid(g).at(0).problem;
    ProblemData data = MakeRandomProblemData(p, 3);
    for (size_t i = 0; i < data.x.size(); ++i) data.x[i] = static_cast<float>(data.x[i] * 1e-39);
    const ReferenceResult ref = ComputeReference(data, AllRows(p.seq_len));
    for (unsigned mxcsr : {0x1F80u, 0x9FC0u}) {  // IEEE; flush-to-zero + denormals-are-zero
      SetThreadState(1, mxcsr);
      const CheckResult r = CheckBackend(naive, data, ref);
      SetThreadState(1, 0x1F80);
      INFO(variant << " MXCSR " << mxcsr << ": " << r.reason);
      CHECK(r.status != Status::kFail);
    }
    if (std::string(variant) == "self") {  // the output is as denormal as the input
      const std::vector<float> zeros(OutputElems(p), 0.0f);
      const CheckResult z = CompareOutput(p, zeros.data(), ref);
      INFO(z.reason);
      CHECK(z.status == Status::kMistrusted);
    }
  }
}
