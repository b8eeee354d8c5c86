#include "sweep.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <regex>

#include "../backend_handle.h"
#include "../problem_data.h"
#include "../problem_keys.h"
#include "../reference.h"
#include "../sysinfo.h"
#include "../validate.h"
#include "flop_model.h"
#include "report.h"
#include "timing.h"

namespace attnbench::bench {

namespace {

using Clock = std::chrono::steady_clock;

// A backend that calls exit() in the middle of a cell would end the run with its own exit code
// (0: "success") and the cells after it missing. While a cell runs, the cell's name is here and
// an atexit handler turns such an exit into exit code 1 and a line naming the cell. (_exit() and
// signals do not run atexit handlers: --isolate reports those.)
std::string g_running_cell;  // guarded by being touched only by the thread running the sweep
std::string g_unfinished_hint;

void ExitDuringCell() {
  if (g_running_cell.empty()) return;
  std::fprintf(stderr,
               "attnbench: the backend of cell %s ended the process (exit()) in the middle of the cell; the run is "
               "unfinished (exit code 1)%s%s\n",
               g_running_cell.c_str(), g_unfinished_hint.empty() ? "" : "; ", g_unfinished_hint.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// Marks the cell running for ExitDuringCell while it lives.
class RunningCell {
 public:
  explicit RunningCell(const std::string& name) {
    static const bool registered = std::atexit(ExitDuringCell) == 0;
    (void)registered;
    g_running_cell = name;
  }
  ~RunningCell() { g_running_cell.clear(); }
  RunningCell(const RunningCell&) = delete;
  RunningCell& operator=(const RunningCell&) = delete;
};

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string Short(const Config& c) {
  const ab_problem& p = c.problem;
  std::string s = std::string(VariantName(c.variant)) + " B=" + std::to_string(p.batch) + " T=" +
                  std::to_string(p.seq_len) + " d=" + std::to_string(p.d_in) + " H=" + std::to_string(p.heads) +
                  " thr=" + std::to_string(p.threads);
  return s;
}

std::string Duration(double s) {
  char buf[32];
  // Three significant digits below 10 s: compared with a small --budget, "~0s > --budget 0.02s"
  // would say nothing.
  if (s < 10)
    std::snprintf(buf, sizeof buf, "%.3gs", s);
  else if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
  else
    std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  return buf;
}

// One prepared backend state with its own inputs, weights and output: the unit the timed loop
// cycles through. The weights live in inputs (guarded), beside the instance that may point into them.
struct Copy {
  std::unique_ptr<GuardedInputs> inputs;
  GuardedOutput out{0};
  std::optional<BackendInstance> instance;
};

std::unique_ptr<Copy> PrepareCopy(const LoadedBackend& backend, const ProblemData& base, std::string* err) {
  auto in = std::make_unique<Copy>();
  in->inputs = std::make_unique<GuardedInputs>(base);
  in->out = GuardedOutput(OutputElems(base.problem));
  Poison(in->out.out(), in->out.size());
  Prepared prepared = BackendInstance::Prepare(backend, base.problem, in->inputs->weights());
  if (!prepared) {
    *err = "prepare failed: " + prepared.error;
    return nullptr;
  }
  in->instance = std::move(prepared.instance);
  return in;
}

// Why a cell is skipped before it runs: its backend's rate on smaller configs predicts too much.
std::string PredictedTooSlow(double predicted, const std::string& basis, const SweepOptions& o) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "too slow: predicted %s per run from its rate on %s (FLOP model), the cell would take ~%s > "
                "--budget %gs; not validated, not timed",
                FormatSeconds(predicted).c_str(), basis.c_str(), Duration(CellSeconds(predicted, o.timing)).c_str(),
                o.budget_s);
  return buf;
}

// Why a validated cell is not timed: its one validation run took too long.
std::string MeasuredTooSlow(const std::string& status, double t_check, const SweepOptions& o) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "too slow: validation (%s) passed but one run took %s, the cell would take ~%s > --budget %gs; "
                "not timed",
                status.c_str(), FormatSeconds(t_check).c_str(), Duration(CellSeconds(t_check, o.timing)).c_str(),
                o.budget_s);
  return buf;
}

