// attnbench validate: every backend on every config of a grid, against the float64 reference.
//
// validate is the bench's cell runner with timing off (bench/cell_runner.h): the same draw,
// redraw policy and judgement per config. The cells (config x backend, config-major) run in this
// process, or with --isolate in worker processes (this executable re-run with the same flags and
// the runner's --worker --start --cells) so that a plugin that crashes or hangs is reported
// CRASHED / TIMEOUT and the run goes on. Isolation is not the
// default: the worker recomputes inputs and the reference, which roughly doubles the time of a
// grid of small configs, and an in-tree plugin that crashes is a bug the test suite catches;
// use --isolate for plugins you do not trust (`bench` has the same flag).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "../bench/cell_runner.h"
#include "../bench/preset.h"
#include "../diagnose.h"
#include "../isolate.h"
#include "../problem_keys.h"
#include "../sysinfo.h"
#include "../validate.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct ValidateOptions {
  PluginFlags plugins;
  GridSpec grid;             // grid.threads is not used: see threads
  std::string threads = "all";  // a grid axis here, as in bench: "1,all"
  std::string backends;
  int sample_rows = 32;
  uint64_t data_seed = 0;
  bool json = false;
  bool quiet = false;
  bool isolate = false;
  double timeout = 300.0;
  bool worker = false;     // hidden: the child of --isolate (bench/cell_runner.h)
  size_t start = 0;        // hidden
  std::string cells;       // hidden
};

std::string Repro(const ValidateOptions& o, const std::string& backend, const Config& c, uint64_t data_seed) {
  std::string s = "attnbench validate --backends " + backend + " " + ConfigFlags(c) +
                  " --data-seed " + std::to_string(data_seed) + " --sample-rows " + std::to_string(o.sample_rows);
  if (o.isolate) s += " --isolate";
  for (const auto& p : o.plugins.plugins) s += " --plugin " + p;
  return s;
}

// The flags that make a worker see exactly this run's grid, plugins and data (the runner adds
// its protocol flags).
std::vector<std::string> WorkerArgv(const ValidateOptions& o, const std::string& backends, uint64_t data_seed) {
  std::vector<std::string> a = {SelfExe(), "validate", "--backends", backends, "--data-seed", std::to_string(data_seed),
                                "--sample-rows", std::to_string(o.sample_rows)};
  const std::vector<std::string> grid = GridSpecArgs(o.grid);
  for (size_t i = 0; i < grid.size(); ++i)  // "--threads N" of grid.threads: the worker needs the whole list
    a.push_back(i > 0 && grid[i - 1] == "--threads" ? o.threads : grid[i]);
  if (o.plugins.no_default) a.push_back("--no-default-plugins");
  for (const auto& p : o.plugins.plugins) a.insert(a.end(), {"--plugin", p});
  return a;
}

// What a FAIL got wrong (harness/diagnose.h): the backend re-run on the row's data, its output
// compared with the reference made with each known mistake. Not under --isolate: that would run
// an untrusted plugin in this process (the reproducer line without --isolate diagnoses it).
nlohmann::json DiagnoseRow(const ValidateOptions& o, const LoadedBackend& b, const Config& c, const nlohmann::json& row) {
  Diagnosis d;
  if (o.isolate) {
    d.message = "not diagnosed under --isolate (the reproducer line without --isolate diagnoses it)";
  } else {
    const ProblemData data = MakeRandomProblemData(c.problem, row["data_seed"].get<uint64_t>());
    d = DiagnoseBackend(b, data, row["tol_rel_l2"].get<double>());
  }
  return DiagnosisJson(d);
}

// "1,2" for the thread counts {1, 2}.
std::string JoinThreads(const std::vector<int>& threads) {
  std::string out;
  for (int t : threads) out += (out.empty() ? "" : ",") + std::to_string(t);
  return out;
}

