// attnbench bench: validate, then time, every backend on every config of a sweep (a preset
// and/or grid flags), and write env.json, bench.json, summary.csv and report.md into --out.
//
// Reliability (docs/benchmarking.md, "Reliability"):
// - --out DIR/sweep.json records the sweep (the sweep flags, the preset text, the cell names)
//   when a run starts; everything else is rewritten atomically after every cell.
// - --isolate: the cells run in a worker process (this executable as `bench --worker --resume
//   DIR --start K --cells RANGES`, which re-derives the sweep from DIR/sweep.json and prints one
//   JSON line per cell: the summary.csv row and its Google Benchmark JSON entries); a crash or
//   hang is a CRASHED / TIMEOUT row (isolate.h) and the sweep goes on.
// - SIGINT / SIGTERM: the cell in progress is abandoned, the finished ones are written, exit
//   128 + signal; a second signal aborts at once (still no partial file).
// - --resume DIR: re-derives the sweep from DIR/sweep.json, keeps every finished row of
//   DIR/summary.csv (all but ERROR) and runs the rest into the same files.
#include <benchmark/benchmark.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "../bench/atomic_file.h"
#include "../bench/preset.h"
#include "../bench/env_info.h"
#include "../bench/locate.h"
#include "../bench/peers.h"
#include "../bench/report.h"
#include "../bench/sgemm_ceiling.h"
#include "../bench/sweep.h"
#include "../isolate.h"
#include "../problem_keys.h"
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
  bool isolate = false;
  double timeout = 300;
  std::string peers = "none";  // --peers: none, auto or a list (peers.h)
  std::string peers_python;    // --peers-python
  std::string resume;  // --resume DIR
  bool worker = false;  // hidden: the child of --isolate
  size_t start = 0;     // hidden
  std::string cells;    // hidden: the worker's cells, "0-5,7" (indices into the sweep's cell list)
};

// The flags that define a sweep: recorded in sweep.json, refused with --resume when they differ.
// (--preset is recorded as its text; --benchmark_* flags are recorded as given.)
const std::vector<std::string>& SweepFlags() {
  static const std::vector<std::string> f = [] {
    std::vector<std::string> v = {"--plugin", "--no-default-plugins", "--backends"};
    for (const auto& g : GridFlagNames()) v.push_back(g);
    v.insert(v.end(), {"--budget", "--baseline", "--sample-rows", "--data-seed", "--cache", "--sgemm-size", "--peers"});
    return v;
  }();
  return f;
}

// The grid flags of validate, but every one optional (it overrides that key in every section of
// the preset) and --threads a list ("1,all").
void AddBenchGridFlags(CLI::App* app, BenchOptions& o) {
  AddProblemKeyFlags(app, o.grid, {"Problem (override that key in every preset section; comma lists make a grid)",
                                   &o.threads});
}

// Copies the grid flags the user gave into every section.
void ApplyOverrides(const CLI::App& sub, const BenchOptions& o, std::vector<Section>& sections) {
  for (const ProblemKey& k : ProblemKeys()) {
    bool given = false;
    for (const auto& f : FlagsOf(k)) given |= sub.count(f) > 0;
    if (!given) continue;
    for (Section& s : sections) {
      if (k.form == KeyForm::kThreads)
        s.threads = o.threads;
      else
        SetKeyText(k, s.grid, KeyText(k, o.grid));
    }
  }
}

bool AnyGridFlag(const CLI::App& sub) {
  for (const auto& f : GridFlagNames())
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

std::string Join(const std::vector<std::string>& v, const char* sep = " ") {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : sep) + x;
  return out;
}

// The values an option was given with, as sweep.json records them (plugin paths made absolute,
// so that a resume from another directory loads the same files).
std::vector<std::string> OptionValues(const CLI::App& sub, const std::string& flag) {
  const CLI::Option* opt = sub.get_option(flag);
  if (opt->get_expected_min() == 0) return std::vector<std::string>(opt->count(), "");  // a flag
  std::vector<std::string> v = opt->results();
  if (flag == "--plugin")
    for (auto& x : v) x = fs::absolute(x).lexically_normal().string();
  return v;
}

// The sweep flags the user gave, as a command line.
std::vector<std::string> SweepArgs(const CLI::App& sub) {
  std::vector<std::string> args;
  for (const auto& flag : SweepFlags()) {
    if (!sub.count(flag)) continue;
    if (sub.get_option(flag)->get_expected_min() == 0) {
      args.push_back(flag);
      continue;
    }
    for (const auto& v : OptionValues(sub, flag)) args.insert(args.end(), {flag, v});
  }
  for (const auto& e : sub.remaining()) args.push_back(e);
  return args;
}

