// The sweep: for every planned config and backend, validate against the float64 reference
// right before timing, skip what the budget predicts too slow, time the rest with Google
// Benchmark, and fill the derived metrics (GFLOP/s, % of SGEMM, speedup vs the baseline).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "../plugin_loader.h"
#include "budget.h"
#include "preset.h"
#include "result.h"

namespace attnbench::bench {

struct PlannedConfig {
  std::string sections;  // every section holding this config, joined by ';'
  Config config;
};

// The configs of all sections, each once (a config shared by two sections is timed once and
// tagged with both), in order of first appearance.
std::vector<PlannedConfig> PlanConfigs(const std::vector<Section>& sections, int cores);

// "blas/mha/B:1/T:1024/din:768/dout:768/H:12/threads:2" (+ "/causal:0|1" when it differs from
// the variant's default, "/dropout:0.1", "/bias"): stable across runs, so compare pairs cells.
std::string BenchmarkName(const std::string& backend, const Config& c);

struct SweepOptions {
  TimingPlan timing;
  double budget_s = 30;
  int sample_rows = 32;
  uint64_t data_seed = 1;
  bool cold_cache = true;
  size_t cold_bytes = 64ull << 20;  // cycle through at least this many bytes per cell
  std::string baseline;             // "" = no speedups
  std::string filter;               // --benchmark_filter regex ("" = all)
  bool progress = true;             // progress + ETA on stderr
  // Called after each config with the results so far (the bench writes its files there, so an
  // interrupted run keeps what it measured).
  std::function<void(const BenchRun&)> checkpoint;
};

// Runs the sweep, appending cells to run.cells and Google Benchmark's JSON to run.gbench.
// run.sgemm_gflops must hold the ceiling for every thread count in the plan.
void RunSweep(const std::vector<PlannedConfig>& plan, const std::vector<const LoadedBackend*>& backends,
              const SweepOptions& options, BenchRun& run);

// GFLOP/s, % of SGEMM, speedup vs baseline, from the medians (idempotent).
void ComputeDerived(BenchRun& run, const std::string& baseline);

// Copies of a config's buffers to cycle through: enough that the bytes touched per cell reach
// cold_bytes, at least 1, at most 64.
int RotationCount(size_t bytes_per_copy, size_t cold_bytes, bool cold);

}  // namespace attnbench::bench