void PrintTableHeader(const ValidateOptions& o, const std::vector<int>& threads, size_t configs, size_t backends,
                      uint64_t data_seed, const BlasInfo& blas) {
  std::printf("attnbench validate: %zu configs x %zu backends, data seed %llu, threads %s, BLAS %s %s kernel %s%s\n",
              configs, backends, static_cast<unsigned long long>(data_seed), JoinThreads(threads).c_str(),
              blas.library.c_str(), blas.version.c_str(), blas.kernel.c_str(), o.isolate ? ", isolated" : "");
  std::printf("tolerance: rel_l2 <= 16 u sqrt(L) (1 + S), max_abs <= 8 tol max|ref| "
              "(u = 2^-24, L = sum of reduction lengths, S = max |scaled score|)\n");
  std::printf("%-11s %-12s %-72s %9s %9s %9s %6s\n", "STATUS", "BACKEND", "CONFIG", "MAX_ABS", "REL_L2", "TOL_L2", "ROWS");
}

void PrintJson(const ValidateOptions& o, const std::vector<int>& threads, uint64_t data_seed, const BlasInfo& blas,
               const std::map<std::string, int>& counts, nlohmann::json rows) {
  nlohmann::json summary;
  for (const auto& [k, v] : counts) summary[k] = v;
  nlohmann::json doc = {{"data_seed", data_seed},
                        {"threads", threads},
                        {"isolated", o.isolate},
                        {"blas", {{"library", blas.library}, {"version", blas.version}, {"kernel", blas.kernel}}},
                        {"summary", summary},
                        {"results", std::move(rows)}};
  std::cout << doc.dump(2) << "\n";
}

void PrintSummaryLine(std::map<std::string, int> counts) {
  const int failures = counts["FAIL"] + counts["CRASHED"] + counts["TIMEOUT"];
  std::printf("%s: %d PASS, %d FAIL, %d MISTRUSTED, %d UNSUPPORTED", failures ? "FAIL" : "PASS", counts["PASS"],
              counts["FAIL"], counts["MISTRUSTED"], counts["UNSUPPORTED"]);
  if (counts["CRASHED"] || counts["TIMEOUT"]) std::printf(", %d CRASHED, %d TIMEOUT", counts["CRASHED"], counts["TIMEOUT"]);
  if (counts["SKIPPED"]) std::printf(", %d SKIPPED (not a valid problem)", counts["SKIPPED"]);
  std::printf("\n");
}