void ConfigureBench(CLI::App* sub, BenchOptions& o);

// A sweep re-derived from a command line (a fresh run) or from DIR/sweep.json (--resume, worker).
struct Sweep {
  std::string preset_name;
  nlohmann::json preset = nullptr;  // {"name", "file", "text"} or null (grid flags only)
  std::vector<PlannedConfig> plan;
  std::unique_ptr<PluginRegistry> reg = std::make_unique<PluginRegistry>();
  std::vector<const LoadedBackend*> backends;
  std::vector<CellRef> cells;  // every cell, in order
  std::string baseline;
  SweepOptions so;
  nlohmann::json record;  // sweep.json
};

// Everything the user typed is checked before anything runs. recorded: sweep.json of a resumed
// run (its preset text is used instead of the file).
Sweep DeriveSweep(BenchOptions& o, const CLI::App& sub, const nlohmann::json* recorded) {
  Sweep w;
  const auto preset_dirs = PresetDirs();
  std::vector<Section> sections;
  if (recorded) {
    w.preset = recorded->value("preset", nlohmann::json());
    if (w.preset.is_object()) {
      w.preset_name = w.preset.value("name", "?");
      sections = ParsePreset(w.preset.value("text", ""), "preset '" + w.preset_name + "' recorded in sweep.json");
    } else {
      w.preset_name = "(command line)";
      sections = {Section{"custom", BenchDefaults(), "all"}};
    }
  } else if (!o.preset.empty() || !AnyGridFlag(sub)) {
    const std::string name = o.preset.empty() ? "default" : o.preset;
    const std::string file = ResolvePresetFile(name, preset_dirs);
    const std::string text = ReadWholeFile(file);
    w.preset_name = name;
    w.preset = {{"name", name}, {"file", fs::absolute(file).lexically_normal().string()}, {"text", text}};
    sections = ParsePreset(text, file);
  } else {
    w.preset_name = "(command line)";
    sections = {Section{"custom", BenchDefaults(), "all"}};
  }
  ApplyOverrides(sub, o, sections);
  const int cores = CpuCount();
  w.plan = PlanConfigs(sections, cores);
  for (const auto& pc : w.plan) CheckMemory(pc.config);
  if (!(o.budget > 0)) throw InputError("--budget must be > 0 seconds");
  if (o.sample_rows < 0) throw InputError("--sample-rows must be >= 0 (0 = every row)");
  if (o.cache != "cold" && o.cache != "warm") throw InputError("--cache must be cold or warm, got '" + o.cache + "'");
  if (o.sgemm_size < 16 || o.sgemm_size > 16384) throw InputError("--sgemm-size must be in [16, 16384]");
  if (!(o.timeout > 0)) throw InputError("--timeout must be > 0 seconds");
  std::string filter;
  w.so.timing = InitGoogleBenchmark(sub.remaining(), &filter);
  try {
    if (!filter.empty()) std::regex(filter, std::regex::extended);
  } catch (const std::regex_error&) {
    throw InputError("--benchmark_filter: invalid regular expression '" + filter + "'");
  }

  LoadPlugins(o.plugins, *w.reg);
  w.backends = SelectBackends(*w.reg, o.backends);
  w.baseline = o.baseline;
  if (!w.baseline.empty() && w.baseline != "none") {
    bool found = false;
    for (const auto* b : w.backends) found |= b->name == w.baseline;
    if (!found) throw InputError("--baseline: backend '" + w.baseline + "' is not among the selected backends");
  } else if (w.baseline.empty()) {
    for (const auto* b : w.backends)
      if (b->name == "blas") w.baseline = "blas";
  } else {
    w.baseline.clear();
  }
  w.cells = PlanCells(w.plan, w.backends, filter);

  const size_t llc = LastLevelCacheBytes();
  w.so.cold_cache = o.cache == "cold";
  w.so.cold_bytes = 2 * (llc ? llc : (32ull << 20));
  w.so.budget_s = o.budget;
  w.so.sample_rows = o.sample_rows;
  w.so.data_seed = o.data_seed;
  w.so.baseline = w.baseline;
  w.so.filter = filter;

  std::vector<std::string> names;
  for (const auto& c : w.cells) names.push_back(c.name);
  w.record = recorded ? *recorded
                      : nlohmann::json{{"format", "attnbench-sweep-1"},
                                       {"note", "written by `attnbench bench` when the run starts; `attnbench bench "
                                                "--resume DIR` re-derives the sweep from it"},
                                       {"started", UtcTimestamp()},
                                       {"args", SweepArgs(sub)},
                                       {"preset", w.preset},
                                       {"cores", cores},
                                       {"cells", names}};
  return w;
}

