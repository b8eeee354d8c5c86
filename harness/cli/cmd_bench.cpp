// attnbench bench: validate, then time, every backend on every config of a sweep (a preset
// and/or grid flags), and write env.json, bench.json, summary.csv and report.md into --out.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <filesystem>
#include <iostream>

#include "../bench/atomic_file.h"
#include "../bench/env_info.h"
#include "../bench/locate.h"
#include "../bench/report.h"
#include "../bench/sgemm_ceiling.h"
#include "../bench/sweep.h"
#include "../sysinfo.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace fs = std::filesystem;
using namespace attnbench::bench;

namespace {

struct BenchOptions {
  PluginFlags plugins;
  std::string backends;
  std::string preset;
  GridSpec grid = BenchDefaults();  // only the flags the user gave are used
  std::string threads = "all";
  double budget = 30;
  std::string baseline;
  std::string out;
  int sample_rows = 32;
  uint64_t data_seed = 1;
  std::string cache = "cold";
  int sgemm_size = 2048;
  bool dry_run = false;
  bool list_presets = false;
  bool quiet = false;
};

// The grid flags of validate, but every one optional (it overrides that key in every section of
// the preset) and --threads a list ("1,all").
void AddBenchGridFlags(CLI::App* app, BenchOptions& o) {
  auto* g = "Problem (override that key in every preset section; comma lists make a grid)";
  GridSpec& s = o.grid;
  app->add_option("--variant", s.variants, "simplified, self, causal, mha")->group(g);
  app->add_option("--batch", s.batch, "Batch sizes B")->group(g);
  app->add_option("--seq-len", s.seq_len, "Sequence lengths T")->group(g);
  app->add_option("--heads", s.heads, "Head counts H (must divide d-out)")->group(g);
  app->add_option("--d-in", s.d_in, "Input widths")->group(g);
  app->add_option("--d-out", s.d_out, "Output widths (simplified: always d-in)")->group(g);
  app->add_flag_callback("--causal", [&s] { s.causal = "on"; }, "Force the causal mask on")->group(g);
  app->add_flag_callback("--no-causal", [&s] { s.causal = "off"; }, "Force the causal mask off")->group(g);
  app->add_option("--dropout", s.dropout, "Dropout probabilities in [0, 1)")->group(g);
  app->add_option("--seed", s.seed, "Dropout seed")->group(g);
  app->add_option("--qkv-bias", s.qkv_bias, "0 and/or 1")->group(g);
  app->add_option("--threads", o.threads, "Thread counts, e.g. 1,all (all = every core)")->group(g);
}

// Copies the grid flags the user gave into every section.
void ApplyOverrides(const CLI::App& sub, const BenchOptions& o, std::vector<Section>& sections) {
  const GridSpec& g = o.grid;
  for (Section& s : sections) {
    if (sub.count("--variant")) s.grid.variants = g.variants;
    if (sub.count("--batch")) s.grid.batch = g.batch;
    if (sub.count("--seq-len")) s.grid.seq_len = g.seq_len;
    if (sub.count("--heads")) s.grid.heads = g.heads;
    if (sub.count("--d-in")) s.grid.d_in = g.d_in;
    if (sub.count("--d-out")) s.grid.d_out = g.d_out;
    if (sub.count("--causal") || sub.count("--no-causal")) s.grid.causal = g.causal;
    if (sub.count("--dropout")) s.grid.dropout = g.dropout;
    if (sub.count("--seed")) s.grid.seed = g.seed;
    if (sub.count("--qkv-bias")) s.grid.qkv_bias = g.qkv_bias;
    if (sub.count("--threads")) s.threads = o.threads;
  }
}

bool AnyGridFlag(const CLI::App& sub) {
  for (const char* f : {"--variant", "--batch", "--seq-len", "--heads", "--d-in", "--d-out", "--causal", "--no-causal",
                        "--dropout", "--seed", "--qkv-bias", "--threads"})
    if (sub.count(f)) return true;
  return false;
}

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

void WriteAll(const std::string& dir, const BenchRun& run) {
  for (const auto& f : ReporterFormats()) {
    const auto r = MakeReporter(f);
    WriteFileAtomic((fs::path(dir) / r->FileName()).string(), r->Render(run));
  }
}

int RunBench(BenchOptions& o, const CLI::App& sub) {
  const auto preset_dirs = PresetDirs();
  if (o.list_presets) {
    for (const auto& p : KnownPresets(preset_dirs)) std::printf("%s\n", p.c_str());
    return kExitOk;
  }
  // Everything the user typed is checked before anything runs.
  std::vector<Section> sections;
  std::string preset_name = o.preset;
  if (!o.preset.empty()) {
    sections = LoadPreset(o.preset, preset_dirs);
  } else if (AnyGridFlag(sub)) {
    preset_name = "(command line)";
    sections = {Section{"custom", BenchDefaults(), "all"}};
  } else {
    preset_name = "default";
    sections = LoadPreset("default", preset_dirs);
  }
  ApplyOverrides(sub, o, sections);
  const int cores = CpuCount();
  const auto plan = PlanConfigs(sections, cores);
  for (const auto& pc : plan) CheckMemory(pc.config);
  if (!(o.budget > 0)) throw InputError("--budget must be > 0 seconds");
  if (o.sample_rows < 0) throw InputError("--sample-rows must be >= 0 (0 = every row)");
  if (o.cache != "cold" && o.cache != "warm") throw InputError("--cache must be cold or warm, got '" + o.cache + "'");
  if (o.sgemm_size < 16 || o.sgemm_size > 16384) throw InputError("--sgemm-size must be in [16, 16384]");
  std::string filter;
  SweepOptions so;
  so.timing = InitGoogleBenchmark(sub.remaining(), &filter);
  try {
    if (!filter.empty()) std::regex(filter, std::regex::extended);
  } catch (const std::regex_error&) {
    throw InputError("--benchmark_filter: invalid regular expression '" + filter + "'");
  }

  PluginRegistry reg;
  LoadPlugins(o.plugins, reg);
  const auto backends = SelectBackends(reg, o.backends);
  std::string baseline = o.baseline;
  if (!baseline.empty() && baseline != "none") {
    bool found = false;
    for (const auto* b : backends) found |= b->name == baseline;
    if (!found) throw InputError("--baseline: backend '" + baseline + "' is not among the selected backends");
  } else if (baseline.empty()) {
    for (const auto* b : backends)
      if (b->name == "blas") baseline = "blas";
  } else {
    baseline.clear();
  }

  if (o.dry_run) {
    std::printf("preset %s: %zu configs x %zu backends, budget %gs per cell, %d repetitions, min_time %gs\n",
                preset_name.c_str(), plan.size(), backends.size(), o.budget, so.timing.repetitions, so.timing.min_time);
    for (const auto& pc : plan) std::printf("  [%s] %s threads=%d\n", pc.sections.c_str(), pc.config.Describe().c_str(), pc.config.problem.threads);
    return kExitOk;
  }

  const std::string out = o.out.empty() ? "results/" + LocalDate() + "-" + HostName() : o.out;
  {
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec || !fs::is_directory(out) || access(out.c_str(), W_OK) != 0)
      throw InputError("--out: cannot create or write directory '" + out + "'");
  }
  InstallInterruptCleanup();

