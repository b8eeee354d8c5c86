// The writers: summary.csv round trip, bench.json / env.json are valid JSON with what the tools
// need, report.md names the BLAS kernel and everything not timed; atomic writes.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/atomic_file.h"
#include "bench/flop_model.h"
#include "bench/report.h"
#include "bench/sweep.h"
#include "machine/machine.h"

using namespace attnbench;
using namespace attnbench::bench;
namespace fs = std::filesystem;

namespace {

machine::MachineProfile SampleProfile() {
  machine::MachineProfile p;
  p.host = "test";
  p.fma = {{"AVX3", 16, true, 2, 1, 5, 0.01, 400.0}, {"AVX2", 8, true, 2, 1, 5, 0.01, 210.0},
           {"AVX3", 16, true, 1, 1, 5, 0.01, 200.0}};
  p.bandwidth = {{"triad", 2, 5, 0.1, 20.0}, {"read", 2, 5, 0.1, 25.0}};
  return p;
}

BenchRun SampleRun() {
  BenchRun run;
  run.env = {{"cpu", {{"model", "Test CPU"}, {"cores", 2}, {"isa", "avx2"}}},
             {"blas", {{"library", "OpenBLAS"}, {"version", "0.3.21"}, {"kernel", "Prescott"}}},
             {"backends", {{"naive", ""}, {"blas", "kernel Prescott"}}}};
  run.sgemm_gflops[2] = 100.0;
  // A measured machine: 2 threads peak at 400 GFLOP/s (AVX3) and move 20 GB/s.
  run.env["machine"] = nlohmann::json(SampleProfile());
  const Config cfg{Variant::kMha, MakeProblem(Variant::kMha, 1, 128, 64, 64, 4)};
  Config c2 = cfg;
  c2.problem.threads = 2;
  Cell a;
  a.section = "seq-sweep;threads";
  a.backend = "blas";
  a.config = c2;
  a.name = BenchmarkName("blas", c2);
  a.status = "PASS";
  a.median_s = 0.001;
  a.mean_s = 0.0011;
  a.stddev_s = 1e-5;
  a.cv = 1e-5 / 0.0011;
  a.min_s = 0.00095;
  a.repetitions = 5;
  a.iterations = 100;
  a.workspace_bytes = 123456;
  a.rotation = 7;
  a.rel_l2_err = 3.5e-7;
  a.repetition_s = {0.00101, 0.001, 0.00095, 0.0011, 0.001};
  a.round_group = "0123456789abcdef";
  Cell b = a;
  b.backend = "naive";
  b.name = BenchmarkName("naive", c2);
  b.median_s = 0.004;
  Cell c = a;
  c.backend = "slow";
  c.name = BenchmarkName("slow", c2);
  c.status = "SKIPPED";
  c.reason = "too slow: predicted 12 s, \"quoted\", with, commas\nand a newline";
  c.median_s = 0;
  run.cells = {a, b, c};
  run.gbench = {{"context", {{"executable", "attnbench"}}},
                {"benchmarks", {{{"name", a.name + "/real_time"}, {"run_type", "iteration"}, {"real_time", 1.0},
                                 {"cpu_time", 1.0}, {"time_unit", "ms"}}}}};
  ComputeDerived(run, "blas");
  return run;
}

}  // namespace

TEST_CASE("derived metrics: GFLOP/s, % of the measured peak, byte model, speedup vs baseline") {
  const BenchRun run = SampleRun();
  const Cell& blas = run.cells[0];
  const Cell& naive = run.cells[1];
  CHECK(blas.gflops == Approx(blas.flops / 0.001 * 1e-9));
  CHECK(blas.peak_gflops == 400.0);  // the widest ISA at the cell's 2 threads, not the 1-thread figure
  CHECK(blas.pct_peak == Approx(100 * blas.gflops / 400.0));
  CHECK(blas.bandwidth_gbs == 20.0);
  CHECK(blas.sgemm_gflops == 100.0);  // the reference line, not the denominator
  CHECK(blas.min_bytes == CountBytes(blas.config.problem).minimum());
  CHECK(blas.intensity == Approx(blas.flops / blas.min_bytes));
  CHECK(run.cells[2].intensity == blas.intensity);  // a config's figure, timed or not
  CHECK(!blas.above_peak());
  CHECK(blas.speedup == Approx(1.0));
  CHECK(naive.speedup == Approx(0.25));
  CHECK(run.cells[2].speedup == 0);
  CHECK(run.cells[2].gflops == 0);
}