// "0-5,7,9-12" <-> sorted indices.
std::string EncodeRanges(const std::vector<size_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(v[i]) + (j > i ? "-" + std::to_string(v[j]) : "");
    i = j + 1;
  }
  return out;
}
std::vector<size_t> DecodeRanges(const std::string& text, size_t limit) {
  std::vector<size_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = 0, b = 0;
    try {
      const auto dash = item.find('-');
      a = std::stoull(item.substr(0, dash));
      b = dash == std::string::npos ? a : std::stoull(item.substr(dash + 1));
    } catch (const std::exception&) {
      throw InputError("--cells: bad range '" + item + "'");
    }
    if (a > b || b >= limit) throw InputError("--cells: range '" + item + "' outside the sweep's cells");
    for (size_t k = a; k <= b; ++k) out.push_back(k);
  }
  return out;
}

nlohmann::json ReadJsonFile(const fs::path& p, const std::string& what) {
  try {
    return nlohmann::json::parse(ReadWholeFile(p));
  } catch (const std::exception& e) {
    throw InputError("--resume: " + p.string() + " is not valid JSON (" + e.what() + "); " + what);
  }
}

// sweep.json of DIR, parsed back into options through the same CLI definitions (holder keeps
// the parsed subcommand alive: ApplyOverrides asks it which flags were given).
CLI::App* ParseRecordedSweep(const nlohmann::json& rec, BenchOptions& o, std::unique_ptr<CLI::App>& holder) {
  holder = std::make_unique<CLI::App>();
  CLI::App* sub = holder->add_subcommand("bench");
  ConfigureBench(sub, o);
  std::vector<std::string> args = {"bench"};
  for (const auto& a : rec.value("args", nlohmann::json::array())) args.push_back(a.get<std::string>());
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector reversed
  try {
    holder->parse(args);
  } catch (const CLI::ParseError& e) {
    throw InputError(std::string("--resume: the flags recorded in sweep.json do not parse: ") + e.what());
  }
  return sub;
}

std::string CellLine(const Cell& c) {
  char buf[256];
  if (c.timed())
    std::snprintf(buf, sizeof buf, "%s %s (cv %.1f%%, %lld reps)", c.status.c_str(), FormatSeconds(c.median_s).c_str(),
                  100 * c.cv, static_cast<long long>(c.repetitions));
  else
    std::snprintf(buf, sizeof buf, "%s: %.200s", c.status.c_str(), c.reason.c_str());
  return buf;
}

// The hidden worker of --isolate: cells[--cells][--start..] of the sweep recorded in DIR.
int RunWorker(BenchOptions& user) {
  // Die with the parent (kill -9 of the parent must not leave a hung plugin running), and leave
  // Ctrl-C to the parent, which kills this process when it stops.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return kExitFailed;
  signal(SIGINT, SIG_IGN);
  const fs::path dir = user.resume;
  const auto rec = ReadJsonFile(dir / "sweep.json", "not a bench output directory");
  BenchOptions o;
  std::unique_ptr<CLI::App> holder;
  CLI::App* sub = ParseRecordedSweep(rec, o, holder);
  Sweep w = DeriveSweep(o, *sub, &rec);
  if (rec.value("cells", nlohmann::json::array()).size() != w.cells.size())
    throw InputError("worker: the sweep re-derived from " + (dir / "sweep.json").string() + " differs from the recorded one");
  std::vector<CellRef> mine;
  for (size_t k : DecodeRanges(user.cells, w.cells.size())) mine.push_back(w.cells[k]);
  BenchRun run;
  run.gbench = {{"context", nullptr}, {"benchmarks", nlohmann::json::array()}};
  // Earlier results seed the budget's predictions, as they would in one process.
  if (fs::exists(dir / "summary.csv")) {
    try {
      run.cells = ParseSummaryCsv(ReadWholeFile(dir / "summary.csv"));
    } catch (const std::exception&) {
    }
  }
  w.so.progress = false;
  w.so.on_begin = [](size_t pos) {
    std::printf("%s\n", nlohmann::json{{"begin", pos}}.dump().c_str());
    std::fflush(stdout);
  };
  w.so.on_cell = [&run](size_t pos, const Cell& c, const nlohmann::json& entries) {
    nlohmann::json j = {{"result", pos}, {"cell", CellToJson(c)}, {"benchmarks", entries}};
    if (!entries.empty()) j["context"] = run.gbench.value("context", nlohmann::json::object());
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  };
  RunSweep(w.plan, mine, w.so, run, user.start);
  return kExitOk;
}

