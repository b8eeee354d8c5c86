// attnbench bench: validate, then time, every backend on every config of a sweep (a preset
// and/or grid flags), and write env.json, bench.json, summary.csv and report.md into --out.
//
// The pipeline (RunBench) is a sequence of stages in harness/bench/:
//   plan (plan.h; the sweep as data: run_record.h) -> (resume: resume.h) -> env + machine peaks + SGEMM reference
//   (run_env.h) -> run cells, in process or isolated (cell_runner.h) -> peers -> write results
//   and the summary (results.h). This file holds the command line and that sequence.
//
// Reliability (docs/benchmarking.md, "Reliability"):
// - --out DIR/sweep.json records the sweep as data (the spec: plugins, backends, the preset
//   text, its sections with the grid flags applied, budget, seeds, Google Benchmark flags; and
//   the cell names) when a run starts; everything else is rewritten atomically after every cell.
// - --isolate: the cells run in a worker process (this executable as `bench --resume DIR
//   --worker --start K --cells RANGES`, which re-derives the sweep from DIR/sweep.json and
//   prints one JSON line per cell, cell_runner.h); a crash or hang is a CRASHED / TIMEOUT row
//   (isolate.h) and the sweep goes on.
// - SIGINT / SIGTERM: the cell in progress is abandoned, the finished ones are written, exit
//   128 + signal; a second signal aborts at once (still no partial file).
// - --resume DIR: re-derives the sweep from DIR/sweep.json (sweep flags given again must not
//   change it), keeps every finished row of DIR/summary.csv (all but ERROR) and runs the rest
//   into the same files.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "../bench/atomic_file.h"
#include "../bench/cell_runner.h"
#include "../bench/env_info.h"
#include "../bench/locate.h"
#include "../bench/peers.h"
#include "../bench/plan.h"
#include "../bench/preset.h"
#include "../bench/report.h"
#include "../bench/results.h"
#include "../bench/resume.h"
#include "../bench/run_env.h"
#include "../bench/run_record.h"
#include "../bench/shard.h"
#include "../history/history.h"
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
  bool remeasure = false;  // the machine profile measured again, not from the cache
  bool force = false;  // --force: replace the run in an existing --out
  bool trust_run_plugins = false;  // --trust-run-plugins: --resume loads the plugins DIR records
  bool list_presets = false;
  bool quiet = false;
  bool isolate = false;
  double timeout = 300;
  std::string peers = "none";  // --peers: none, auto or a list (peers.h)
  std::string peers_python;    // --peers-python
  std::string resume;  // --resume DIR
  std::string shard;   // --shard i/N
  std::string db;      // --db PATH ("" = the default, history.h)
  bool no_db = false;  // --no-db
  bool worker = false;  // hidden: the child of --isolate
  size_t start = 0;     // hidden
  std::string cells;    // hidden: the worker's cells, "0-5,7" (indices into the sweep's cell list)
};