TEST_CASE("decode: GB/s from the byte model (cache included) and % of the measured triad bandwidth") {
  BenchRun run = SampleRun();
  ab_problem& p = run.cells[0].config.problem;
  p.seq_len = 1;
  p.kv_heads = 2;
  p.past_len = 4096;
  run.cells[0].median_s = 1e-3;
  ComputeDerived(run, "blas");
  const Cell& c = run.cells[0];
  const double bytes = CountBytes(p).minimum();
  REQUIRE(CountBytes(p).cache == 2.0 * 2 * 4096 * 16 * 4);  // B=1, 2 KV heads, head_dim 16
  CHECK(c.min_bytes == bytes);
  CHECK(c.achieved_gbs == Approx(bytes / 1e-3 * 1e-9));
  CHECK(c.pct_bandwidth == Approx(100 * c.achieved_gbs / 20.0));  // triad at 2 threads, not read
  CHECK(run.cells[2].achieved_gbs == 0);  // not timed: no rate
  CHECK(run.cells[2].pct_bandwidth == 0);
  const auto back = ParseSummaryCsv(MakeReporter("csv")->Render(run));
  CHECK(back[0].achieved_gbs == c.achieved_gbs);
  CHECK(back[0].pct_bandwidth == c.pct_bandwidth);
  const std::string md = MakeReporter("markdown")->Render(run);
  CHECK(md.find("| GB/s | % BW |") != std::string::npos);
  CHECK(md.find(" | " + std::to_string(static_cast<int>(c.pct_bandwidth)) + ".") != std::string::npos);
  // Without a measured machine no % of bandwidth is printed.
  run.env.erase("machine");
  ComputeDerived(run, "blas");
  CHECK(run.cells[0].pct_bandwidth == 0);
  CHECK(run.cells[0].achieved_gbs > 0);
}

TEST_CASE("no % of peak is printed above 100 %: the report says the peak measurement is wrong") {
  BenchRun run = SampleRun();
  run.cells[0].median_s = run.cells[0].flops / 500e9;  // 500 GFLOP/s on a 400 GFLOP/s machine
  ComputeDerived(run, "blas");
  REQUIRE(run.cells[0].above_peak());
  const std::string md = MakeReporter("markdown")->Render(run);
  CHECK(md.find("**above peak**") != std::string::npos);
  CHECK(md.find("125.0%") == std::string::npos);
  CHECK(md.find("the peak measurement is wrong") != std::string::npos);
  // Without a measured machine there is no percentage at all, rather than one of something else.
  run.env.erase("machine");
  ComputeDerived(run, "blas");
  CHECK(run.cells[0].peak_gflops == 0);
  CHECK(run.cells[0].pct_peak == 0);
  CHECK(!run.cells[0].above_peak());
}

TEST_CASE("measured memory above the claimed workspace is flagged, within the margin it is not") {
  BenchRun run = SampleRun();
  run.cells[0].workspace_bytes = 1 << 20;
  run.cells[0].measured_bytes = 3 << 20;  // 2 MiB over a 1 MiB claim: inside the 4 MiB margin
  run.cells[1].workspace_bytes = 1 << 20;
  run.cells[1].measured_bytes = 70 << 20;  // 64 MiB the backend did not report
  ComputeDerived(run, "blas");
  CHECK(run.cells[0].memory_flag.empty());
  CHECK(run.cells[1].memory_flag.find("70.0 MiB measured") != std::string::npos);
  const std::string md = MakeReporter("markdown")->Render(run);
  CHECK(md.find("70 MiB / 1 MiB **over**") != std::string::npos);
  CHECK(md.find("memory over claim") != std::string::npos);
  // A peer claims nothing, so it is never flagged; its measured figure is still shown.
  run.cells[1].backend = "peer-torch";
  ComputeDerived(run, "blas");
  CHECK(run.cells[1].memory_flag.empty());
  // The flag survives the CSV (and so the --isolate worker's hand-over).
  run.cells[1].backend = "naive";
  ComputeDerived(run, "blas");
  CHECK(ParseSummaryCsv(MakeReporter("csv")->Render(run))[1].memory_flag == run.cells[1].memory_flag);
}