// Refuses (InputError) a resume whose backends or BLAS differ from the recorded run's.
void CheckSameEnvironment(const nlohmann::json& old_env, const Sweep& w, const BlasInfo& blas) {
  if (!old_env.is_object()) return;
  std::vector<std::string> problems;
  std::set<std::string> before, now;
  if (old_env.contains("backends") && old_env["backends"].is_object())
    for (const auto& [name, info] : old_env["backends"].items()) before.insert(name);
  for (const auto* b : w.backends) now.insert(b->name);
  std::vector<std::string> missing, added;
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(), std::back_inserter(missing));
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(), std::back_inserter(added));
  if (!missing.empty()) problems.push_back("backends of the recorded run not loaded now: " + Join(missing, ", "));
  if (!added.empty()) problems.push_back("backends loaded now that the recorded run did not have: " + Join(added, ", "));
  for (const auto* b : w.backends) {
    if (!before.count(b->name)) continue;
    const auto& old = old_env["backends"][b->name];
    const std::string was = old.is_string() ? old.get<std::string>() : old.dump();
    if (was != b->runtime_info)
      problems.push_back("backend " + b->name + ": runtime was '" + was + "', now '" + b->runtime_info + "'");
  }
  if (old_env.contains("blas") && old_env["blas"].is_object()) {
    const std::string lib = old_env["blas"].value("library", ""), kernel = old_env["blas"].value("kernel", "");
    if (lib != blas.library || kernel != blas.kernel)
      problems.push_back("BLAS was " + lib + " kernel " + kernel + ", now " + blas.library + " kernel " + blas.kernel);
  }
  if (!problems.empty())
    throw InputError("--resume: the environment differs from the recorded run in ways that change the numbers: " +
                     Join(problems, "; ") + ". Start a new run with --out instead.");
}

