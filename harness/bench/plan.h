// Stage 1 of `bench`: the sweep a spec (sweep.json's data) defines -- its configs, backends,
// cells in order, and the runner's options -- checked before anything runs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../plugin_loader.h"
#include "run_record.h"
#include "sweep.h"

namespace attnbench::bench {

struct Sweep {
  SweepSpec spec;
  std::vector<PlannedConfig> plan;
  std::unique_ptr<PluginRegistry> reg = std::make_unique<PluginRegistry>();
  std::vector<const LoadedBackend*> backends;
  std::vector<CellRef> cells;  // every cell, in order (a shard: its part, shard.h)
  std::vector<CellRef> sweep_cells;  // every cell of the whole sweep (== cells unless sharded)
  std::string baseline;        // resolved: "" = no speedups
  SweepOptions so;
  std::vector<int> thread_counts;  // of the plan, in order of first appearance
  std::vector<InvalidConfig> invalid;  // combinations of the grid that are not valid problems
  std::vector<std::string> CellNames() const;
  std::vector<std::string> SweepCellNames() const;
};

// Loads the spec's plugins into reg and returns the selected backends (the CLI's rules: refused
// --plugin files and unknown --backends are InputErrors).
using BackendLoader = std::function<std::vector<const LoadedBackend*>(const SweepSpec&, PluginRegistry&)>;

// Checks the spec (InputError naming the flag) and plans it; hands the --benchmark_* flags to
// Google Benchmark.
Sweep PlanSweep(const SweepSpec& spec, const BackendLoader& load_backends);

// The SKIPPED rows of the sweep's invalid combinations, one per (combination, backend), named as
// their cell would be, the reason "not a valid problem: <CheckProblem's sentence>". Not cells of
// the sweep (never run, not in sweep.json's cell list): rows of its summary and report. Empty in
// a shard but the first (merge would find them twice).
std::vector<Cell> InvalidConfigCells(const Sweep& w);

// Adds InvalidConfigCells(w) to run.cells, except those already there (a resumed run).
void AddInvalidConfigRows(const Sweep& w, BenchRun& run);

// --dry-run: the planned configs, or, resuming (resume not null), the cells left to run; then
// the peers line when not empty.
struct DryRunResume {
  std::string out;
  size_t kept = 0;
  const std::vector<CellRef>& todo;
};
void PrintDryRun(const Sweep& w, const DryRunResume* resume, const std::string& peers_line);

}  // namespace attnbench::bench
