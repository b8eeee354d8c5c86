// `bench --shard i/N`: one of N deterministic parts of a sweep's cells, balanced by predicted
// cost, so N machines (a Slurm job array, a CI matrix) each run one part into its own complete
// run directory and `attnbench merge` joins them (docs/scale-out.md).
#pragma once

#include <string>
#include <vector>

#include "budget.h"
#include "sweep.h"

namespace attnbench::bench {

struct ShardSpec {
  int index = 0;  // 0-based
  int count = 1;  // 1 = not sharded
  bool sharded() const { return count > 1; }
  std::string ToString() const { return std::to_string(index) + "/" + std::to_string(count); }
};

// "i/N" with 0 <= i < N, 1 <= N <= 4096; InputError naming --shard otherwise.
ShardSpec ParseShard(const std::string& text);

// Predicted wall seconds of one cell before anything has run: one run() at a nominal rate per
// thread (FLOP model), turned into the cell's cost by CellSeconds (validation, warm-up, the
// repetitions), capped at the budget (a cell predicted above it is SKIPPED early).
double PredictedCellSeconds(const Config& c, const TimingPlan& timing, double budget_s);

// The cells of shard s, in sweep order: longest-predicted-first greedy (each cell to the shard
// with the least predicted load so far; ties to the lower index), the same for every shard given
// the same cells and costs.
std::vector<CellRef> ShardCells(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells,
                                const TimingPlan& timing, double budget_s, ShardSpec s);

}  // namespace attnbench::bench