// The flags that define a sweep (sweep.json's spec): given again with --resume, they must not
// change it, and the refusal names them. (--preset is recorded as its text; --benchmark_* flags
// are recorded as given.)
const std::vector<std::string>& SweepFlags() {
  static const std::vector<std::string> f = [] {
    std::vector<std::string> v = {"--plugin", "--no-default-plugins", "--backends"};
    for (const auto& g : GridFlagNames()) v.push_back(g);
    v.insert(v.end(), {"--budget", "--baseline", "--sample-rows", "--data-seed", "--cache", "--sgemm-size", "--peers", "--shard"});
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

// The spec the flags the user gave make of base: the grid flags override every section, the
// other sweep flags replace their field, --benchmark_* flags not in base are added.
SweepSpec ApplyFlags(SweepSpec s, const BenchOptions& o, const CLI::App& sub) {
  ApplyOverrides(sub, o, s.sections);
  if (sub.count("--plugin")) s.plugins = OptionValues(sub, "--plugin");
  if (sub.count("--no-default-plugins")) s.no_default_plugins = o.plugins.no_default;
  if (sub.count("--backends")) s.backends = o.backends;
  if (sub.count("--budget")) s.budget_s = o.budget;
  if (sub.count("--baseline")) s.baseline = o.baseline;
  if (sub.count("--sample-rows")) s.sample_rows = o.sample_rows;
  if (sub.count("--data-seed")) s.data_seed = o.data_seed;
  if (sub.count("--cache")) s.cache = o.cache;
  if (sub.count("--sgemm-size")) s.sgemm_size = o.sgemm_size;
  if (sub.count("--peers")) s.peers = o.peers;
  if (sub.count("--shard")) {
    const ShardSpec sh = ParseShard(o.shard);
    s.shard_index = sh.index;
    s.shard_count = sh.count;
  }
  for (const auto& e : sub.remaining())
    if (std::find(s.benchmark_args.begin(), s.benchmark_args.end(), e) == s.benchmark_args.end())
      s.benchmark_args.push_back(e);
  return s;
}

// A fresh run's spec: the preset (or one 'custom' section when only grid flags are given) and
// the flags.
SweepSpec SpecFromCommandLine(const BenchOptions& o, const CLI::App& sub) {
  SweepSpec s;
  if (!o.preset.empty() || !AnyGridFlag(sub)) {
    const std::string name = o.preset.empty() ? "default" : o.preset;
    const std::string file = ResolvePresetFile(name, PresetDirs());
    const std::string text = ReadWholeFile(file);
    s.preset = {{"name", name}, {"file", fs::absolute(file).lexically_normal().string()}, {"text", text}};
    s.sections = ParsePreset(text, file);
  } else {
    s.sections = {Section{"custom", BenchDefaults(), "all"}};
  }
  return ApplyFlags(std::move(s), o, sub);
}

// Refuses (InputError) sweep flags given again with --resume that would change the recorded sweep.
void CheckNoConflicts(const SweepSpec& recorded, const BenchOptions& o, const CLI::App& sub, const std::string& out) {
  std::vector<std::string> changes = SpecDifferences(recorded, ApplyFlags(recorded, o, sub));
  if (sub.count("--preset") && recorded.PresetName() != o.preset)
    changes.push_back("preset: " + (recorded.preset.is_object() ? recorded.PresetName() : "none") + " recorded, " +
                      o.preset + " now");
  if (changes.empty()) return;
  std::vector<std::string> given;
  if (sub.count("--preset")) given.push_back("--preset " + o.preset);
  for (const auto& flag : SweepFlags()) {
    if (!sub.count(flag)) continue;
    const std::vector<std::string> values = OptionValues(sub, flag);
    given.push_back(values.front().empty() ? flag : flag + " " + Join(values, ","));
  }
  for (const auto& e : sub.remaining()) given.push_back(e);
  throw InputError("--resume " + out + " continues the sweep recorded in its sweep.json; these flags conflict with it: " +
                   Join(given, " ") + " (" + Join(changes, "; ") + "). Drop them, or start a new run with --out.");
}

// --resume loads the plugin files recorded in DIR/sweep.json, and a run folder is data anyone
// who can write it can edit: a recorded plugin is loaded only when the user names it again
// (--plugin, as recorded), when it is an installed one (the plugin folder beside this
// executable), or with --trust-run-plugins.
void CheckRecordedPlugins(const SweepSpec& recorded, const BenchOptions& o, const CLI::App& sub, const std::string& out) {
  if (o.trust_run_plugins) return;
  const std::vector<std::string> named =
      sub.count("--plugin") ? OptionValues(sub, "--plugin") : std::vector<std::string>{};
  std::error_code ec;
  const fs::path installed = fs::weakly_canonical(DefaultPluginDir(), ec);
  for (const auto& p : recorded.plugins) {
    if (std::find(named.begin(), named.end(), p) != named.end()) continue;
    const size_t eq = p.rfind('=');  // NAME=PATH
    const fs::path file = fs::weakly_canonical(eq == std::string::npos ? p : p.substr(eq + 1), ec);
    if (!ec && file.parent_path() == installed) continue;
    throw InputError("--resume " + out + ": its sweep.json loads the plugin " + p +
                     ", which is not installed; name it again (--plugin " + p +
                     ") or pass --trust-run-plugins to load the plugins a run folder records");
  }
}

std::vector<const LoadedBackend*> LoadBackends(const SweepSpec& spec, PluginRegistry& reg) {
  LoadPlugins(PluginFlags{spec.plugins, spec.no_default_plugins}, reg);
  return SelectBackends(reg, spec.backends);
}

// The planned sweep, where it writes, and (resuming) what the earlier run left.
struct Start {
  Sweep w;
  std::string out;
  SweepRecord record;
  PreviousRun prev;
};

// "143502": the local time of day, for the default --out name.
std::string LocalTimeOfDay() {
  const std::time_t t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H%M%S", std::localtime(&t));
  return buf;
}

Start PlanFreshRun(const BenchOptions& o, const CLI::App& sub) {
  Start s;
  // The --plugin files as the user wrote them, so that a refusal names them so.
  s.w = PlanSweep(SpecFromCommandLine(o, sub), [&o](const SweepSpec& spec, PluginRegistry& reg) {
    LoadPlugins(o.plugins, reg);
    return SelectBackends(reg, spec.backends);
  });
  // The time of day too: a second run on the same day must not land in the first one's folder.
  s.out = o.out.empty() ? "results/" + LocalDate() + "-" + LocalTimeOfDay() + "-" + HostName() : o.out;
  if (const std::string f = ExistingRunFile(s.out); !f.empty() && !o.force && !o.dry_run)
    throw InputError("--out " + s.out + " holds a run already (" + f + "); continue it with --resume " + s.out +
                     " or replace it with --force");
  s.record = {UtcTimestamp(), CpuCount(), s.w.spec, s.w.CellNames()};
  if (s.w.spec.shard_count > 1) s.record.sweep_cells = s.w.SweepCellNames();
  return s;
}

Start PlanResumedRun(const BenchOptions& o, const CLI::App& sub) {
  Start s;
  s.out = o.resume;
  if (sub.count("--out") && fs::weakly_canonical(o.out) != fs::weakly_canonical(s.out))
    throw InputError("--resume " + s.out + " writes into " + s.out + "; --out " + o.out + " conflicts with it");
  s.record = ReadSweepRecord(s.out);
  if (access(s.out.c_str(), W_OK) != 0) throw InputError("--resume: cannot write into '" + s.out + "'");
  CheckNoConflicts(s.record.spec, o, sub, s.out);
  CheckRecordedPlugins(s.record.spec, o, sub, s.out);
  try {
    s.w = PlanSweep(s.record.spec, LoadBackends);
  } catch (const InputError& e) {
    throw InputError("--resume " + s.out + ": cannot re-derive the recorded sweep: " + e.what());
  }
  CheckSameCells(s.record, s.w, s.out);
  s.prev = ReadPreviousRun(s.out);
  CheckSameEnvironment(s.prev.env, s.w, GetBlasInfo());
  return s;
}

// The hidden worker of --isolate: cells[--cells][--start..] of the sweep recorded in --resume DIR.
int RunWorker(const BenchOptions& o) {
  EnterWorkerMode();  // before any plugin is loaded: its output must never reach the channel
  const SweepRecord rec = ReadSweepRecord(o.resume);
  Sweep w = PlanSweep(rec.spec, LoadBackends);
  if (rec.cells != w.CellNames())
    throw InputError("worker: the sweep re-derived from " + o.resume + "/sweep.json differs from the recorded one");
  BenchRun run;
  run.gbench = {{"context", nullptr}, {"benchmarks", nlohmann::json::array()}};
  run.cells = ReadFinishedRows(o.resume);  // earlier results seed the budget's predictions
  w.so.peak_gflops = PeakLookup(ReadPreviousRun(o.resume).env);  // the parent's measured profile
  return RunAsWorker(w.plan, w.cells, o.cells, o.start, w.so, run);
}

// Where the run is recorded: --db, else a shard's own run directory (shards never share one
// database file: history.h says why), else results/attnbench.db.
std::string HistoryPath(const BenchOptions& o, const Sweep& w, const std::string& out) {
  if (!o.db.empty()) return o.db;
  if (w.spec.shard_count > 1) return (fs::path(out) / "attnbench.db").string();
  return history::DefaultDbPath();
}

// Records the run when every cell of its sweep has a row (a run cut short is recorded by the
// resume that finishes it).
void RecordRun(history::HistoryDb& db, const Sweep& w, const Start& s, const BenchRun& run) {
  std::set<std::string> rows;
  for (const auto& c : run.cells) rows.insert(c.name);
  for (const auto& c : w.cells)
    if (!rows.count(c.name)) return;
  const int64_t id = db.Record({w.spec.shard_count > 1 ? "shard" : "bench", s.out, s.record, &run});
  std::printf("history: run %lld in %s\n", static_cast<long long>(id), db.path().c_str());
}

// Creates and locks out (the lock lives as long as the returned object); with --force on a
// fresh run, removes the run that was there once the lock is held.
std::unique_ptr<DirectoryLock> PrepareOutDir(const std::string& out, bool replace) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out) || access(out.c_str(), W_OK) != 0)
    throw InputError("--out: cannot create or write directory '" + out + "'");
  auto lock = std::make_unique<DirectoryLock>(out);
  if (replace) RemoveRunFiles(out);
  InstallGracefulInterrupt();
  RemoveStaleTempFiles(out);
  return lock;
}