int RunBench(BenchOptions& user, const CLI::App& user_sub) {
  if (user.list_presets) {
    for (const auto& p : KnownPresets(PresetDirs())) std::printf("%s\n", p.c_str());
    return kExitOk;
  }
  if (user.worker) return RunWorker(user);

  const bool resuming = !user.resume.empty();
  BenchOptions recorded_opts;
  std::unique_ptr<CLI::App> holder;
  nlohmann::json rec, old_env, old_gbench;
  std::vector<Cell> old_cells;
  std::string out;
  Sweep w;
  if (resuming) {
    out = user.resume;
    const fs::path dir = out;
    if (user_sub.count("--out") && fs::weakly_canonical(user.out) != fs::weakly_canonical(dir))
      throw InputError("--resume " + out + " writes into " + out + "; --out " + user.out + " conflicts with it");
    if (!fs::is_regular_file(dir / "sweep.json"))
      throw InputError("--resume: no resumable run in '" + out + "' (no sweep.json: not a bench output directory, "
                       "or written by a version without --resume)");
    if (access(out.c_str(), W_OK) != 0) throw InputError("--resume: cannot write into '" + out + "'");
    rec = ReadJsonFile(dir / "sweep.json", "cannot resume");
    if (rec.value("format", "") != "attnbench-sweep-1" || !rec.contains("args") || !rec.contains("cells"))
      throw InputError("--resume: " + (dir / "sweep.json").string() + " is not an attnbench sweep record");
    CLI::App* sub = ParseRecordedSweep(rec, recorded_opts, holder);
    // Sweep flags given again must agree with the recorded ones.
    std::vector<std::string> conflicts;
    for (const auto& flag : SweepFlags()) {
      if (!user_sub.count(flag)) continue;
      if (!sub->count(flag) || OptionValues(user_sub, flag) != OptionValues(*sub, flag))
        conflicts.push_back(flag + " " + Join(OptionValues(user_sub, flag), ",") + " (recorded: " +
                            (sub->count(flag) ? Join(OptionValues(*sub, flag), ",") : "not given") + ")");
    }
    if (user_sub.count("--preset")) {
      const auto& p = rec.value("preset", nlohmann::json());
      if (!p.is_object() || p.value("name", "") != user.preset)
        conflicts.push_back("--preset " + user.preset + " (recorded: " + (p.is_object() ? p.value("name", "?") : "none") + ")");
    }
    for (const auto& e : user_sub.remaining()) {
      const auto& r = sub->remaining();
      if (std::find(r.begin(), r.end(), e) == r.end()) conflicts.push_back(e + " (recorded: " + Join(r) + ")");
    }
    if (!conflicts.empty())
      throw InputError("--resume " + out + " continues the sweep recorded in its sweep.json; these flags conflict "
                       "with it: " + Join(conflicts, "; ") + ". Drop them, or start a new run with --out.");
    try {
      w = DeriveSweep(recorded_opts, *sub, &rec);
    } catch (const InputError& e) {
      throw InputError(std::string("--resume ") + out + ": cannot re-derive the recorded sweep: " + e.what());
    }
    std::vector<std::string> names;
    for (const auto& c : w.cells) names.push_back(c.name);
    const auto recorded_names = rec["cells"].get<std::vector<std::string>>();
    if (names != recorded_names) {
      size_t k = 0;
      while (k < names.size() && k < recorded_names.size() && names[k] == recorded_names[k]) ++k;
      throw InputError("--resume " + out + ": the sweep re-derived here (" + std::to_string(names.size()) +
                       " cells) differs from the recorded one (" + std::to_string(recorded_names.size()) +
                       " cells), first at cell " + std::to_string(k) + ": recorded '" +
                       (k < recorded_names.size() ? recorded_names[k] : "(none)") + "', now '" +
                       (k < names.size() ? names[k] : "(none)") + "' (cores recorded " +
                       std::to_string(rec.value("cores", 0)) + ", now " + std::to_string(CpuCount()) + ")");
    }
    if (fs::exists(dir / "env.json")) old_env = ReadJsonFile(dir / "env.json", "cannot resume");
    if (fs::exists(dir / "bench.json")) old_gbench = ReadJsonFile(dir / "bench.json", "cannot resume");
    if (fs::exists(dir / "summary.csv")) {
      try {
        old_cells = ParseSummaryCsv(ReadWholeFile(dir / "summary.csv"));
      } catch (const std::exception& e) {
        throw InputError(std::string("--resume: ") + e.what());
      }
    }
    CheckSameEnvironment(old_env, w, GetBlasInfo());
  } else {
    w = DeriveSweep(user, user_sub, nullptr);
    out = user.out.empty() ? "results/" + LocalDate() + "-" + HostName() : user.out;
  }
  BenchOptions& o = resuming ? recorded_opts : user;
  // Peers are probed now: a requested one that is missing is an error before anything is timed.
  const PeerSetup peers = ResolvePeers(o.peers, user.peers_python);

  // The finished cells kept from the earlier run (in sweep order), and what is left to run.
  std::map<std::string, size_t> position;
  for (size_t k = 0; k < w.cells.size(); ++k) position[w.cells[k].name] = k;
  BenchRun run;
  run.gbench = {{"context", nullptr}, {"benchmarks", nlohmann::json::array()}};
  std::set<std::string> kept;
  for (const Cell& c : old_cells)
    if (c.finished() && position.count(c.name) && kept.insert(c.name).second) run.cells.push_back(c);
  std::vector<CellRef> todo;
  for (const auto& c : w.cells)
    if (!kept.count(c.name)) todo.push_back(c);

  if (user.dry_run) {
    std::printf("preset %s: %zu configs x %zu backends, budget %gs per cell, %d repetitions, min_time %gs\n",
                w.preset_name.c_str(), w.plan.size(), w.backends.size(), o.budget, w.so.timing.repetitions,
                w.so.timing.min_time);
    if (resuming) {
      std::printf("resume %s: %zu of %zu cells finished; to run:\n", out.c_str(), kept.size(), w.cells.size());
      for (const auto& c : todo) std::printf("  %s\n", c.name.c_str());
    } else {
      for (const auto& pc : w.plan)
        std::printf("  [%s] %s threads=%d\n", pc.sections.c_str(), pc.config.Describe().c_str(), pc.config.problem.threads);
    }
    if (o.peers != "none") std::printf("peers: %s\n", peers.Describe().c_str());
    return kExitOk;
  }

  {
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec || !fs::is_directory(out) || access(out.c_str(), W_OK) != 0)
      throw InputError("--out: cannot create or write directory '" + out + "'");
  }
  InstallGracefulInterrupt();
  RemoveStaleTempFiles(out);
  auto stop = [] { return InterruptSignal() != 0; };

  SweepOptions& so = w.so;
  so.progress = !user.quiet;
  std::vector<int> thread_counts;
  for (const auto& pc : w.plan)
    if (std::find(thread_counts.begin(), thread_counts.end(), pc.config.problem.threads) == thread_counts.end())
      thread_counts.push_back(pc.config.problem.threads);
  const BlasInfo blas = GetBlasInfo();
  nlohmann::json resume_entry;
  if (resuming && old_env.is_object()) {
    run.env = old_env;
    run.env.erase("sgemm_gflops");
    if (old_env.contains("sgemm_gflops") && old_env["sgemm_gflops"].is_object())
      for (const auto& [t, g] : old_env["sgemm_gflops"].items())
        if (g.is_number()) run.sgemm_gflops[std::stoi(t)] = g.get<double>();
    // Keep the Google Benchmark entries of the kept cells only (a killed run may have written
    // bench.json after a cell it then lost from summary.csv).
    if (old_gbench.is_object()) run.gbench = old_gbench;
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : run.gbench.value("benchmarks", nlohmann::json::array())) {
      std::string rn = e.value("run_name", e.value("name", ""));
      if (rn.ends_with("/real_time")) rn.resize(rn.size() - std::string("/real_time").size());
      if (kept.count(rn)) entries.push_back(e);
    }
    run.gbench["benchmarks"] = entries;
  } else {
    run.env = CollectEnv(w.backends);
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
        {"baseline", w.baseline},
        {"filter", so.filter}};
    run.env["preset"] = w.preset_name;
    run.env["threads_swept"] = thread_counts;
    run.env["sgemm"] = {{"n", o.sgemm_size},
                        {"statistic", "best of 5 after a warm-up, per library; the ceiling is the fastest library"},
                        {"unavailable", [] { std::vector<std::string> u; SgemmLibraries(&u); return u; }()}};
    run.env["isolation"] = {{"enabled", user.isolate}, {"timeout_s", user.timeout}};
    run.env["sweep_record"] = "sweep.json";
  }
  if (resuming) {
    const nlohmann::json now_env = CollectEnv(w.backends);
    resume_entry = {{"date", UtcTimestamp()},
                    {"git", now_env["git"]},
                    {"cells_kept", kept.size()},
                    {"cells_to_run", todo.size()},
                    {"isolation", {{"enabled", user.isolate}, {"timeout_s", user.timeout}}}};
    if (!run.env.contains("resumes")) run.env["resumes"] = nlohmann::json::array();
  }

  run.env["peers"] = peers.ToJson();
  run.env["peers"]["requested"] = o.peers;

  auto save = [&] {
    ComputeDerived(run, w.baseline);
    std::stable_sort(run.cells.begin(), run.cells.end(), [&](const Cell& a, const Cell& b) {
      return position[a.name] < position[b.name];
    });
    WriteAll(out, run);
  };
  // Whole files from the start: a run killed before its first cell is still resumable.
  if (!resuming) {
    save();
    WriteFileAtomic((fs::path(out) / "sweep.json").string(), w.record.dump(2) + "\n");
  }

  if (!user.quiet) {
    std::fprintf(stderr, "attnbench bench: preset %s, %zu configs x %zu backends, budget %gs/cell, BLAS %s %s kernel %s%s%s\n",
                 w.preset_name.c_str(), w.plan.size(), w.backends.size(), o.budget, blas.library.c_str(), blas.version.c_str(),
                 blas.kernel.c_str(), blas.coretype_env.empty() ? "" : (" (OPENBLAS_CORETYPE=" + blas.coretype_env + ")").c_str(),
                 user.isolate ? ", isolated" : "");
    if (auto warn = BlasKernelWarning(blas); !warn.empty()) std::fprintf(stderr, "%s\n", warn.c_str());
    if (o.peers != "none") std::fprintf(stderr, "peers (after the backends): %s\n", peers.Describe().c_str());
    if (resuming)
      std::fprintf(stderr, "resuming %s: %zu of %zu cells finished earlier, %zu to run\n", out.c_str(), kept.size(),
                   w.cells.size(), todo.size());
  }
  nlohmann::json sgemm_now = nlohmann::json::object();
  for (int t : thread_counts) {
    if (stop() || (resuming && todo.empty())) break;
    // Every SGEMM library available (OpenBLAS, oneMKL), the fastest is the ceiling; env.json's
    // "sgemm" keeps who measured it and every library's rate (the first run's, on --resume).
    const SgemmCeiling ceiling = MeasureSgemmCeiling(t, o.sgemm_size);
    const SgemmRate& r = ceiling.best;
    const std::string ts = std::to_string(t);
    sgemm_now[ts] = r.gflops;
    if (!run.sgemm_gflops.count(t)) {
      run.sgemm_gflops[t] = r.gflops;
      run.env["sgemm"]["library"][ts] = r.library;
      for (const auto& l : ceiling.libraries)
        run.env["sgemm"]["by_library"][ts][l.library] =
            l.error.empty() ? nlohmann::json{{"gflops", l.gflops}, {"median_gflops", l.median_gflops}}
                            : nlohmann::json{{"error", l.error}};
    }
    if (!user.quiet)
      for (const auto& l : ceiling.libraries) {
        if (!l.error.empty()) {
          std::fprintf(stderr, "SGEMM %d^3 on %d thread(s), %s: %s\n", l.n, t, l.library.c_str(), l.error.c_str());
          continue;
        }
        const bool best = l.library == r.library;
        std::fprintf(stderr, "SGEMM %d^3 on %d thread(s), %s: %.1f GFLOP/s (median %.1f)%s%s\n", l.n, t,
                     l.library.c_str(), l.gflops, l.median_gflops, best ? " <- the ceiling" : "",
                     best && resuming ? " (re-measured; % SGEMM keeps the first run's ceiling)" : "");
      }
  }
  if (resuming) {
    resume_entry["sgemm_gflops"] = sgemm_now;
    run.env["resumes"].push_back(resume_entry);
  }
  save();

  size_t ran = 0;
  auto on_cell = [&](const Cell&) {
    ++ran;
    save();
  };
  if (!stop() && !todo.empty()) {
    if (user.isolate) {
      std::vector<size_t> indices;
      for (const auto& c : todo) indices.push_back(position[c.name]);
      const std::string ranges = EncodeRanges(indices);
      const std::string self = SelfExe();
      RunIsolated(
          todo.size(), user.timeout,
          [&](size_t start) {
            return std::vector<std::string>{self, "bench", "--worker", "--resume", out, "--start",
                                            std::to_string(start), "--cells", ranges};
          },
          [&](const WorkerEvent& e) {
            Cell c;
            const CellRef& ref = todo[e.cell];
            if (e.kind == "result") {
              c = CellFromJson(e.result.value("cell", nlohmann::json::object()));
              if (e.result.contains("context") && run.gbench.value("context", nlohmann::json()).is_null())
                run.gbench["context"] = e.result["context"];
              if (!run.gbench.contains("benchmarks")) run.gbench["benchmarks"] = nlohmann::json::array();
              for (const auto& j : e.result.value("benchmarks", nlohmann::json::array()))
                run.gbench["benchmarks"].push_back(j);
            } else {
              c.status = e.kind == "timeout" ? "TIMEOUT" : "CRASHED";
              c.reason = e.reason + " (during validation or timing, in an isolated worker)";
            }
            c.section = w.plan[ref.config].sections;
            c.backend = ref.backend->name;
            c.name = ref.name;
            c.config = w.plan[ref.config].config;
            if (!user.quiet)
              std::fprintf(stderr, "[%zu/%zu] %-12s %s: %s\n", kept.size() + e.cell + 1, w.cells.size(),
                           c.backend.c_str(), c.config.Describe().c_str(), CellLine(c).c_str());
            run.cells.push_back(c);
            on_cell(run.cells.back());
          },
          stop);
    } else {
      so.progress_offset = kept.size();
      so.progress_total = w.cells.size() - kept.size();
      so.stop = stop;
      so.on_cell = [&](size_t, const Cell& c, const nlohmann::json&) { on_cell(c); };
      RunSweep(w.plan, todo, so, run);
    }
  }
  save();

  // The peers, out of process, on every config of the plan; their rows sort after the backends
  // of their config. A resumed run runs them again (they are not kept: see docs/peers.md).
  if (!stop() && !peers.empty()) {
    std::map<size_t, size_t> last_of_config;
    for (size_t k = 0; k < w.cells.size(); ++k) last_of_config[w.cells[k].config] = k;
    std::map<std::string, size_t> peer_position;
    for (size_t ci = 0; ci < w.plan.size(); ++ci)
      for (const auto& n : peers.present)
        peer_position[BenchmarkName(PeerBackendName(n), w.plan[ci].config)] =
            last_of_config.count(ci) ? last_of_config[ci] : w.cells.size();
    std::string error;
    std::vector<Cell> rows = RunPeers(peers, w.plan, out, so, user.quiet, &error);
    if (!error.empty() && !stop()) std::fprintf(stderr, "attnbench bench: peers: %s\n", error.c_str());
    for (Cell& c : rows) {
      auto it = peer_position.find(c.name);
      if (it == peer_position.end()) continue;  // not a cell of this sweep: ignore
      position[c.name] = it->second;
      run.cells.push_back(std::move(c));
    }
    if (!error.empty()) run.env["peers"]["error"] = error;
    save();
  }

  if (const int sig = InterruptSignal()) {
    std::fprintf(stderr,
                 "attnbench bench: interrupted (%s) after %zu of %zu cells; results so far in %s; continue with "
                 "`attnbench bench --resume %s`\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", run.cells.size(), w.cells.size(), out.c_str(), out.c_str());
    return 128 + sig;
  }
  std::map<std::string, int> counts;
  for (const auto& c : run.cells) ++counts[c.status];
  std::printf("attnbench bench:");
  for (const auto& [st, n] : counts) std::printf(" %d %s", n, st.c_str());
  std::printf("\n");
  if (resuming) std::printf("resumed: %zu cells kept from the earlier run, %zu run now\n", kept.size(), ran);
  std::printf("results: %s (report.md, summary.csv, bench.json, env.json)\n", out.c_str());
  const bool peers_broke = run.env["peers"].contains("error");
  if (peers_broke) std::printf("peers: %s\n", run.env["peers"]["error"].get<std::string>().c_str());
  return counts["FAIL"] || counts["ERROR"] || counts["CRASHED"] || counts["TIMEOUT"] || peers_broke ? kExitFailed
                                                                                                   : kExitOk;
}

