#include "plan.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <regex>
#include <set>

#include "../sysinfo.h"
#include "env_info.h"
#include "shard.h"
#include "timing.h"

namespace attnbench::bench {

namespace {

// Hands the --benchmark_* flags to Google Benchmark (after our defaults, so the user's win) and
// returns the timing plan they imply. Anything else left over is an error.
TimingPlan InitGoogleBenchmark(const std::vector<std::string>& extras, std::string* filter) {
  TimingPlan plan;
  // Static: Google Benchmark keeps pointers into argv (the executable name in its context).
  static std::vector<std::string> args;
  args = {"attnbench", "--benchmark_repetitions=5", "--benchmark_min_time=0.1"};
  for (const auto& e : extras) {
    if (e.rfind("--benchmark_", 0) != 0)
      throw InputError("unknown argument '" + e + "' (Google Benchmark flags must look like --benchmark_NAME=VALUE)");
    if (e.rfind("--benchmark_out", 0) == 0 || e.rfind("--benchmark_format", 0) == 0)
      throw InputError(e + ": not supported here; bench.json in --out is Google Benchmark's JSON");
    args.push_back(e);
  }
  auto value = [](const std::string& arg, const char* flag) -> std::optional<std::string> {
    const std::string prefix = std::string(flag) + "=";
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
    return std::nullopt;
  };
  for (const auto& a : args) {
    try {
      if (auto v = value(a, "--benchmark_repetitions")) plan.repetitions = std::stoi(*v);
      if (auto v = value(a, "--benchmark_min_time")) plan.min_time = std::stod(*v);
    } catch (const std::exception&) {
      throw InputError("bad value in '" + a + "'");
    }
  }
  if (plan.repetitions < 1) throw InputError("--benchmark_repetitions must be >= 1");
  if (!(plan.min_time > 0)) throw InputError("--benchmark_min_time must be > 0 (seconds)");
  static std::vector<char*> argv;
  argv.clear();
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  benchmark::Initialize(&argc, argv.data());
  if (argc > 1) throw InputError(std::string("unknown Google Benchmark flag '") + argv[1] + "'");
  *filter = benchmark::GetBenchmarkFilter();
  return plan;
}

// --baseline as given -> the backend speedups are relative to ("" = none).
std::string ResolveBaseline(const std::string& given, const std::vector<const LoadedBackend*>& backends) {
  if (given == "none") return "";
  if (given.empty()) {
    std::string b;
    for (const auto* x : backends)
      if (x->name == "blas") b = "blas";
    return b;
  }
  for (const auto* x : backends)
    if (x->name == given) return given;
  throw InputError("--baseline: backend '" + given + "' is not among the selected backends");
}

}  // namespace

std::vector<std::string> Sweep::CellNames() const {
  std::vector<std::string> names;
  for (const auto& c : cells) names.push_back(c.name);
  return names;
}

std::vector<std::string> Sweep::SweepCellNames() const {
  std::vector<std::string> names;
  for (const auto& c : sweep_cells) names.push_back(c.name);
  return names;
}

Sweep PlanSweep(const SweepSpec& spec, const BackendLoader& load_backends) {
  Sweep w;
  w.spec = spec;
  w.plan = PlanConfigs(spec.sections, CpuCount(), &w.invalid);
  for (const auto& pc : w.plan) CheckMemory(pc.config);
  if (!(spec.budget_s > 0)) throw InputError("--budget must be > 0 seconds");
  if (spec.sample_rows < 0) throw InputError("--sample-rows must be >= 0 (0 = every row)");
  if (spec.cache != "cold" && spec.cache != "warm")
    throw InputError("--cache must be cold or warm, got '" + spec.cache + "'");
  if (spec.sgemm_size < 16 || spec.sgemm_size > 16384) throw InputError("--sgemm-size must be in [16, 16384]");
  std::string filter;
  w.so.timing = InitGoogleBenchmark(spec.benchmark_args, &filter);
  try {
    if (!filter.empty()) std::regex(filter, std::regex::extended);
  } catch (const std::regex_error&) {
    throw InputError("--benchmark_filter: invalid regular expression '" + filter + "'");
  }
  w.backends = load_backends(spec, *w.reg);
  w.baseline = ResolveBaseline(spec.baseline, w.backends);
  w.sweep_cells = PlanCells(w.plan, w.backends, filter);
  w.cells = ShardCells(w.plan, w.sweep_cells, w.so.timing, spec.budget_s, {spec.shard_index, spec.shard_count});
  for (const auto& pc : w.plan)
    if (std::find(w.thread_counts.begin(), w.thread_counts.end(), pc.config.problem.threads) == w.thread_counts.end())
      w.thread_counts.push_back(pc.config.problem.threads);

  const size_t llc = LastLevelCacheBytes();
  w.so.cold_cache = spec.cache == "cold";
  w.so.cold_bytes = 2 * (llc ? llc : (32ull << 20));
  w.so.budget_s = spec.budget_s;
  w.so.sample_rows = spec.sample_rows;
  w.so.data_seed = spec.data_seed;
  w.so.baseline = w.baseline;
  w.so.filter = filter;
  return w;
}

std::vector<Cell> InvalidConfigCells(const Sweep& w) {
  std::vector<Cell> out;
  if (w.spec.shard_index != 0) return out;
  for (const InvalidConfig& ic : w.invalid)
    for (const LoadedBackend* b : w.backends) {
      Cell c;
      c.section = ic.sections;
      c.backend = b->name;
      c.name = BenchmarkName(b->name, ic.config);
      c.config = ic.config;
      c.status = "SKIPPED";
      c.reason = "not a valid problem: " + ic.reason;
      out.push_back(std::move(c));
    }
  return out;
}

void AddInvalidConfigRows(const Sweep& w, BenchRun& run) {
  std::set<std::string> present;
  for (const Cell& c : run.cells) present.insert(c.name);
  for (Cell& c : InvalidConfigCells(w))
    if (!present.count(c.name)) run.cells.push_back(std::move(c));
}

void PrintDryRun(const Sweep& w, const DryRunResume* resume, const std::string& peers_line) {
  std::printf("preset %s: %zu configs x %zu backends, budget %gs per cell, %d repetitions, min_time %gs\n",
              w.spec.PresetName().c_str(), w.plan.size(), w.backends.size(), w.spec.budget_s, w.so.timing.repetitions,
              w.so.timing.min_time);
  if (w.spec.shard_count > 1 && !resume) {
    std::printf("shard %d/%d: %zu of the sweep's %zu cells:\n", w.spec.shard_index, w.spec.shard_count, w.cells.size(),
                w.sweep_cells.size());
    for (const auto& c : w.cells) std::printf("  %s\n", c.name.c_str());
  } else if (resume) {
    std::printf("resume %s: %zu of %zu cells finished; to run:\n", resume->out.c_str(), resume->kept, w.cells.size());
    for (const auto& c : resume->todo) std::printf("  %s\n", c.name.c_str());
  } else {
    for (const auto& pc : w.plan)
      std::printf("  [%s] %s threads=%d\n", pc.sections.c_str(), pc.config.Describe().c_str(), pc.config.problem.threads);
    for (const auto& ic : w.invalid)
      std::printf("  [%s] %s threads=%d SKIPPED: not a valid problem: %s\n", ic.sections.c_str(),
                  ic.config.Describe().c_str(), ic.config.problem.threads, ic.reason.c_str());
  }
  if (!peers_line.empty()) std::printf("peers: %s\n", peers_line.c_str());
}

}  // namespace attnbench::bench