TEST_CASE("summary.csv round trip keeps every field") {
  const BenchRun run = SampleRun();
  const std::string csv = MakeReporter("csv")->Render(run);
  const auto back = ParseSummaryCsv(csv);
  REQUIRE(back.size() == run.cells.size());
  for (size_t i = 0; i < back.size(); ++i) {
    const Cell &x = run.cells[i], &y = back[i];
    CHECK(y.section == x.section);
    CHECK(y.backend == x.backend);
    CHECK(y.name == x.name);
    CHECK(y.status == x.status);
    CHECK(y.reason == x.reason);
    CHECK(y.config.variant == x.config.variant);
    CHECK(y.config.problem.seq_len == x.config.problem.seq_len);
    CHECK(y.config.problem.heads == x.config.problem.heads);
    CHECK(y.config.problem.threads == x.config.problem.threads);
    CHECK(y.config.problem.causal == x.config.problem.causal);
    CHECK(y.median_s == x.median_s);  // shortest round-trip form: exact
    CHECK(y.cv == x.cv);
    CHECK(y.gflops == x.gflops);
    CHECK(y.speedup == x.speedup);
    CHECK(y.workspace_bytes == x.workspace_bytes);
    CHECK(y.measured_bytes == x.measured_bytes);
    CHECK(y.pct_peak == x.pct_peak);
    CHECK(y.intensity == x.intensity);
    CHECK(y.rotation == x.rotation);
    CHECK(y.rel_l2_err == x.rel_l2_err);
    CHECK(y.repetition_s == x.repetition_s);
    CHECK(y.round_group == x.round_group);
  }
  // Re-rendering what was read gives the same text.
  BenchRun again = run;
  again.cells = back;
  CHECK(MakeReporter("csv")->Render(again) == csv);
}

TEST_CASE("summary.csv reader rejects malformed input") {
  CHECK_THROWS(ParseSummaryCsv(""));
  CHECK_THROWS(ParseSummaryCsv("backend,seq_len\nnaive\n"));
  CHECK_THROWS(ParseSummaryCsv("backend,seq_len\nnaive,abc\n"));
  CHECK_THROWS(ParseSummaryCsv("backend,reason\nnaive,\"unterminated\n"));
}

TEST_CASE("bench.json and env.json are JSON with what the tools read") {
  const BenchRun run = SampleRun();
  const auto bench = nlohmann::json::parse(MakeReporter("json")->Render(run));
  CHECK(bench["benchmarks"].size() == 1);
  CHECK(bench["context"]["executable"] == "attnbench");
  const auto env = nlohmann::json::parse(MakeReporter("env")->Render(run));
  CHECK(env["blas"]["kernel"] == "Prescott");
  CHECK(env["sgemm_gflops"]["2"] == 100.0);
  CHECK_THROWS_AS(MakeReporter("xml"), std::invalid_argument);
}

TEST_CASE("report.md names the BLAS kernel, ranks the backends, lists what was skipped") {
  const std::string md = MakeReporter("markdown")->Render(SampleRun());
  CHECK(md.find("kernel **Prescott**") != std::string::npos);
  CHECK(md.find("## seq-sweep") != std::string::npos);
  CHECK(md.find("## threads") != std::string::npos);
  CHECK(md.find("| 1 | blas | PASS") != std::string::npos);
  CHECK(md.find("| 2 | naive | PASS") != std::string::npos);
  CHECK(md.find("| slow |") != std::string::npos);
  CHECK(md.find("too slow") != std::string::npos);
}