// The inputs the timed calls run on: the validated weights with another x, and its reference on
// the same rows. A backend right only on the validated input (or on its first call) is caught by
// checking the timed calls' output against this.
ValidationCase MakeTimingCase(const ValidationCase& vc) {
  ValidationCase t;
  t.data = CopyProblemData(vc.data);
  t.data_seed = vc.data_seed ^ 0x7A11ED5EEDull;  // any seed but the validated one
  const ProblemData other = MakeRandomProblemData(vc.data.problem, t.data_seed);
  t.data.x.CopyFrom(other.x.data());
  // A backend that skips work on the timed calls is wrong on any row: 64 sampled rows (first and
  // last included) catch it at a fraction of the all-rows reference validation computed.
  t.rows = vc.rows.size() > 64 ? SampleRows(vc.data.problem.seq_len, 64, t.data_seed) : vc.rows;
  t.ref = ComputeReference(t.data, t.rows);
  return t;
}

// Times a validated cell with Google Benchmark on RotationCount prepared copies of tc's data
// (prepare and a warm-up run of every copy untimed): fills cell's timing fields, or ERROR and
// why, and entries / context with Google Benchmark's JSON. False when o.stop abandoned it.
// Outside the timed region: every loop of Google Benchmark starts with the output its last call
// will write poisoned and ends with that output checked against tc's reference; the cell ends with every
// copy's inputs compared with tc's and the thread state with `state`. Any of those wrong makes
// the cell FAIL (not timed), naming what the backend did.
bool TimeValidatedCell(const LoadedBackend& b, const ValidationCase& tc, const ThreadState& state, double peak_gflops,
                       const SweepOptions& o, Cell& cell, nlohmann::json& entries, nlohmann::json& context) {
  auto stopping = [&] { return o.stop && o.stop(); };
  const ab_problem& p = tc.data.problem;
  std::string err;
  std::vector<std::unique_ptr<Copy>> copies;
  if (auto first = PrepareCopy(b, tc.data, &err)) copies.push_back(std::move(first));
  if (!copies.empty()) {
    const size_t per_copy = DataBytes(tc.data) + copies[0]->instance->WorkspaceBytes();
    const int k = RotationCount(per_copy, o.cold_bytes, o.cold_cache);
    while (static_cast<int>(copies.size()) < k && err.empty())
      if (auto in = PrepareCopy(b, tc.data, &err)) copies.push_back(std::move(in));
  }
  // Page faults and lazy initialisation of every copy happen here, untimed.
  for (auto& in : copies)
    if (err.empty())
      if (CallResult r = in->instance->Run(in->inputs->x(), in->out.out()); !r) err = "run failed: " + r.message;
  if (!err.empty()) {
    copies.clear();
    SetThreadState(state.omp_threads, state.mxcsr);
    cell.status = "ERROR";
    cell.reason = err;
    return true;
  }
  cell.rotation = static_cast<int>(copies.size());
  size_t next = 0, last = copies.size();
  bool interrupted = false;
  std::string wrong;  // what the timed calls got wrong
  TimedBody body;
  // Only the output the loop's last call will write is poisoned: poisoning every copy would bring
  // all the outputs into the cache the rotation is there to keep cold.
  body.before_loop = [&](int64_t iterations, std::string*) {
    last = copies.size();
    if (iterations < 1) return true;
    const size_t k = (next + static_cast<size_t>((iterations - 1) % static_cast<int64_t>(copies.size()))) % copies.size();
    Poison(copies[k]->out.out(), copies[k]->out.size());
    return true;
  };
  body.iteration = [&](std::string* e) {
    if (stopping()) {
      interrupted = true;
      *e = "interrupted";
      return false;
    }
    Copy& in = *copies[next];
    last = next;
    next = next + 1 == copies.size() ? 0 : next + 1;
    if (CallResult r = in.instance->Run(in.inputs->x(), in.out.out()); !r) {
      *e = "run failed: " + r.message;
      return false;
    }
    return true;
  };
  body.after_loop = [&](std::string* e) {
    if (last == copies.size()) return true;
    const CheckResult r = CompareOutput(p, copies[last]->out.out(), tc.ref);
    if (r.status != Status::kFail) return true;
    wrong = "the output of a timed call is wrong (" + r.reason + "), on another input than the validated one";
    *e = wrong;
    return false;
  };
  const TimedCell t = TimeCell(cell.name, body);
  std::string changed, guards;
  for (const auto& in : copies) {
    if (changed.empty()) changed = in->inputs->ChangedFrom(tc.data);
    if (guards.empty()) guards = in->out.DamagedGuards();
    if (guards.empty()) guards = in->inputs->DamagedGuards();
  }
  copies.clear();
  const std::string state_change = DescribeStateChange(state, CaptureThreadState());
  SetThreadState(state.omp_threads, state.mxcsr);
  if (interrupted || stopping()) return false;  // abandoned: neither the cell nor its JSON
  context = t.context;
  if (!guards.empty()) wrong += (wrong.empty() ? "" : "; ") + guards + " while timed";
  if (!changed.empty()) wrong += (wrong.empty() ? "" : "; ") + std::string("wrote into its read-only inputs (") + changed + ") while timed";
  if (!state_change.empty())
    wrong += (wrong.empty() ? "" : "; ") + std::string("left the thread state changed (") + state_change + ") while timed";
  if (wrong.empty() && t.error.empty()) {
    wrong = RateAbovePeak(CountFlops(p).total(), ComputeStats(t.seconds).min, peak_gflops, p.threads);
  }
  if (!wrong.empty()) {
    cell.status = "FAIL";
    cell.reason = "validation passed, timing failed, not timed: " + wrong;
    return true;
  }
  entries = t.benchmarks;
  if (!t.error.empty()) {
    cell.status = "ERROR";
    cell.reason = t.error;
    return true;
  }
  const Stats s = ComputeStats(t.seconds);
  cell.median_s = s.median;
  cell.mean_s = s.mean;
  cell.stddev_s = s.stddev;
  cell.cv = s.cv;
  cell.min_s = s.min;
  cell.repetitions = static_cast<int64_t>(t.seconds.size());
  cell.iterations = t.iterations;
  return true;
}

}  // namespace