void ConfigureBench(CLI::App* sub, BenchOptions& o) {
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
  const char* pg = "Peers (other frameworks, out of process; docs/peers.md)";
  sub->add_option("--peers", o.peers,
                  "none; auto (every peer installed in the peers venv; the absent ones are listed in the report); "
                  "or a list of onnxruntime, onnxruntime-attention, openvino, torch, torch-mha (each must be installed). Peers run after "
                  "the backends on the same configs and inputs, are checked against the same float64 reference and "
                  "land in the same summary, report and plots as peer-<name>")
      ->capture_default_str()
      ->group(pg);
  sub->add_option("--peers-python", o.peers_python,
                  "The peers venv's python (default: $ATTNBENCH_PEERS_PYTHON, $PEERS_VENV/bin/python, "
                  "build/peers-venv/bin/python; scripts/setup --with-peers creates it)")
      ->group(pg);
  const char* rel = "Reliability";
  sub->add_flag("--isolate", o.isolate,
                "Run the cells in a worker process: a backend that crashes or hangs is reported CRASHED / TIMEOUT "
                "(with the reason) and the sweep goes on")
      ->group(rel);
  sub->add_option("--timeout", o.timeout, "With --isolate: seconds one cell (validation + timing) may take")
      ->capture_default_str()
      ->group(rel);
  sub->add_option("--resume", o.resume,
                  "Continue the interrupted or killed run in DIR: the sweep comes from DIR/sweep.json (sweep flags "
                  "given again must agree), finished cells are kept, the rest run into the same files")
      ->type_name("DIR")
      ->group(rel);
  sub->add_flag("--dry-run", o.dry_run, "Print the planned configs (with --resume: the cells left) and exit");
  sub->add_flag("--quiet,-q", o.quiet, "No progress on stderr");
  sub->add_flag("--worker", o.worker)->group("");  // internal: the child of --isolate
  sub->add_option("--start", o.start)->group("");
  sub->add_option("--cells", o.cells)->group("");
  sub->allow_extras();
}

}  // namespace

