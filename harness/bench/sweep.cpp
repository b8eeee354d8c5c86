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
#include <random>
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
  explicit RunningCell(const std::string& name) : outer_(g_running_cell) {
    static const bool registered = std::atexit(ExitDuringCell) == 0;
    (void)registered;
    g_running_cell = name;
  }
  ~RunningCell() { g_running_cell = outer_; }
  RunningCell(const RunningCell&) = delete;
  RunningCell& operator=(const RunningCell&) = delete;

 private:
  std::string outer_;  // the cell whose preparation a round-by-round flush interrupted
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

// Google Benchmark names a benchmark with a fixed iteration or repetition count
// ".../iterations:N/repeats:N/real_time": without those parts.
std::string StripFixedCounts(const std::string& name) {
  static const std::regex fixed("/(iterations|repeats):[0-9]+");
  return std::regex_replace(name, fixed, "");
}

// A validated cell being timed with Google Benchmark: RotationCount prepared copies of tc's data
// (prepare and a warm-up run of every copy untimed) and the loop that cycles through them. Time()
// runs Google Benchmark once: the whole cell (the process's --benchmark_* flags) or, in a
// round-by-round sweep, one repetition. Outside the timed region: every loop of Google Benchmark
// starts with the output its last call will write poisoned and ends with that output checked
// against tc's reference; every Time() starts from the config's thread state and compares it
// after; Conclude() compares every copy's inputs with tc's and its guard bytes. Any of those
// wrong makes the cell FAIL (not timed), naming what the backend did.
class CellTimer {
 public:
  CellTimer(const LoadedBackend& b, const ValidationCase& tc, unsigned mxcsr, std::function<bool()> stopping)
      : b_(b), tc_(tc), mxcsr_(mxcsr), stopping_(std::move(stopping)) {}

  // The first copy, on which the size of all of them is known. False: prepare failed (Conclude
  // makes the cell ERROR).
  bool PrepareFirst(const SweepOptions& o) {
    SetThreadState(tc_.data.problem.threads, mxcsr_);
    if (auto first = PrepareCopy(b_, tc_.data, &setup_error_)) copies_.push_back(std::move(first));
    if (copies_.empty()) return false;
    per_copy_ = DataBytes(tc_.data) + copies_[0]->instance->WorkspaceBytes();
    count_ = RotationCount(per_copy_, o.cold_bytes, o.cold_cache);
    return true;
  }
  // What all the copies hold (inputs, weights, output, the backend's workspace).
  size_t Bytes() const { return per_copy_ * static_cast<size_t>(count_); }

  // The other copies, then one untimed run of each: page faults and lazy initialisation happen here.
  bool PrepareRest() {
    SetThreadState(tc_.data.problem.threads, mxcsr_);
    while (static_cast<int>(copies_.size()) < count_ && setup_error_.empty())
      if (auto in = PrepareCopy(b_, tc_.data, &setup_error_)) copies_.push_back(std::move(in));
    for (auto& in : copies_)
      if (setup_error_.empty())
        if (CallResult r = in->instance->Run(in->inputs->x(), in->out.out()); !r) setup_error_ = "run failed: " + r.message;
    if (setup_error_.empty()) return true;
    copies_.clear();
    SetThreadState(tc_.data.problem.threads, mxcsr_);
    return false;
  }