namespace {

// Appends e to list, or tags the entry already there (same benchmark name) with the section.
template <typename Entry>
void AddOnce(std::vector<Entry>& list, std::map<std::string, size_t>& index, const std::string& section, Entry e) {
  const std::string key = BenchmarkName("", e.config);
  auto it = index.find(key);
  if (it == index.end()) {
    index[key] = list.size();
    list.push_back(std::move(e));
  } else if (SplitSections(list[it->second].sections).back() != section) {
    list[it->second].sections += ";" + section;
  }
}

}  // namespace

std::vector<PlannedConfig> PlanConfigs(const std::vector<Section>& sections, int cores,
                                       std::vector<InvalidConfig>* invalid) {
  std::vector<PlannedConfig> plan;
  std::map<std::string, size_t> index, invalid_index;
  std::vector<SkippedConfig> all_skipped;  // for the error when nothing is valid
  for (const auto& s : sections) {
    std::vector<SkippedConfig> skipped;
    for (const Config& c : ExpandSection(s, cores, invalid ? &skipped : nullptr)) AddOnce(plan, index, s.name, {s.name, c});
    for (const SkippedConfig& k : skipped) {
      AddOnce(*invalid, invalid_index, s.name, {s.name, k.config, k.reason});
      all_skipped.push_back(k);
    }
  }
  if (plan.empty()) RequireValidConfig({}, all_skipped);
  return plan;
}

std::string BenchmarkName(const std::string& backend, const Config& c) {
  std::string s = backend;
  for (const ProblemKey* k : KeysByRank(&ProblemKey::name_rank)) s += k->name_part(c);
  return s;
}

void SetUnfinishedRunHint(std::string hint) { g_unfinished_hint = std::move(hint); }

std::string RateAbovePeak(double flops, double seconds, double peak_gflops, int threads) {
  // The peak is measured, on a machine that may have been busy then: a real backend near the
  // peak must not FAIL because of that. A fake (a memoised or skipped computation) lands far above.
  constexpr double kMeasurementMargin = 1.25;
  if (!(peak_gflops > 0) || !(seconds > 0)) return {};
  const double gflops = flops / seconds * 1e-9;
  if (gflops <= kMeasurementMargin * peak_gflops) return {};
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%.4g GFLOP/s (FLOP model, fastest repetition) is above this machine's measured peak of %.4g GFLOP/s "
                "at %d thread(s): no real computation is that fast",
                gflops, peak_gflops, threads);
  return buf;
}