  BenchRun run;
  run.env = CollectEnv(backends);
  const size_t llc = LastLevelCacheBytes();
  so.cold_cache = o.cache == "cold";
  so.cold_bytes = 2 * (llc ? llc : (32ull << 20));
  so.budget_s = o.budget;
  so.sample_rows = o.sample_rows;
  so.data_seed = o.data_seed;
  so.baseline = baseline;
  so.filter = filter;
  so.progress = !o.quiet;
  run.env["timing"] = {
      {"description", "Google Benchmark 1.7.1, real time, " + std::to_string(so.timing.repetitions) +
                          " repetitions of >= " + [&] { char b[32]; std::snprintf(b, sizeof b, "%g", so.timing.min_time); return std::string(b); }() +
                          " s each; median, stddev and cv over the repetitions"},
      {"repetitions", so.timing.repetitions},
      {"min_time_s", so.timing.min_time},
      {"cache", so.cold_cache ? "cold: each iteration uses the next of N copies of input, weights, backend state and "
                                "output, N chosen so the copies span >= 2x the last-level cache (" +
                                    std::to_string(so.cold_bytes >> 20) + " MiB)"
                              : "warm: one copy, reused every iteration"},
      {"budget_s", so.budget_s},
      {"sample_rows", so.sample_rows},
      {"data_seed", so.data_seed},
      {"baseline", baseline},
      {"filter", filter}};
  run.env["preset"] = preset_name;
  std::vector<int> thread_counts;
  for (const auto& pc : plan)
    if (std::find(thread_counts.begin(), thread_counts.end(), pc.config.problem.threads) == thread_counts.end())
      thread_counts.push_back(pc.config.problem.threads);
  run.env["threads_swept"] = thread_counts;