  // One Google Benchmark run. record: its repetitions count (false: only the iteration count is
  // kept, the estimate a round-by-round sweep fixes for every round); round >= 0 numbers its
  // JSON entry as repetition `round` of `rounds`. False when the cell can be timed no further:
  // interrupted (interrupted()), an error, a wrong output or a changed thread state.
  bool Time(const std::string& name, TimeCellArgs args, bool record, int round = -1, int rounds = 0) {
    const ab_problem& p = tc_.data.problem;
    SetThreadState(p.threads, mxcsr_);
    const ThreadState state = CaptureThreadState();
    size_t last = copies_.size();
    TimedBody body;
    // Only the output the loop's last call will write is poisoned: poisoning every copy would bring
    // all the outputs into the cache the rotation is there to keep cold.
    body.before_loop = [&](int64_t iterations, std::string*) {
      last = copies_.size();
      if (iterations < 1) return true;
      const size_t k = (next_ + static_cast<size_t>((iterations - 1) % static_cast<int64_t>(copies_.size()))) % copies_.size();
      Poison(copies_[k]->out.out(), copies_[k]->out.size());
      return true;
    };
    body.iteration = [&](std::string* e) {
      if (stopping_()) {
        interrupted_ = true;
        *e = "interrupted";
        return false;
      }
      Copy& in = *copies_[next_];
      last = next_;
      next_ = next_ + 1 == copies_.size() ? 0 : next_ + 1;
      if (CallResult r = in.instance->Run(in.inputs->x(), in.out.out()); !r) {
        *e = "run failed: " + r.message;
        return false;
      }
      return true;
    };
    body.after_loop = [&](std::string* e) {
      if (last == copies_.size()) return true;
      const CheckResult r = CompareOutput(p, copies_[last]->out.out(), tc_.ref);
      if (r.status != Status::kFail) return true;
      wrong_ = "the output of a timed call is wrong (" + r.reason + "), on another input than the validated one";
      *e = wrong_;
      return false;
    };
    const TimedCell t = TimeCell(name, body, args);
    if (state_change_.empty()) state_change_ = DescribeStateChange(state, CaptureThreadState());
    SetThreadState(p.threads, mxcsr_);
    if (interrupted_ || stopping_()) {
      interrupted_ = true;
      return false;
    }
    if (context_.is_null()) context_ = t.context;
    if (!wrong_.empty() || !state_change_.empty()) return false;
    if (!t.error.empty()) {
      error_ = t.error;
      return false;
    }
    iterations_ = t.iterations;
    if (!record) return true;
    seconds_.insert(seconds_.end(), t.seconds.begin(), t.seconds.end());
    for (nlohmann::json e : t.benchmarks) {
      if (round >= 0) {
        if (e.value("run_type", "") != "iteration") continue;
        e["repetition_index"] = round;
        e["repetitions"] = rounds;
        // The fixed counts a round sets are not part of the cell's name ("fused/mha/.../real_time").
        for (const char* key : {"name", "run_name"})
          if (e.contains(key) && e[key].is_string()) e[key] = StripFixedCounts(e[key].get<std::string>());
      }
      entries_.push_back(std::move(e));
    }
    return true;
  }

  bool interrupted() const { return interrupted_; }
  int64_t iterations() const { return iterations_; }
  const nlohmann::json& context() const { return context_; }

  // Ends the timing (frees the copies) and fills cell: ERROR / FAIL and why, or the statistics of
  // the recorded repetitions; entries: their Google Benchmark JSON (none for FAIL).
  void Conclude(double peak_gflops, Cell& cell, nlohmann::json& entries) {
    const ab_problem& p = tc_.data.problem;
    if (!setup_error_.empty()) {
      copies_.clear();
      cell.status = "ERROR";
      cell.reason = setup_error_;
      return;
    }
    cell.rotation = static_cast<int>(copies_.size());
    std::string changed, guards;
    for (const auto& in : copies_) {
      if (changed.empty()) changed = in->inputs->ChangedFrom(tc_.data);
      if (guards.empty()) guards = in->out.DamagedGuards();
      if (guards.empty()) guards = in->inputs->DamagedGuards();
    }
    copies_.clear();
    SetThreadState(p.threads, mxcsr_);
    std::string wrong = wrong_;
    if (!guards.empty()) wrong += (wrong.empty() ? "" : "; ") + guards + " while timed";
    if (!changed.empty()) wrong += (wrong.empty() ? "" : "; ") + std::string("wrote into its read-only inputs (") + changed + ") while timed";
    if (!state_change_.empty())
      wrong += (wrong.empty() ? "" : "; ") + std::string("left the thread state changed (") + state_change_ + ") while timed";
    if (wrong.empty() && error_.empty()) wrong = RateAbovePeak(CountFlops(p).total(), ComputeStats(seconds_).min, peak_gflops, p.threads);
    if (!wrong.empty()) {
      cell.status = "FAIL";
      cell.reason = "validation passed, timing failed, not timed: " + wrong;
      return;
    }
    entries = entries_;
    if (!error_.empty() || seconds_.empty()) {
      cell.status = "ERROR";
      cell.reason = error_.empty() ? "no repetition was timed" : error_;
      return;
    }
    const Stats s = ComputeStats(seconds_);
    cell.median_s = s.median;
    cell.mean_s = s.mean;
    cell.stddev_s = s.stddev;
    cell.cv = s.cv;
    cell.min_s = s.min;
    cell.repetitions = static_cast<int64_t>(seconds_.size());
    cell.repetition_s = seconds_;
    cell.iterations = iterations_;
  }