// The cells left, in this process or isolated; the files are rewritten after each. With a peers
// session, each config's peers take their turn in its rounds (in process) or run right after its
// last cell (isolated). Returns how many cells ran.
size_t RunCellsLeft(Sweep& w, const CellsLeft& left, const BenchOptions& o, const std::string& out,
                    const std::function<bool()>& stop, ResultsDir& dir, BenchRun& run, PeerSession* peers) {
  Isolation isolation{o.isolate, o.timeout, {SelfExe(), "bench", "--resume", out}, {}};
  std::map<std::string, size_t> index;
  for (size_t k = 0; k < w.cells.size(); ++k) index[w.cells[k].name] = k;
  for (const auto& c : left.todo) isolation.worker_indices.push_back(index[c.name]);
  size_t ran = 0;
  SweepOptions so = w.so;
  so.progress = !o.quiet;
  so.progress_offset = left.kept.size();
  so.progress_total = w.cells.size() - left.kept.size();
  so.stop = stop;
  so.on_cell = [&](const CellOutcome&) {
    ++ran;
    dir.Save(run);
  };
  if (!peers) {
    RunCells(w.plan, left.todo, so, run, isolation);
    return ran;
  }
  if (!o.isolate) {  // the peers take their turn in each config's rounds (sweep.h)
    so.peer_rounds.begin = [&](size_t config, const std::string& group) {
      return peers->BeginRounds(config, group, stop);
    };
    so.peer_rounds.round = [&](size_t config) { peers->Round(config, stop); };
    so.peer_rounds.end = [&](size_t config) { peers->EndRounds(config, stop); };
    RunCells(w.plan, left.todo, so, run, isolation);
    return ran;
  }
  // Isolated, a worker runs its cells without waiting for the parent: one worker per config, and
  // the config's peers once it is done. (left.todo is config-major, so a config's cells are adjacent.)
  for (size_t begin = 0; begin < left.todo.size() && !stop();) {
    size_t end = begin;
    while (end < left.todo.size() && left.todo[end].config == left.todo[begin].config) ++end;
    const std::vector<CellRef> group(left.todo.begin() + begin, left.todo.begin() + end);
    Isolation config_isolation = isolation;
    config_isolation.worker_indices.assign(isolation.worker_indices.begin() + begin,
                                           isolation.worker_indices.begin() + end);
    so.progress_offset = left.kept.size() + begin;
    if (!RunCells(w.plan, group, so, run, config_isolation)) break;
    peers->RunConfig(left.todo[begin].config, stop);
    begin = end;
  }
  return ran;
}

