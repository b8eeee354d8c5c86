// A tiny sweep end to end through the CLI in seconds: validate + time + reports + plots, the
// budget skip, compare on the fixtures in tests/data, bad input, and an interrupted run that
// leaves no partial file.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/report.h"

using namespace attnbench::bench;
namespace fs = std::filesystem;

namespace {

std::string Slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int Run(const std::string& cmd) {
  const int st = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("attnbench-" + tag + "-" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

const std::string kCli = ATTNBENCH_CLI;
const std::string kData = ATTNBENCH_TEST_DATA;
// Only the naive backend (always built): fast and independent of what colleagues add.
const std::string kTiny =
    " --backends naive --sgemm-size 64 --benchmark_min_time=0.001 --benchmark_repetitions=2 -q";

std::string WriteTinyPreset(const fs::path& dir) {
  const fs::path p = dir / "tiny.preset";
  std::ofstream(p) << "[seq-sweep]\nvariant = mha\nseq-len = 8,16\nheads = 2\nd-in = 16\nd-out = 16\nthreads = 1\n"
                      "[variants]\nvariant = simplified,self\nseq-len = 8\nheads = 2\nd-in = 16\nd-out = 16\n"
                      "threads = 1\n";
  return p.string();
}

}  // namespace

TEST_CASE("tiny sweep: validate, time, report, plot") {
  TempDir t("e2e");
  const fs::path out = t.path / "out";
  REQUIRE(Run(kCli + " bench --preset " + WriteTinyPreset(t.path) + " --out " + out.string() + kTiny) == 0);
  for (const char* f : {"env.json", "bench.json", "summary.csv", "report.md"}) REQUIRE(fs::exists(out / f));
  const auto cells = ParseSummaryCsv(Slurp(out / "summary.csv"));
  REQUIRE(cells.size() == 4);
  for (const auto& c : cells) {
    CHECK(c.backend == "naive");
    CHECK(c.status == "PASS");
    CHECK(c.median_s > 0);
    CHECK(c.repetitions == 2);
    CHECK(c.gflops > 0);
    CHECK(c.sgemm_gflops > 0);
  }
  const auto bench = nlohmann::json::parse(Slurp(out / "bench.json"));
  CHECK(bench["benchmarks"].size() >= 4 * 2);  // every repetition (+ aggregates)
  CHECK(bench["context"].contains("num_cpus"));
  const auto env = nlohmann::json::parse(Slurp(out / "env.json"));
  CHECK(!env["blas"]["kernel"].get<std::string>().empty());
  CHECK(env["git"].contains("commit"));
  CHECK(Slurp(out / "report.md").find(env["blas"]["kernel"].get<std::string>()) != std::string::npos);
  if (std::getenv("ATTNBENCH_SANITIZED")) return;  // Python under ASan's LD_PRELOAD-free env is fine, but slow
  REQUIRE(Run(kCli + " plot " + out.string()) == 0);
  CHECK(fs::exists(out / "plots" / "latency_vs_seq_len.png"));
  CHECK(fs::exists(out / "plots" / "gflops_vs_seq_len.svg"));
  // The variants section: variant varies (causal with it, not held apart), at T = 8.
  CHECK(fs::exists(out / "plots" / "latency_vs_variant.png"));
  CHECK(fs::exists(out / "report.html"));
}

TEST_CASE("the budget skips a backend predicted too slow") {
  TempDir t("budget");
  const fs::path out = t.path / "out";
  REQUIRE(Run(kCli + " bench --preset " + WriteTinyPreset(t.path) + " --out " + out.string() + kTiny +
              " --budget 0.0001") == 0);
  const auto cells = ParseSummaryCsv(Slurp(out / "summary.csv"));
  REQUIRE(cells.size() == 4);
  // The first cell has no history: validated, then skipped on its measured run time.
  CHECK(cells[0].status == "SKIPPED");
  CHECK(cells[0].reason.find("validation (PASS) passed") != std::string::npos);
  // The next is predicted from it with the FLOP model and never run.
  CHECK(cells[1].status == "SKIPPED");
  CHECK(cells[1].reason.find("predicted") != std::string::npos);
  CHECK(cells[1].median_s == 0);
  CHECK(Slurp(out / "report.md").find("too slow") != std::string::npos);
}

TEST_CASE("bad input exits 2") {
  TempDir t("bad");
  CHECK(Run(kCli + " bench --preset no-such-preset --out " + t.path.string()) == 2);
  CHECK(Run(kCli + " bench --seq-len 0 --out " + t.path.string()) == 2);
  CHECK(Run(kCli + " bench --budget -1 --dry-run") == 2);
  CHECK(Run(kCli + " bench --benchmark_bogus=1 --dry-run") == 2);
  CHECK(Run(kCli + " bench --no-such-flag --dry-run") == 2);
  CHECK(Run(kCli + " bench --dry-run") == 0);
  CHECK(Run(kCli + " plot " + t.path.string()) == 2);
  CHECK(Run(kCli + " compare " + t.path.string() + " " + t.path.string()) == 2);
  CHECK(Run(kCli + " plot --help") == 0);
  CHECK(Run(kCli + " compare --help") == 0);
}

TEST_CASE("compare: significance, per-backend geomean, --fail-above") {
  if (std::getenv("ATTNBENCH_SANITIZED")) return;
  const std::string a = kData + "/bench-sample-a", b = kData + "/bench-sample-b";
  // b is the same run with naive made 10x slower (a fixture), so it regresses.
  CHECK(Run(kCli + " compare " + a + " " + a + " --fail-above 5") == 0);
  CHECK(Run(kCli + " compare " + a + " " + b) == 0);
  CHECK(Run(kCli + " compare " + a + " " + b + " --fail-above 50") == 1);
  CHECK(Run(kCli + " compare " + b + " " + a + " --fail-above 50") == 0);  // faster is fine
}

TEST_CASE("an interrupted run leaves only whole files") {
  TempDir t("interrupt");
  const fs::path out = t.path / "out";
  const fs::path preset = t.path / "long.preset";
  std::ofstream(preset) << "[seq-sweep]\nvariant = mha\nseq-len = 8,16,24,32,40,48,56,64,72,80,88,96\nheads = 2\n"
                           "d-in = 16\nd-out = 16\nthreads = 1\n";
  // SIGINT after 1.5 s, in the middle of the sweep (each cell takes >= 0.35 s).
  const int rc = Run("timeout --preserve-status -s INT 1.5 " + kCli + " bench --preset " + preset.string() + " --out " + out.string() +
                     " --backends naive --sgemm-size 64 --benchmark_min_time=0.05 --benchmark_repetitions=5 -q");
  CHECK(rc == 130);  // stopped cleanly: 128 + SIGINT
  REQUIRE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    INFO(name);
    CHECK(name.find(".tmp.") == std::string::npos);
    if (name.ends_with(".json")) CHECK_NOTHROW(nlohmann::json::parse(Slurp(e.path())));
    if (name == "summary.csv") {
      const auto cells = ParseSummaryCsv(Slurp(e.path()));
      CHECK(cells.size() < 12);
    }
  }
}