 private:
  const LoadedBackend& b_;
  const ValidationCase& tc_;
  const unsigned mxcsr_;
  const std::function<bool()> stopping_;
  std::vector<std::unique_ptr<Copy>> copies_;
  size_t per_copy_ = 0;
  int count_ = 1;
  size_t next_ = 0;  // the copy the next timed call runs on
  std::vector<double> seconds_;
  int64_t iterations_ = 0;
  nlohmann::json entries_ = nlohmann::json::array();
  nlohmann::json context_;
  std::string setup_error_;  // prepare or the warm-up run failed: ERROR, nothing else checked
  std::string error_;        // Google Benchmark reported an error: ERROR
  std::string wrong_;        // a timed call's output was wrong: FAIL
  std::string state_change_;
  bool interrupted_ = false;
};

// A name for one config's rounds, unique across runs and resumed processes (Cell::round_group).
std::string NewRoundGroup() {
  static std::mt19937_64 gen(std::random_device{}() ^ static_cast<uint64_t>(getpid()));
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

// The prepared copies a round-by-round sweep may hold at once: a quarter of the RAM (decoding's
// largest KV caches are GBs per copy: eight backends' copies of them would not fit).
size_t DefaultRoundsBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : (4ull << 30);
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

namespace {

// RunSweep's state: the cells, the budget's history, the progress counters and the config whose
// validation / timing data is drawn. One config at a time (RunConfig).
class Sweeper {
 public:
  Sweeper(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells, const SweepOptions& o,
          BenchRun& run, size_t start)
      : plan_(plan), cells_(cells), o_(o), run_(run), mxcsr_(CaptureThreadState().mxcsr) {
    total_ = o.progress_total ? o.progress_total : cells.size() - std::min(start, cells.size());
    for (const Cell& c : run.cells) {  // history from an earlier process (resume, isolation worker)
      if (c.timed() && c.median_s > 0) predictor_.Record(c.backend, c.config.problem, c.median_s);
      else if (c.status == "SKIPPED" && c.predicted_s > 0) predictor_.Record(c.backend, c.config.problem, c.predicted_s);
    }
  }

  // Cells [begin, end), all of one config. False when o.stop ended the sweep.
  bool RunConfig(size_t begin, size_t end);
  size_t done() const { return done_; }

 private:
  // A cell of a round-by-round config, finished in plan order once the rounds are over: waiting
  // for them (in_rounds), out of them (a wrong output or an error: its timer concludes why), or
  // never timed (no timer: unsupported, skipped, failed validation).
  struct Pending {
    size_t pos;
    Cell cell;
    nlohmann::json check;
    std::unique_ptr<CellTimer> timer;
    bool in_rounds = false;
  };

  bool stopping() const { return o_.stop && o_.stop(); }
  double Eta(size_t from) const;
  void Finish(size_t pos, Cell& cell, const nlohmann::json& entries, const nlohmann::json& check);
  void Conclude(Pending& c, double peak);
  // A cell that is not timed: finished now, or with its config's rows when those are timed in rounds.
  void Settle(size_t pos, Cell& cell, const nlohmann::json& check);
  // Times the pending cells round by round, the config's peers with them when with_peers; then
  // finishes them. False when stopped.
  bool RunRounds(size_t config, bool with_peers, double peak);

  const std::vector<PlannedConfig>& plan_;
  const std::vector<CellRef>& cells_;
  const SweepOptions& o_;
  BenchRun& run_;
  const unsigned mxcsr_;  // what every cell starts from, with its config's thread counts
  BudgetPredictor predictor_;
  size_t total_ = 0, done_ = 0;
  double time_spent_cells_ = 0;  // seconds in finished cells, for the ETA
  Clock::time_point mark_ = Clock::now();  // since when the time is not counted in time_spent_cells_
  std::vector<Pending> pending_;
  size_t pending_bytes_ = 0;
};

double Sweeper::Eta(size_t from) const {
  // Remaining cells: the predicted cost when the backend has a rate (capped by the budget, 0 when
  // it will be skipped), else the average so far.
  const double avg = done_ ? time_spent_cells_ / done_ : 0;
  double s = 0;
  for (size_t i = from; i < cells_.size(); ++i) {
    const double t = predictor_.Predict(cells_[i].backend->name, plan_[cells_[i].config].config.problem);
    const double cell = t > 0 ? CellSeconds(t, o_.timing) : avg;
    s += cell > o_.budget_s ? 0 : cell;
  }
  return s;
}

void Sweeper::Finish(size_t pos, Cell& cell, const nlohmann::json& entries, const nlohmann::json& check) {
  if (o_.progress) {
    const char* who = cell.backend.c_str();
    if (cell.timed())
      std::fprintf(stderr, "        %-12s %s %s (cv %.1f%%, %lld reps), %.2f GFLOP/s\n", who, cell.status.c_str(),
                   FormatSeconds(cell.median_s).c_str(), 100 * cell.cv, static_cast<long long>(cell.repetitions),
                   CountFlops(cell.config.problem).total() / cell.median_s * 1e-9);
    else
      std::fprintf(stderr, "        %-12s %s: %s\n", who, cell.status.c_str(), cell.reason.c_str());
  }
  time_spent_cells_ += Since(mark_);
  mark_ = Clock::now();
  for (const auto& j : entries) run_.gbench["benchmarks"].push_back(j);
  run_.cells.push_back(cell);
  if (o_.on_cell) o_.on_cell({pos, run_.cells.back(), entries, check});
}

void Sweeper::Settle(size_t pos, Cell& cell, const nlohmann::json& check) {
  if (o_.rounds && o_.time_cells)
    pending_.push_back({pos, std::move(cell), check, nullptr});
  else
    Finish(pos, cell, nlohmann::json::array(), check);
}

void Sweeper::Conclude(Pending& c, double peak) {
  nlohmann::json entries = nlohmann::json::array();
  c.timer->Conclude(peak, c.cell, entries);
  if (run_.gbench.value("context", nlohmann::json()).is_null() && !c.timer->context().is_null())
    run_.gbench["context"] = c.timer->context();
  if (c.cell.timed()) predictor_.Record(c.cell.backend, c.cell.config.problem, c.cell.median_s);
  c.timer.reset();
  Finish(c.pos, c.cell, entries, c.check);
}

bool Sweeper::RunRounds(size_t config, bool with_peers, double peak) {
  const int rounds = std::max(1, o_.timing.repetitions);
  const std::string group = NewRoundGroup();
  const bool peers = with_peers && o_.peer_rounds.begin && o_.peer_rounds.begin(config, group);
  if (stopping()) return false;
  // The peers take their turn as one more row; each round starts one row later, so that no row
  // always runs right after the peers' Python process (or first, after the previous config).
  std::vector<Pending*> timed;
  for (Pending& c : pending_)
    if (c.in_rounds) timed.push_back(&c);
  const size_t rows = timed.size() + (peers ? 1 : 0);
  if (o_.progress && rows > 1)
    std::fprintf(stderr, "        %zu rows%s in %d rounds, one repetition of each per round ...\n", rows,
                 peers ? " (the backends' and the peers')" : "", rounds);
  for (int r = 0; r < rounds && rows > 0; ++r) {
    const auto round_start = Clock::now();
    for (size_t j = 0; j < rows; ++j) {
      const size_t row = (static_cast<size_t>(r) + j) % rows;
      if (row == timed.size()) {
        o_.peer_rounds.round(config);
      } else if (Pending& c = *timed[row]; c.in_rounds) {
        const RunningCell running(c.cell.name);
        // False: wrong, failed or interrupted; out of the rounds either way.
        c.in_rounds = c.timer->Time(c.cell.name, {c.timer->iterations(), 1}, true, r, rounds);
      }
      if (stopping()) return false;
    }
    // Long rounds (large configs, many rows) say where they are; short ones would only add lines.
    if (o_.progress && Since(round_start) > 5)
      std::fprintf(stderr, "        round %d/%d took %s\n", r + 1, rounds, Duration(Since(round_start)).c_str());
  }
  if (peers) o_.peer_rounds.end(config);
  for (Pending& c : pending_) {
    if (c.timer && c.in_rounds) c.cell.round_group = group;  // every round taken
    if (c.timer)
      Conclude(c, peak);
    else
      Finish(c.pos, c.cell, nlohmann::json::array(), c.check);
  }
  pending_.clear();
  pending_bytes_ = 0;
  return !stopping();
}

bool Sweeper::RunConfig(size_t begin, size_t end) {
  const Config& cfg = plan_[cells_[begin].config].config;
  const ab_problem& p = cfg.problem;
  std::optional<ValidationCase> vc, tc;  // drawn for the config's first cell that needs them
  double peak = -1;                      // measured (or cached) on first need
  const size_t cap = o_.rounds_bytes ? o_.rounds_bytes : DefaultRoundsBytes();
  for (size_t pos = begin; pos < end; ++pos) {
    if (stopping()) return false;
    const CellRef& cr = cells_[pos];
    const LoadedBackend* b = cr.backend;
    SetThreadState(p.threads, mxcsr_);  // whatever the previous cell's backend left
    if (o_.on_begin) o_.on_begin(pos);
    const RunningCell running(cr.name);
    ++done_;
    Cell cell;
    cell.section = plan_[cr.config].sections;
    cell.backend = b->name;
    cell.name = cr.name;
    cell.config = cfg;
    if (o_.progress)
      std::fprintf(stderr, "[%zu/%zu] %-12s %-40s ... ETA %s\n", o_.progress_offset + done_,
                   o_.progress_offset + total_, b->name.c_str(), Short(cfg).c_str(), Duration(Eta(pos)).c_str());
    double predicted = 0;
    if (o_.time_cells) {
      if (CallResult s = BackendInstance::Supports(*b, p); !s) {
        cell.status = "UNSUPPORTED";
        cell.reason = s.message.empty() ? "unsupported (no reason given)" : s.message;
        Settle(pos, cell, nlohmann::json());
        continue;
      }
      std::string basis;
      predicted = predictor_.Predict(b->name, p, &basis);
      cell.predicted_s = predicted;
      if (predicted > 0 && CellSeconds(predicted, o_.timing) > o_.budget_s) {
        cell.status = "SKIPPED";
        cell.reason = PredictedTooSlow(predicted, basis, o_);
        Settle(pos, cell, nlohmann::json());
        continue;
      }
    }
    // Validate right before timing, on the same data the timing uses.
    if (!vc) vc.emplace(PrepareCase(p, o_.data_seed, o_.sample_rows));
    const auto check_start = Clock::now();
    const CheckResult r = CheckBackend(*b, vc->data, vc->ref);
    // The budget goes by the one run() call, not by the whole check: with a large KV cache or
    // large weights, the guarded copies, prepare and the read-only comparison take seconds
    // (decoding B = 8, P = 8192: ~4 s around a ~0.1 s run) that a timed call never pays.
    const double t_check = r.run_seconds > 0 ? r.run_seconds : Since(check_start);
    const nlohmann::json check = CheckJson(r, vc->data_seed, vc->ref.rows_checked());
    cell.status = StatusName(r.status);
    cell.reason = r.reason;
    cell.max_abs_err = r.max_abs_err;
    cell.rel_l2_err = r.rel_l2_err;
    cell.tol_rel_l2 = r.tol.rel_l2;
    cell.workspace_bytes = r.workspace_bytes;
    cell.measured_bytes = r.measured_bytes;
    if (!cell.timed()) {
      if (r.status == Status::kFail && o_.time_cells) cell.reason = "validation failed, not timed: " + cell.reason;
      Settle(pos, cell, check);
      continue;
    }
    if (!o_.time_cells) {
      Settle(pos, cell, check);
      continue;
    }
    if (predicted <= 0) cell.predicted_s = t_check;
    if (CellSeconds(t_check, o_.timing) > o_.budget_s) {
      predictor_.Record(b->name, p, t_check);
      cell.reason = MeasuredTooSlow(cell.status, t_check, o_);
      cell.status = "SKIPPED";
      Settle(pos, cell, check);
      continue;
    }
    if (stopping()) return false;
    if (!tc) tc.emplace(MakeTimingCase(*vc));
    // Measuring the peak (once per host and build, then cached) sets threads of its own.
    if (peak < 0) peak = o_.peak_gflops ? o_.peak_gflops(p.threads) : 0;
    Pending c{pos, std::move(cell), check, std::make_unique<CellTimer>(*b, *tc, mxcsr_, [this] { return stopping(); })};
    if (c.timer->PrepareFirst(o_) && o_.rounds && !pending_.empty() && pending_bytes_ + c.timer->Bytes() > cap) {
      // Memory for one more row's copies: the rows so far take their rounds now (without the peers).
      if (o_.progress)
        std::fprintf(stderr, "        the prepared copies would exceed %s: the rows so far take their rounds now\n",
                     FormatBytes(cap).c_str());
      if (!RunRounds(cr.config, false, peak)) return false;
    }
    if (!o_.rounds) {  // the whole cell now: Google Benchmark's estimate and repetitions
      if (c.timer->PrepareRest() && !c.timer->Time(cr.name, {}, true) && c.timer->interrupted()) return false;
      Conclude(c, peak);
      continue;
    }
    // The iteration count of every round: Google Benchmark's estimate, its timing not kept.
    c.in_rounds = c.timer->PrepareRest() && c.timer->Time(cr.name, {0, 1}, false);
    if (c.timer->interrupted()) return false;
    pending_bytes_ += c.timer->Bytes();
    pending_.push_back(std::move(c));
  }
  if (o_.rounds && o_.time_cells && !RunRounds(cells_[begin].config, true, peak)) return false;
  return !stopping();
}

}  // namespace

bool RunSweep(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells, const SweepOptions& o,
              BenchRun& run, size_t start) {
  if (!run.gbench.contains("benchmarks")) run.gbench["benchmarks"] = nlohmann::json::array();
  const auto sweep_start = Clock::now();
  Sweeper sweeper(plan, cells, o, run, start);
  for (size_t begin = start; begin < cells.size();) {
    size_t end = begin;
    while (end < cells.size() && cells[end].config == cells[begin].config) ++end;
    if (!sweeper.RunConfig(begin, end)) return false;
    if (o.on_config_done) o.on_config_done(cells[begin].config);
    if (o.stop && o.stop()) return false;
    begin = end;
  }
  ComputeDerived(run, o.baseline);
  if (o.progress) std::fprintf(stderr, "done: %zu cells in %s\n", sweeper.done(), Duration(Since(sweep_start)).c_str());
  return true;
}

}  // namespace attnbench::bench
