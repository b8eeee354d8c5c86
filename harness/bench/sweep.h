// The cell runner of both `bench` and `validate`: for every planned config and backend,
// validate against the float64 reference (PrepareCase + CheckBackend, validate.h: the same draw,
// redraw policy and judgement for both commands), then -- unless timing is off (validate) --
// skip what the budget predicts too slow, time the rest with Google Benchmark -- a config's
// rows side by side, one repetition of each per round (SweepOptions::rounds) -- and fill the
// derived metrics (GFLOP/s, % of the measured peak, speedup vs the baseline).
//
// What a backend cannot do to the run (docs/benchmarking.md, "Reliability"): every cell starts
// from its config's thread counts and the process's MXCSR, and a backend that leaves them
// changed FAILs; each backend computes on its own copy of the inputs and a write into them
// FAILs; the timed calls run on another x than the validated one and the last call of every
// Google Benchmark loop (the estimate's and each repetition's) is checked against its reference,
// untimed; a rate above the machine's peak FAILs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../plugin_loader.h"
#include "budget.h"
#include "preset.h"
#include "result.h"

namespace attnbench {
struct ProblemData;
}

namespace attnbench::bench {

struct PlannedConfig {
  std::string sections;  // every section holding this config, joined by ';'
  Config config;
};

// A combination of a section's grid that is not a valid problem (a head count not dividing that
// variant's width): reported as a SKIPPED row per backend (InvalidConfigCells, plan.h), not run.
struct InvalidConfig {
  std::string sections;  // as PlannedConfig::sections
  Config config;
  std::string reason;    // CheckProblem's sentence
};

// The configs of all sections, each once (a config shared by two sections is timed once and
// tagged with both), in order of first appearance. Invalid combinations: without `invalid` an
// InputError; with it, collected there the same way, and an InputError only when no combination
// of any section is valid.
std::vector<PlannedConfig> PlanConfigs(const std::vector<Section>& sections, int cores,
                                       std::vector<InvalidConfig>* invalid = nullptr);

// "blas/mha/B:1/T:1024/din:768/dout:768/H:12/threads:2" (+ "/causal:0|1" when it differs from
// the variant's default, "/dropout:0.1", "/bias"): stable across runs, so compare pairs cells.
std::string BenchmarkName(const std::string& backend, const Config& c);

// One (config, backend) cell of the sweep.
struct CellRef {
  size_t config = 0;  // index into the plan
  const LoadedBackend* backend = nullptr;
  std::string name;   // BenchmarkName(backend, config)
};

// Every cell of the sweep in the order it runs (config-major, backends in the given order), minus
// those --benchmark_filter (extended regex, "" or "all" = every cell) leaves out. Deterministic:
// a `bench --isolate` worker and a `bench --resume` derive the same list from the same flags.
std::vector<CellRef> PlanCells(const std::vector<PlannedConfig>& plan,
                               const std::vector<const LoadedBackend*>& backends, const std::string& filter);

// What the runner hands on for each finished cell.
struct CellOutcome {
  size_t pos = 0;                    // index into the cells RunSweep (or RunCells) was given
  const Cell& cell;
  const nlohmann::json& benchmarks;  // its Google Benchmark JSON entries ([] when not timed)
  const nlohmann::json& check;       // CheckJson (validate.h) of its validation; null when it was not
                                     // validated; {"status", "reason"} for CRASHED / TIMEOUT
};

struct SweepOptions {
  // false: validate only (`attnbench validate`): no budget, no timing, and every cell draws its
  // config's data first, so each result names the data seed it was checked on.
  bool time_cells = true;
  TimingPlan timing;
  double budget_s = 30;
  int sample_rows = 32;
  uint64_t data_seed = 1;
  bool cold_cache = true;
  size_t cold_bytes = 64ull << 20;  // cycle through at least this many bytes per cell
  std::string baseline;             // "" = no speedups
  std::string filter;               // --benchmark_filter regex ("" = all)
  bool progress = true;             // progress + ETA on stderr
  size_t progress_offset = 0;       // cells finished before (a resumed run): added to "[k/n]"
  size_t progress_total = 0;        // n of "[k/n]" (0 = the number of cells run here)
  // Called right before cell `pos` (an index into the cells RunSweep was given) starts.
  std::function<void(size_t pos)> on_begin;
  // Called after each cell, once it is in run.cells: the bench writes its files here, so an
  // interrupted run keeps what it measured; validate prints its row.
  std::function<void(const CellOutcome& outcome)> on_cell;
  // Round by round (docs/benchmarking.md, "Rounds"): a config's cells are each validated,
  // prepared (their cold-cache copies) and given an iteration count by Google Benchmark's estimate
  // first; then each of timing.repetitions rounds times one repetition of every one of them (and
  // of the peers, peer_rounds), each round starting one row later. A slow stretch of a shared
  // machine then lands on every row of the config, not on the one being timed. While the copies
  // held would exceed rounds_bytes (0: a quarter of the RAM), the rows so far take their rounds
  // first. false: one cell after the other, each with all its repetitions (--isolate).
  bool rounds = true;
  size_t rounds_bytes = 0;
  // The other rows of a config's rounds, out of process (the bench's peers): begin(config, group)
  // before the first round (group: the rounds' Cell::round_group), false when the config has none;
  // round(config) in each round; end(config) after.
  struct PeerRounds {
    std::function<bool(size_t config, const std::string& group)> begin;
    std::function<void(size_t config)> round, end;
  } peer_rounds;
  // Called after the last of the given cells of each config (an index into the plan), before the
  // next config's first cell; not when stopped. The bench times the config's peers here when
  // they did not take part in its rounds.
  std::function<void(size_t config)> on_config_done;
  // The machine's measured FLOP peak (GFLOP/s) at a thread count, 0 when unknown: a timed cell
  // faster than it is a FAIL, not a figure (RateAbovePeak). Unset: no such check.
  std::function<double(int threads)> peak_gflops;
  // Polled between cells, between validation and timing, and every timed iteration: true
  // abandons the cell in progress (it is not added) and ends the sweep.
  std::function<bool()> stop;
};

// Runs cells[start..] of the sweep, appending a Cell to run.cells and Google Benchmark's JSON to
// run.gbench for each. run.sgemm_gflops must hold the ceiling for every thread count in the
// plan. Timed (and budget-skipped) cells already in run.cells seed the budget's predictions, as
// if they had run in this process. Returns false when options.stop ended it early.
bool RunSweep(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells, const SweepOptions& options,
              BenchRun& run, size_t start = 0);

// What to tell the user when a backend ends the process (exit()) in the middle of a cell, after
// the line naming the cell, e.g. how to resume the results folder; "" for nothing.
void SetUnfinishedRunHint(std::string hint);

// "" when flops in `seconds` is at most 1.25 x peak_gflops (the margin: the peak is itself a
// measurement) or the peak is unknown (<= 0); else why that rate cannot be a real measurement.
std::string RateAbovePeak(double flops, double seconds, double peak_gflops, int threads);

// The derived metrics of every cell (derived.cpp, idempotent): GFLOP/s from the median, % of
// the measured FMA peak at the cell's thread count (env.json "machine"), the byte model and
// arithmetic intensity, the SGEMM reference rate, speedup vs the baseline, and the memory flag
// (measured above the claimed workspace, memory_probe.h).
void ComputeDerived(BenchRun& run, const std::string& baseline);

// Bytes of a config's input, weights and output: one copy of what the cache rotation cycles.
size_t DataBytes(const ProblemData& d);

// Copies of a config's buffers to cycle through: enough that the bytes touched per cell reach
// cold_bytes, at least 1, at most 64.
int RotationCount(size_t bytes_per_copy, size_t cold_bytes, bool cold);

}  // namespace attnbench::bench