void AddBenchCommand(CLI::App& app, int& rc) {
  static BenchOptions o;
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Validate, then time (Google Benchmark) every backend on every config of a sweep; write env.json, "
      "bench.json (Google Benchmark JSON), summary.csv and report.md (and sweep.json, for --resume). Exit 1 if a "
      "backend FAILs validation (or CRASHes / TIMEs OUT with --isolate), 130 / 143 when interrupted by SIGINT / "
      "SIGTERM.");
  ConfigureBench(sub, o);
  sub->footer(
      "Google Benchmark flags pass through as --benchmark_NAME=VALUE, e.g. --benchmark_repetitions=5 (default 5), "
      "--benchmark_min_time=0.1 (default, seconds), --benchmark_filter=REGEX (on names like "
      "blas/mha/B:1/T:1024/din:768/dout:768/H:12/threads:2).\n\n"
      "Reliability: every file in --out is replaced atomically after each cell, so a killed run (even kill -9) "
      "leaves whole files. Ctrl-C / SIGTERM abandons the cell in progress, writes the finished ones and exits "
      "130 / 143 with a message (a second Ctrl-C aborts at once). `attnbench bench --resume DIR` continues the "
      "sweep recorded in DIR/sweep.json without redoing finished cells (ERROR cells run again); add --isolate "
      "there to get past a backend that crashed the run. See docs/benchmarking.md, \"Reliability\".");
  sub->callback([&rc, sub] { rc = RunBench(o, *sub); });
}

}  // namespace attnbench::cli