int RunBench(BenchOptions& o, const CLI::App& sub) {
  if (o.list_presets) {
    for (const auto& p : KnownPresets(PresetDirs())) std::printf("%s\n", p.c_str());
    return kExitOk;
  }
  if (!(o.timeout > 0 && o.timeout <= kMaxTimeoutSeconds)) {
    char got[32];
    std::snprintf(got, sizeof got, "%g", o.timeout);
    throw InputError("--timeout " + std::string(got) + ": must be > 0 and at most " +
                     std::to_string(static_cast<int>(kMaxTimeoutSeconds)) + " seconds (a week)");
  }
  if (o.worker) return RunWorker(o);
  // A shard started again on its own --out (a requeued Slurm task, a retried CI job) continues
  // what it left there, exactly as --resume would (the same flags must agree with sweep.json).
  if (sub.count("--shard") && o.resume.empty() && !o.out.empty() && fs::is_regular_file(fs::path(o.out) / "sweep.json"))
    o.resume = o.out;
  const bool resuming = !o.resume.empty();
  Start s = resuming ? PlanResumedRun(o, sub) : PlanFreshRun(o, sub);
  Sweep& w = s.w;
  // Peers are probed now: a requested one that is missing is an error before anything is timed.
  const PeerSetup peers = ResolvePeers(w.spec.peers, o.peers_python);
  const std::string peers_line = w.spec.peers != "none" ? peers.Describe() : "";
  BenchRun run;
  run.gbench = {{"context", nullptr}, {"benchmarks", nlohmann::json::array()}};
  const CellsLeft left = SplitFinished(w, s.prev.cells, run);
  AddInvalidConfigRows(w, run);  // SKIPPED rows for the grid's invalid combinations
  if (o.dry_run) {
    const DryRunResume r{s.out, left.kept.size(), left.todo};
    PrintDryRun(w, resuming ? &r : nullptr, peers_line);
    return kExitOk;
  }

  const auto lock = PrepareOutDir(s.out, !resuming && o.force);
  // Opened now, so a bad --db is refused before anything runs; written once, when the run is whole.
  std::unique_ptr<history::HistoryDb> db;
  if (!o.no_db) db = std::make_unique<history::HistoryDb>(HistoryPath(o, w, s.out));
  auto stop = [] { return InterruptSignal() != 0; };
  const IsolationSetting isolation{o.isolate, o.timeout};
  if (resuming && s.prev.env.is_object())
    AdoptPreviousRun(s.prev, left.kept, run);
  else
    run.env = NewRunEnv(w, isolation);
  nlohmann::json resume_entry;
  if (resuming) {
    resume_entry = ResumeEntry(w, left.kept.size(), left.todo.size(), isolation);
    if (!run.env.contains("resumes")) run.env["resumes"] = nlohmann::json::array();
  }
  run.env["peers"] = peers.ToJson();
  run.env["peers"]["requested"] = w.spec.peers;
  ResultsDir dir(s.out, w);
  if (!resuming) {  // whole files from the start: a run killed before its first cell is resumable
    dir.WriteRecord(s.record);  // first: a folder with any run file has the record to resume from
    dir.Save(run);
  }
  if (!o.quiet)
    PrintBanner(w, GetBlasInfo(), o.isolate, peers_line,
                resuming ? "resuming " + s.out + ": " + std::to_string(left.kept.size()) + " of " +
                               std::to_string(w.cells.size()) + " cells finished earlier, " +
                               std::to_string(left.todo.size()) + " to run"
                         : "");
  MeasureMachineProfile(w, o.remeasure, o.quiet, run);
  w.so.peak_gflops = PeakLookup(run.env);
  MeasureCeilings(w, o.quiet, [&] { return stop() || (resuming && left.todo.empty()); }, run,
                  resuming ? &resume_entry : nullptr);
  if (resuming) run.env["resumes"].push_back(resume_entry);
  dir.Save(run);

  // Sharded, the peers run once, in shard 0, on every config (a peer row in every shard would be
  // a cell in two shards): each of its own configs' beside their backends, the others' last.
  std::unique_ptr<PeerSession> peer_session;
  if (!stop() && !peers.empty() && w.spec.shard_index == 0)
    peer_session = std::make_unique<PeerSession>(peers, w.plan, s.out, w.so, o.quiet);
  size_t ran = 0;
  if (!stop() && !left.todo.empty()) ran = RunCellsLeft(w, left, o, s.out, stop, dir, run, peer_session.get());
  dir.Save(run);
  if (!stop() && peer_session) {
    AddPeerRows(peers, *peer_session, w, stop, dir, run);
    dir.Save(run);
  }
  const int rc = PrintSummary(run, w, s.out,
                              resuming ? "resumed: " + std::to_string(left.kept.size()) +
                                             " cells kept from the earlier run, " + std::to_string(ran) + " run now"
                                       : "");
  if (db && !stop()) RecordRun(*db, w, s, run);
  return rc;
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
  sub->add_option("--out", o.out, "Output directory (default: results/<date>-<HHMMSS>-<host>); refused when it holds a run");
  sub->add_option("--sample-rows", o.sample_rows, "Query rows the reference checks per config (0 = all)")
      ->capture_default_str();
  sub->add_option("--data-seed", o.data_seed, "Seed of the random inputs and weights")->check(SeedValidator())->capture_default_str();
  sub->add_option("--cache", o.cache, "cold: cycle through copies spanning 2x the LLC; warm: reuse one copy")
      ->capture_default_str();
  sub->add_option("--sgemm-size", o.sgemm_size, "n of the n x n SGEMM that measures the ceiling")->capture_default_str();
  const char* pg = "Peers (other frameworks, out of process; docs/peers.md)";
  sub->add_option("--peers", o.peers,
                  "none; auto (every peer installed in the peers venv; the absent ones are listed in the report); "
                  "or a list of onnxruntime, onnxruntime-attention, openvino, torch, torch-mha (each must be installed). A config's "
                  "peers are timed in its rounds beside its backends (with --isolate: right after them), on the same inputs, are "
                  "checked against the same float64 reference and "
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
                "(with the reason) and the sweep goes on. The cells are then timed one after the other, not in "
                "rounds (docs/benchmarking.md, \"Rounds\")")
      ->group(rel);
  sub->add_option("--timeout", o.timeout, "With --isolate: seconds one cell (validation + timing) may take")
      ->capture_default_str()
      ->group(rel);
  sub->add_option("--resume", o.resume,
                  "Continue the interrupted or killed run in DIR: the sweep comes from DIR/sweep.json (sweep flags "
                  "given again must agree), finished cells are kept, the rest run into the same files")
      ->type_name("DIR")
      ->group(rel);
  sub->add_flag("--remeasure", o.remeasure,
                "Measure the machine's FMA peak and memory bandwidth again instead of using the cached profile "
                "(see `attnbench machine`)");
  sub->add_option("--shard", o.shard,
                  "Run only part i of N (0-based) of the sweep's cells: a deterministic split balanced by predicted "
                  "cost (FLOP model, budget), the same in every shard; --out gets a complete run directory of that "
                  "part, and a shard started again on an --out holding its results resumes it. `attnbench merge` "
                  "joins the N directories (docs/scale-out.md)")
      ->type_name("i/N");
  sub->add_option("--db", o.db,
                  "Record the finished run into this SQLite history (default: results/attnbench.db; a --shard run: "
                  "attnbench.db in its --out, which merge imports); `attnbench history` lists it")
      ->type_name("PATH");
  sub->add_flag("--no-db", o.no_db, "Do not record the run in the history");
  sub->add_flag("--trust-run-plugins", o.trust_run_plugins,
                "With --resume: load the --plugin files DIR/sweep.json records without naming them again "
                "(a run folder is data; by default only installed plugins or those you name are loaded)");
  sub->add_flag("--force", o.force, "Replace the run an existing --out holds (without it: refused; --resume continues it)");
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