int RunValidate(ValidateOptions& o, const CLI::App& sub) {
  if (o.worker) EnterWorkerMode();  // before any plugin is loaded: its output must never reach the channel
  // Everything the user typed is checked before anything is allocated.
  // Combinations that are not valid problems are SKIPPED rows; the rest of the grid runs. The
  // thread counts are the outermost axis, as in bench.
  std::vector<int> threads;
  try {
    threads = bench::ParseThreads(o.threads, CpuCount());
  } catch (const InputError&) {
    throw InputError("--threads: must be >= 1 (a comma list of counts or 'all'), got '" + o.threads + "'");
  }
  std::vector<SkippedConfig> skipped;
  std::vector<Config> configs;
  for (int t : threads) {
    GridSpec g = o.grid;
    g.threads = t;
    for (Config& c : ExpandGrid(g, &skipped)) configs.push_back(std::move(c));
  }
  RequireValidConfig(configs, skipped);
  for (const auto& c : configs) CheckMemory(c);
  if (o.sample_rows < 0) throw InputError("--sample-rows must be >= 0 (0 = every row)");
  if (!(o.timeout > 0 && o.timeout <= kMaxTimeoutSeconds)) {
    char got[32];
    std::snprintf(got, sizeof got, "%g", o.timeout);
    throw InputError("--timeout " + std::string(got) + ": must be > 0 and at most " +
                     std::to_string(static_cast<int>(kMaxTimeoutSeconds)) + " seconds (a week)");
  }
  PluginRegistry reg;
  LoadPlugins(o.plugins, reg);
  const auto backends = SelectBackends(reg, o.backends);
  const uint64_t data_seed = sub.count("--data-seed") ? o.data_seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  SetThreads(threads.front());  // each cell sets its own count too (the cell runner)
  const size_t nb = backends.size(), cells = configs.size() * nb;
  std::vector<bench::PlannedConfig> plan;
  for (const Config& c : configs) plan.push_back({"", c});
  const std::vector<bench::CellRef> cell_list = bench::PlanCells(plan, backends, "");
  bench::SweepOptions so;
  so.time_cells = false;
  so.progress = false;  // validate prints its own progress line
  so.sample_rows = o.sample_rows;
  so.data_seed = data_seed;
  bench::BenchRun run;

  if (o.worker) return bench::RunAsWorker(plan, cell_list, o.cells, o.start, so, run);

  const BlasInfo blas = GetBlasInfo();
  if (auto w = BlasKernelWarning(blas); !w.empty() && !o.quiet) std::cerr << w << "\n";
  if (!o.json) PrintTableHeader(o, threads, configs.size(), backends.size(), data_seed, blas);
  // With several thread counts the rows name theirs (Describe() does not).
  auto describe = [&threads](const Config& c) {
    return threads.size() > 1 ? c.Describe() + " threads=" + std::to_string(c.problem.threads) : c.Describe();
  };
  const bool progress = !o.json && !o.quiet && isatty(STDERR_FILENO);
  std::map<std::string, int> counts;
  nlohmann::json rows = nlohmann::json::array();

  auto emit = [&](size_t cell, nlohmann::json r) {
    const Config& c = configs[cell / nb];
    const std::string& name = backends[cell % nb]->name;
    const std::string status = r["status"];
    ++counts[status];
    const bool failed = status == "FAIL" || status == "CRASHED" || status == "TIMEOUT";
    const std::string repro = failed ? Repro(o, name, c, r.value("data_seed", data_seed)) : "";
    if (status == "FAIL" && r.contains("data_seed") && r.contains("tol_rel_l2")) r["diagnosis"] = DiagnoseRow(o, *backends[cell % nb], c, r);
    if (progress) std::fprintf(stderr, "\r\033[K");
    if (o.json) {
      r.update(ProblemJson(c));
      r.update({{"backend", name}, {"config", c.Describe()}, {"threads", c.problem.threads}, {"repro", repro}});
      rows.push_back(std::move(r));
    } else if (!(o.quiet && status == "PASS")) {
      if (r.contains("max_abs_err") && (status == "PASS" || status == "MISTRUSTED" || status == "FAIL")) {
        // ROWS: the query rows per batch the float64 reference checked (all T, or the sample).
        std::printf("%-11s %-12s %-72s %9.2e %9.2e %9.2e %6lld\n", status.c_str(), name.c_str(), describe(c).c_str(),
                    r["max_abs_err"].is_number() ? r["max_abs_err"].get<double>() : INFINITY,
                    r["rel_l2_err"].is_number() ? r["rel_l2_err"].get<double>() : INFINITY,
                    r["tol_rel_l2"].get<double>(), r.value("rows_checked", 0LL));
      } else {
        std::printf("%-11s %-12s %-72s\n", status.c_str(), name.c_str(), describe(c).c_str());
      }
      const std::string reason = r.value("reason", "");
      if (!reason.empty()) std::printf("            %s\n", reason.c_str());
      if (r.contains("diagnosis")) std::printf("            diagnosis: %s\n", r["diagnosis"]["message"].get<std::string>().c_str());
      if (!repro.empty()) std::printf("            repro: %s\n", repro.c_str());
      std::fflush(stdout);
    }
    if (progress && cell + 1 < cells)
      std::fprintf(stderr, "[%zu/%zu] %s %s", cell + 2, cells, backends[(cell + 1) % nb]->name.c_str(),
                   describe(configs[(cell + 1) / nb]).c_str());
  };

  for (const SkippedConfig& sk : skipped) {
    ++counts["SKIPPED"];
    if (o.json) {
      nlohmann::json r = ProblemJson(sk.config);
      r.update({{"status", "SKIPPED"}, {"backend", ""}, {"config", sk.config.Describe()},
                {"threads", sk.config.problem.threads}, {"reason", sk.reason}});
      rows.push_back(std::move(r));
    } else {
      std::printf("%-11s %-12s %-72s\n            %s\n", "SKIPPED", "-", describe(sk.config).c_str(),
                  sk.reason.c_str());
    }
  }

  bench::Isolation isolation{o.isolate, o.timeout, {}, {}};
  if (o.isolate) {
    std::string names;
    for (const auto* b : backends) names += (names.empty() ? "" : ",") + b->name;
    isolation.worker_argv = WorkerArgv(o, names, data_seed);
  }
  so.on_cell = [&](const bench::CellOutcome& c) {
    nlohmann::json r = c.check;
    // Isolated rows have always carried the worker's cell index.
    if (o.isolate && r.contains("data_seed")) r["result"] = c.pos;
    emit(c.pos, std::move(r));
  };
  bench::RunCells(plan, cell_list, so, run, isolation);
  if (progress) std::fprintf(stderr, "\r\033[K");

  const int failures = counts["FAIL"] + counts["CRASHED"] + counts["TIMEOUT"];
  if (o.json)
    PrintJson(o, threads, data_seed, blas, counts, std::move(rows));
  else
    PrintSummaryLine(counts);
  return failures ? kExitFailed : kExitOk;
}

}  // namespace