size_t DataBytes(const ProblemData& d) {
  return d.x.bytes() + d.w_q.bytes() + d.w_k.bytes() + d.w_v.bytes() + d.b_q.bytes() + d.b_k.bytes() +
         d.b_v.bytes() + d.w_o.bytes() + d.b_o.bytes() + OutputElems(d.problem) * sizeof(float);
}

int RotationCount(size_t bytes_per_copy, size_t cold_bytes, bool cold) {
  if (!cold || bytes_per_copy == 0) return 1;
  const size_t k = (cold_bytes + bytes_per_copy - 1) / bytes_per_copy;
  return static_cast<int>(std::clamp<size_t>(k, 1, 64));
}

std::vector<CellRef> PlanCells(const std::vector<PlannedConfig>& plan,
                               const std::vector<const LoadedBackend*>& backends, const std::string& filter_text) {
  std::optional<std::regex> filter;
  if (!filter_text.empty() && filter_text != "all") filter.emplace(filter_text, std::regex::extended);
  std::vector<CellRef> cells;
  for (size_t ci = 0; ci < plan.size(); ++ci)
    for (const LoadedBackend* b : backends) {
      std::string name = BenchmarkName(b->name, plan[ci].config);
      if (!filter || std::regex_search(name, *filter)) cells.push_back({ci, b, std::move(name)});
    }
  return cells;
}