TEST_CASE("report.md gives each row's median over the fastest one's, marked when within the rows' spread") {
  BenchRun run = SampleRun();
  for (Cell& c : run.cells) c.round_group.clear();  // timed on their own (--isolate): not paired
  ComputeDerived(run, "blas");
  const auto row = [](const std::string& md, const std::string& backend) {
    const size_t at = md.find("| " + backend + " | PASS");
    REQUIRE(at != std::string::npos);
    return md.substr(at, md.find('\n', at) - at);
  };
  // blas 1 ms, naive 4 ms (both cv 0.9 %): 4.00x, resolved. The fastest row has no ratio.
  std::string md = MakeReporter("markdown")->Render(run);
  CHECK(row(md, "naive").find("| 0.9% | 4.00x |") != std::string::npos);
  CHECK(row(md, "blas").find("% | - |") != std::string::npos);
  // naive 1.05 ms: a 5 % gap. Within a 6 % cv (of either row) it is not an order the run can
  // vouch for; with 4 % it is.
  run.cells[1].median_s = 0.00105;
  run.cells[0].cv = 0;
  for (const double cv : {0.06, 0.04}) {
    run.cells[1].cv = cv;
    md = MakeReporter("markdown")->Render(run);
    CHECK(row(md, "naive").find(cv > 0.05 ? "| 1.05x ≈ |" : "| 1.05x |") != std::string::npos);
  }
  run.cells[1].cv = 0;
  run.cells[0].cv = 0.06;
  CHECK(row(MakeReporter("markdown")->Render(run), "naive").find("| 1.05x ≈ |") != std::string::npos);
}

TEST_CASE("report.md pairs rows timed in the same rounds: the median of the per-round ratios") {
  BenchRun run = SampleRun();
  const auto row = [](const std::string& md, const std::string& backend) {
    const size_t at = md.find("| " + backend + " | PASS");
    REQUIRE(at != std::string::npos);
    return md.substr(at, md.find('\n', at) - at);
  };
  Cell& fast = run.cells[0];
  Cell& other = run.cells[1];
  // The machine slowed down over the rounds, both rows with it: cv 30 %, but `other` took 1.04x
  // `fast`'s time in every round. Paired, that is an order; by the medians and cvs it would not be.
  fast.repetition_s = {1.0e-3, 1.2e-3, 1.5e-3, 1.8e-3, 2.0e-3};
  other.repetition_s = {1.04e-3, 1.248e-3, 1.56e-3, 1.872e-3, 2.08e-3};
  fast.median_s = 1.5e-3;
  other.median_s = 1.56e-3;
  fast.cv = other.cv = 0.3;
  other.round_group = fast.round_group;
  CHECK(row(MakeReporter("markdown")->Render(run), "naive").find("| 1.04x |") != std::string::npos);
  // Faster than `fast` in one round: not an order this run vouches for.
  other.repetition_s[3] = 1.7e-3;
  CHECK(row(MakeReporter("markdown")->Render(run), "naive").find("| 1.04x ≈ |") != std::string::npos);
  // Other rounds (another group, or a row timed on its own): the medians and cvs decide.
  other.round_group = "fedcba9876543210";
  CHECK(row(MakeReporter("markdown")->Render(run), "naive").find("| 1.04x ≈ |") != std::string::npos);
  fast.cv = other.cv = 0.01;
  CHECK(row(MakeReporter("markdown")->Render(run), "naive").find("| 1.04x |") != std::string::npos);
  other.round_group.clear();
  CHECK(row(MakeReporter("markdown")->Render(run), "naive").find("| 1.04x |") != std::string::npos);
}

TEST_CASE("WriteFileAtomic replaces the file whole and leaves no temporary") {
  const fs::path dir = fs::temp_directory_path() / ("attnbench-atomic-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "out.txt").string();
  WriteFileAtomic(path, "first\n");
  WriteFileAtomic(path, "second\n");
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  CHECK(ss.str() == "second\n");
  CHECK(!fs::exists(TempPathFor(path)));
  // A write that cannot happen leaves the target untouched and no temporary behind.
  CHECK_THROWS(WriteFileAtomic((dir / "no-such-dir" / "x.txt").string(), "y"));
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".tmp.") != std::string::npos;
  CHECK(n == 0);
  fs::remove_all(dir);
}