  const BlasInfo blas = GetBlasInfo();
  if (!o.quiet) {
    std::fprintf(stderr, "attnbench bench: preset %s, %zu configs x %zu backends, budget %gs/cell, BLAS %s %s kernel %s%s\n",
                 preset_name.c_str(), plan.size(), backends.size(), o.budget, blas.library.c_str(), blas.version.c_str(),
                 blas.kernel.c_str(), blas.coretype_env.empty() ? "" : (" (OPENBLAS_CORETYPE=" + blas.coretype_env + ")").c_str());
    if (auto w = BlasKernelWarning(blas); !w.empty()) std::fprintf(stderr, "%s\n", w.c_str());
  }
  for (int t : thread_counts) {
    const SgemmRate r = MeasureSgemm(t, o.sgemm_size);
    run.sgemm_gflops[t] = r.gflops;
    if (!o.quiet)
      std::fprintf(stderr, "SGEMM ceiling: %d^3 on %d thread(s): %.1f GFLOP/s (median %.1f)\n", r.n, t, r.gflops,
                   r.median_gflops);
  }
  run.env["sgemm"] = {{"n", o.sgemm_size}, {"statistic", "best of 5 after a warm-up"}};
  so.checkpoint = [&out](const BenchRun& r) { WriteAll(out, r); };
  WriteAll(out, run);
  RunSweep(plan, backends, so, run);
  WriteAll(out, run);

  std::map<std::string, int> counts;
  for (const auto& c : run.cells) ++counts[c.status];
  std::printf("attnbench bench:");
  for (const auto& [s, n] : counts) std::printf(" %d %s", n, s.c_str());
  std::printf("\nresults: %s (report.md, summary.csv, bench.json, env.json)\n", out.c_str());
  return counts["FAIL"] || counts["ERROR"] ? kExitFailed : kExitOk;
}

}  // namespace

void AddBenchCommand(CLI::App& app, int& rc) {
  static BenchOptions o;
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Validate, then time (Google Benchmark) every backend on every config of a sweep; write env.json, "
      "bench.json (Google Benchmark JSON), summary.csv and report.md. Exit 1 if a backend FAILs validation.");
  AddPluginFlags(sub, o.plugins);
  sub->add_option("--backends", o.backends, "Comma list of backends (default: every loaded one)");
  sub->add_option("--preset", o.preset,
                  "A preset NAME (presets/NAME.preset) or FILE; default: 'default', or one 'custom' section when "
                  "only grid flags are given");
  sub->add_flag("--list-presets", o.list_presets, "Print the known preset names and exit");
  AddBenchGridFlags(sub, o);
  sub->add_option("--budget", o.budget,
                  "Seconds per cell: a backend predicted (from its rate on smaller configs, FLOP model) or measured "
                  "to need more is SKIPPED")
      ->capture_default_str();
  sub->add_option("--baseline", o.baseline, "Backend the speedups are relative to (default: blas when loaded; none)");
  sub->add_option("--out", o.out, "Output directory (default: results/<date>-<host>)");
  sub->add_option("--sample-rows", o.sample_rows, "Query rows the reference checks per config (0 = all)")
      ->capture_default_str();
  sub->add_option("--data-seed", o.data_seed, "Seed of the random inputs and weights")->capture_default_str();
  sub->add_option("--cache", o.cache, "cold: cycle through copies spanning 2x the LLC; warm: reuse one copy")
      ->capture_default_str();
  sub->add_option("--sgemm-size", o.sgemm_size, "n of the n x n SGEMM that measures the ceiling")->capture_default_str();
  sub->add_flag("--dry-run", o.dry_run, "Print the planned configs and exit");
  sub->add_flag("--quiet,-q", o.quiet, "No progress on stderr");
  sub->allow_extras();
  sub->footer(
      "Google Benchmark flags pass through as --benchmark_NAME=VALUE, e.g. --benchmark_repetitions=5 (default 5), "
      "--benchmark_min_time=0.1 (default, seconds), --benchmark_filter=REGEX (on names like "
      "blas/mha/B:1/T:1024/din:768/dout:768/H:12/threads:2).");
  sub->callback([&rc, sub] { rc = RunBench(o, *sub); });
}

}  // namespace attnbench::cli