bool RunSweep(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells, const SweepOptions& o,
              BenchRun& run, size_t start) {
  const size_t total = o.progress_total ? o.progress_total : cells.size() - std::min(start, cells.size());
  auto stopping = [&] { return o.stop && o.stop(); };

  if (!run.gbench.contains("benchmarks")) run.gbench["benchmarks"] = nlohmann::json::array();
  BudgetPredictor predictor;
  for (const Cell& c : run.cells) {  // history from an earlier process (resume, isolation worker)
    if (c.timed() && c.median_s > 0) predictor.Record(c.backend, c.config.problem, c.median_s);
    else if (c.status == "SKIPPED" && c.predicted_s > 0) predictor.Record(c.backend, c.config.problem, c.predicted_s);
  }
  const auto sweep_start = Clock::now();
  size_t done = 0;
  double time_spent_cells = 0;  // seconds in finished cells, for the ETA
  auto eta = [&](size_t from) {
    // Remaining cells: the predicted cost when the backend has a rate (capped by the budget,
    // 0 when it will be skipped), else the average so far.
    const double avg = done ? time_spent_cells / done : 0;
    double s = 0;
    for (size_t i = from; i < cells.size(); ++i) {
      const double t = predictor.Predict(cells[i].backend->name, plan[cells[i].config].config.problem);
      const double cell = t > 0 ? CellSeconds(t, o.timing) : avg;
      s += cell > o.budget_s ? 0 : cell;
    }
    return s;
  };

  // What every cell starts from: the thread counts of its config and this process's MXCSR.
  const unsigned mxcsr = CaptureThreadState().mxcsr;
  std::optional<size_t> data_config;  // the config vc (validation) and tc (timing) belong to
  std::optional<ValidationCase> vc, tc;
  for (size_t pos = start; pos < cells.size(); ++pos) {
    if (stopping()) return false;
    const CellRef& cr = cells[pos];
    const LoadedBackend* b = cr.backend;
    const Config& cfg = plan[cr.config].config;
    const ab_problem& p = cfg.problem;
    if (data_config != cr.config) {
      vc.reset();
      tc.reset();
      if (data_config && o.on_config_done) o.on_config_done(*data_config);
      if (stopping()) return false;
      data_config = cr.config;
    }
    SetThreadState(p.threads, mxcsr);  // whatever the previous cell's backend left
    const std::string& name = cr.name;
    if (o.on_begin) o.on_begin(pos);
    const RunningCell running(name);
    const auto cell_start = Clock::now();
    ++done;
    Cell cell;
    cell.section = plan[cr.config].sections;
    cell.backend = b->name;
    cell.name = name;
    cell.config = cfg;
    if (o.progress)
      std::fprintf(stderr, "[%zu/%zu] %-12s %-40s ... ETA %s\n", o.progress_offset + done,
                   o.progress_offset + total, b->name.c_str(), Short(cfg).c_str(), Duration(eta(pos)).c_str());
    nlohmann::json entries = nlohmann::json::array();
    nlohmann::json check;
    auto finish = [&] {
      if (o.progress) {
        if (cell.timed())
          std::fprintf(stderr, "        %s %s (cv %.1f%%, %lld reps), %.2f GFLOP/s\n", cell.status.c_str(),
                       FormatSeconds(cell.median_s).c_str(), 100 * cell.cv, static_cast<long long>(cell.repetitions),
                       CountFlops(p).total() / cell.median_s * 1e-9);
        else
          std::fprintf(stderr, "        %s: %s\n", cell.status.c_str(), cell.reason.c_str());
      }
      time_spent_cells += Since(cell_start);
      for (const auto& j : entries) run.gbench["benchmarks"].push_back(j);
      run.cells.push_back(cell);
      if (o.on_cell) o.on_cell({pos, run.cells.back(), entries, check});
    };

    double predicted = 0;
    if (o.time_cells) {
      if (CallResult s = BackendInstance::Supports(*b, p); !s) {
        cell.status = "UNSUPPORTED";
        cell.reason = s.message.empty() ? "unsupported (no reason given)" : s.message;
        finish();
        continue;
      }
      std::string basis;
      predicted = predictor.Predict(b->name, p, &basis);
      cell.predicted_s = predicted;
      if (predicted > 0 && CellSeconds(predicted, o.timing) > o.budget_s) {
        cell.status = "SKIPPED";
        cell.reason = PredictedTooSlow(predicted, basis, o);
        finish();
        continue;
      }
    }
    // Validate right before timing, on the same data the timing uses.
    if (!vc) vc.emplace(PrepareCase(p, o.data_seed, o.sample_rows));
    const auto check_start = Clock::now();
    const CheckResult r = CheckBackend(*b, vc->data, vc->ref);
    // The budget goes by the one run() call, not by the whole check: with a large KV cache or
    // large weights, the guarded copies, prepare and the read-only comparison take seconds
    // (decoding B = 8, P = 8192: ~4 s around a ~0.1 s run) that a timed call never pays.
    const double t_check = r.run_seconds > 0 ? r.run_seconds : Since(check_start);
    check = CheckJson(r, vc->data_seed, vc->ref.rows_checked());
    cell.status = StatusName(r.status);
    cell.reason = r.reason;
    cell.max_abs_err = r.max_abs_err;
    cell.rel_l2_err = r.rel_l2_err;
    cell.tol_rel_l2 = r.tol.rel_l2;
    cell.workspace_bytes = r.workspace_bytes;
    cell.measured_bytes = r.measured_bytes;
    if (!o.time_cells) {
      finish();
      continue;
    }
    if (!cell.timed()) {
      if (r.status == Status::kFail) cell.reason = "validation failed, not timed: " + cell.reason;
      finish();
      continue;
    }
    if (predicted <= 0) cell.predicted_s = t_check;
    if (CellSeconds(t_check, o.timing) > o.budget_s) {
      predictor.Record(b->name, p, t_check);
      cell.reason = MeasuredTooSlow(cell.status, t_check, o);
      cell.status = "SKIPPED";
      finish();
      continue;
    }
    if (stopping()) return false;
    nlohmann::json context;
    if (!tc) tc.emplace(MakeTimingCase(*vc));
    // Measuring the peak (once per host and build, then cached) sets threads of its own.
    const double peak = o.peak_gflops ? o.peak_gflops(p.threads) : 0;
    SetThreadState(p.threads, mxcsr);
    if (!TimeValidatedCell(*b, *tc, CaptureThreadState(), peak, o, cell, entries, context)) return false;
    if (run.gbench.value("context", nlohmann::json()).is_null() && !context.is_null()) run.gbench["context"] = context;
    if (cell.timed()) predictor.Record(b->name, p, cell.median_s);
    finish();
  }
  vc.reset();
  tc.reset();
  if (data_config && o.on_config_done && !stopping()) o.on_config_done(*data_config);
  ComputeDerived(run, o.baseline);
  if (o.progress) std::fprintf(stderr, "done: %zu cells in %s\n", done, Duration(Since(sweep_start)).c_str());
  return true;
}

}  // namespace attnbench::bench