void AddValidateCommand(CLI::App& app, int& rc) {
  static ValidateOptions o;
  CLI::App* sub = app.add_subcommand(
      "validate",
      "Run backends on a grid of problems and compare each output with the float64 reference "
      "on fresh random inputs. Exit 1 if anything FAILs (or CRASHes / TIMEs OUT with --isolate).");
  AddPluginFlags(sub, o.plugins);
  AddGridFlags(sub, o.grid);
  // --threads is a list here, one grid axis as in bench (run keeps one count): the shared flag
  // is replaced, with bench's help text.
  for (const ProblemKey& k : ProblemKeys())
    if (k.form == KeyForm::kThreads) {
      const std::string flag = std::string("--") + k.name;
      const std::string group = sub->get_option(flag)->get_group();
      sub->remove_option(sub->get_option(flag));
      sub->add_option(flag, o.threads, k.bench_help)->capture_default_str()->group(group);
    }
  sub->add_option("--backends", o.backends, "Comma list of backends (default: every loaded one)");
  sub->add_option("--sample-rows", o.sample_rows,
                  "Query rows the reference computes per config when T is large (first and last always "
                  "included); 0 = every row")
      ->capture_default_str();
  sub->add_option("--data-seed", o.data_seed, "Seed of the random inputs and weights (default: fresh each run)")->check(SeedValidator());
  sub->add_flag("--json", o.json, "Print the results as JSON on stdout instead of the table");
  sub->add_flag("--quiet,-q", o.quiet, "Print only rows that are not PASS, and the summary");
  sub->add_flag("--isolate", o.isolate,
                "Run the backends in a child process: a crash or hang is reported CRASHED / TIMEOUT "
                "and the run goes on");
  sub->add_option("--timeout", o.timeout, "With --isolate: seconds one (config, backend) may take")
      ->capture_default_str();
  sub->add_flag("--worker", o.worker)->group("");  // internal: the child of --isolate
  sub->add_option("--start", o.start)->group("");
  sub->add_option("--cells", o.cells)->group("");
  sub->callback([&rc, sub] { rc = RunValidate(o, *sub); });
}

}  // namespace attnbench::cli
