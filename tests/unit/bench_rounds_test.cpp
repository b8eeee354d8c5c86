// The sweep's round-by-round timing (sweep.h, SweepOptions::rounds): a config's rows take one
// repetition each per round, the peers' turn among them; the rows are written in plan order
// whatever happened to each; a memory cap splits the rows into groups that take their rounds one
// after the other; a row that goes wrong leaves the rounds and the others go on.
#include <benchmark/benchmark.h>

#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "bench/sweep.h"
#include "grid.h"
#include "plugin_loader.h"
#include "test_util.h"

using namespace attnbench;

namespace {

void InitGoogleBenchmarkOnce() {
  static bool initialized = [] {
    // Static: Google Benchmark keeps argv[0] (the "executable" of its JSON context).
    static int argc = 2;
    static char a0[] = "bench_rounds_test", a1[] = "--benchmark_min_time=0.005";
    static char* argv[] = {a0, a1, nullptr};
    benchmark::Initialize(&argc, argv);
    return true;
  }();
  (void)initialized;
}

Config Mha(int T) { return test::SmallMhaConfig(T, 32, 2); }

// The naive backend twice ("naive", "naive-2"): two rows of the same speed.
struct TwoNaives {
  PluginRegistry reg;
  const LoadedBackend* a = nullptr;
  const LoadedBackend* b = nullptr;
  TwoNaives() {
    reg.LoadFile(std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-naive.so");
    reg.LoadFile(std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-naive.so", "naive-2");
    a = reg.Find("naive");  // after both loads: the registry's vector grows
    b = reg.Find("naive-2");
  }
};

// What the sweep did, as seen from its callbacks: the peers' "B<config>" (begin), "R<config>"
// (a round), "E<config>" (end), and before each, how often stop() was polled since the one
// before: once per timed iteration (thousands per repetition here), and a few times between rows.
struct Trace {
  std::vector<std::string> events;
  std::vector<long> polls_before;
  long polls = 0;
  void Add(const std::string& e) {
    events.push_back(e);
    polls_before.push_back(polls);
    polls = 0;
  }
  std::string Joined() const {
    std::string s;
    for (const auto& e : events) s += e + " ";
    return s;
  }
};
// `polls` is `iterations` timed calls plus the few polls the sweep makes between rows.
bool Between(long polls, long iterations) { return polls >= iterations && polls <= iterations + 5; }

bench::SweepOptions Options(Trace& trace, int rounds) {
  bench::SweepOptions o;
  o.timing = {rounds, 0.005};
  o.progress = false;
  o.budget_s = 60;
  o.cold_bytes = 1 << 20;
  o.stop = [&trace] {
    ++trace.polls;
    return false;
  };
  o.peer_rounds.begin = [&trace](size_t k, const std::string&) {
    trace.Add("B" + std::to_string(k));
    return true;
  };
  o.peer_rounds.round = [&trace](size_t k) { trace.Add("R" + std::to_string(k)); };
  o.peer_rounds.end = [&trace](size_t k) { trace.Add("E" + std::to_string(k)); };
  return o;
}

// Iteration entries per cell name: their repetition_index values.
std::map<std::string, std::vector<int>> Repetitions(const nlohmann::json& gbench) {
  std::map<std::string, std::vector<int>> out;
  for (const auto& e : gbench["benchmarks"]) {
    CHECK(e.value("run_type", "") == "iteration");
    out[e.value("name", "")].push_back(e.value("repetition_index", -1));
  }
  return out;
}

}  // namespace

TEST_CASE("rounds: one repetition of every row per round, the peers' turn among them") {
  InitGoogleBenchmarkOnce();
  const TwoNaives naives;
  const LoadedBackend *a = naives.a, *b = naives.b;
  REQUIRE(a);
  REQUIRE(b);
  const std::vector<bench::PlannedConfig> plan = {{"s", Mha(8)}, {"s", Mha(16)}};
  const auto cells = bench::PlanCells(plan, {a, b}, "");
  Trace trace;
  const int rounds = 3;
  bench::SweepOptions o = Options(trace, rounds);
  bench::BenchRun run;
  REQUIRE(bench::RunSweep(plan, cells, o, run));
  INFO(trace.Joined());
  REQUIRE(trace.events == std::vector<std::string>{"B0", "R0", "R0", "R0", "E0", "B1", "R1", "R1", "R1", "E1"});
  // Three rows (the two backends, the peers), each round starting one row later: [a b P], [b P a],
  // [P a b]. Between two peers' turns the polls are the iterations of the rows that ran (a fixed
  // count per row) plus the few the sweep makes between rows: two rows before the first turn,
  // one each between the turns, two after the last.
  REQUIRE(run.cells.size() == 4);
  for (size_t k : {size_t{0}, size_t{5}}) {
    const long* n = &trace.polls_before[k];  // B, R, R, R, E
    const long a = run.cells[k == 0 ? 0 : 2].iterations, b = run.cells[k == 0 ? 1 : 3].iterations;
    INFO("config " << k / 5 << ": iterations " << a << " and " << b);
    REQUIRE(a > 0);
    REQUIRE(b > 0);
    CHECK(Between(n[1], a + b));
    CHECK(Between(n[2], b));
    CHECK(Between(n[3], a));
    CHECK(Between(n[4], a + b));
  }
  for (size_t k = 0; k < 4; ++k) {
    CHECK(run.cells[k].name == cells[k].name);  // plan order
    CHECK(run.cells[k].status == "PASS");
    CHECK(run.cells[k].repetitions == rounds);
    CHECK(run.cells[k].median_s > 0);
    CHECK(run.cells[k].repetition_s.size() == static_cast<size_t>(rounds));
    CHECK(run.cells[k].round_group.size() == 16);
  }
  // Each config's rows share their rounds; the two configs' rounds are not the same.
  CHECK(run.cells[0].round_group == run.cells[1].round_group);
  CHECK(run.cells[2].round_group == run.cells[3].round_group);
  CHECK(run.cells[0].round_group != run.cells[2].round_group);
  const auto reps = Repetitions(run.gbench);
  REQUIRE(reps.size() == 4);  // named as the cell, without the fixed counts of a round
  for (const auto& [name, idx] : reps) {
    CHECK(name.find("iterations:") == std::string::npos);
    CHECK(name.find("repeats:") == std::string::npos);
    CHECK(idx == std::vector<int>{0, 1, 2});
  }
}

TEST_CASE("rounds: a memory cap splits the rows into groups, the peers join the last") {
  InitGoogleBenchmarkOnce();
  const TwoNaives naives;
  const LoadedBackend *a = naives.a, *b = naives.b;
  REQUIRE(a);
  REQUIRE(b);
  const std::vector<bench::PlannedConfig> plan = {{"s", Mha(8)}};
  const auto cells = bench::PlanCells(plan, {a, b}, "");
  Trace trace;
  bench::SweepOptions o = Options(trace, 2);
  o.rounds_bytes = 1;  // no two rows fit: each takes its rounds alone
  bench::BenchRun run;
  REQUIRE(bench::RunSweep(plan, cells, o, run));
  INFO(trace.Joined());
  // The first row alone: its estimate and two rounds; then the second row's estimate, and its
  // rounds with the peers: [b P], [P b].
  REQUIRE(trace.events == std::vector<std::string>{"B0", "R0", "R0", "E0"});
  REQUIRE(run.cells.size() == 2);
  const long na = run.cells[0].iterations, nb = run.cells[1].iterations;
  CHECK(trace.polls_before[0] > 2 * na);  // both estimates and the first row's two rounds
  CHECK(Between(trace.polls_before[1], nb));
  CHECK(Between(trace.polls_before[2], 0));  // no row between the two turns
  CHECK(Between(trace.polls_before[3], nb));
  CHECK(run.cells[0].name == cells[0].name);
  CHECK(run.cells[1].name == cells[1].name);
  CHECK(run.cells[0].repetitions == 2);
  CHECK(run.cells[1].repetitions == 2);
  CHECK(run.cells[0].round_group != run.cells[1].round_group);  // not side by side: not paired
}

TEST_CASE("rounds: a row that goes wrong leaves the rounds, every row is written in plan order") {
  InitGoogleBenchmarkOnce();
  PluginRegistry reg;  // all loaded before taking pointers: the registry's vector grows
  reg.LoadFile(std::string(ATTNBENCH_TEST_PLUGIN_DIR) + "/hostile-memo.so");
  test::LoadNaive(reg);
  reg.LoadFile(std::string(ATTNBENCH_TEST_PLUGIN_DIR) + "/hostile-first-only.so");
  const LoadedBackend* memo = reg.Find("hostile-memo");
  const LoadedBackend* naive = reg.Find("naive");
  const LoadedBackend* first_only = reg.Find("hostile-first-only");
  REQUIRE(memo);
  REQUIRE(naive);
  REQUIRE(first_only);
  // d = 256: the naive backend takes milliseconds, a memcpy of the output microseconds.
  const std::vector<bench::PlannedConfig> plan = {{"s", test::SmallMhaConfig(64, 256)}};
  const auto cells = bench::PlanCells(plan, {memo, naive, first_only}, "");
  Trace trace;
  bench::SweepOptions o = Options(trace, 3);
  o.peak_gflops = [](int) { return 400.0; };  // memo's memcpy runs at thousands
  bench::BenchRun run;
  REQUIRE(bench::RunSweep(plan, cells, o, run));
  REQUIRE(run.cells.size() == 3);
  INFO(run.cells[0].reason << "\n" << run.cells[1].reason << "\n" << run.cells[2].reason);
  CHECK(run.cells[0].name == cells[0].name);
  CHECK(run.cells[1].name == cells[1].name);
  CHECK(run.cells[2].name == cells[2].name);
  CHECK(run.cells[0].status == "FAIL");  // its rate, judged once the rounds are over
  CHECK(run.cells[0].reason.find("above this machine's measured peak") != std::string::npos);
  CHECK(run.cells[1].status == "PASS");
  CHECK(run.cells[1].repetitions == 3);
  CHECK(run.cells[2].status == "FAIL");  // caught by the estimate's check, before any round
  CHECK(run.cells[2].reason.find("output of a timed call is wrong") != std::string::npos);
  // Only the PASS row's repetitions are in the JSON.
  const auto reps = Repetitions(run.gbench);
  CHECK(reps.size() == 1);
}
