// The (resume) stage of `bench`: what an earlier run in DIR left, whether this sweep may
// continue it, and which cells are finished (kept) and which are left to run.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../sysinfo.h"
#include "plan.h"
#include "result.h"
#include "run_record.h"

namespace attnbench::bench {

struct PreviousRun {
  nlohmann::json env;       // env.json (null when absent)
  nlohmann::json gbench;    // bench.json (null when absent)
  std::vector<Cell> cells;  // summary.csv's rows
};
// InputError when a file is there but unreadable, or env.json is gone while cells are kept.
PreviousRun ReadPreviousRun(const std::string& dir);
// summary.csv's rows when readable, else none (a worker only seeds predictions from them).
std::vector<Cell> ReadFinishedRows(const std::string& dir);

// Refuses (InputError) a resume whose re-derived cells, backends or BLAS differ from the
// recorded run's.
void CheckSameCells(const SweepRecord& rec, const Sweep& w, const std::string& out);
void CheckSameEnvironment(const nlohmann::json& old_env, const Sweep& w, const BlasInfo& blas);

struct CellsLeft {
  std::set<std::string> kept;  // names of the finished cells kept from the earlier run
  std::vector<CellRef> todo;   // the rest, in sweep order
};
// Moves the finished rows of old_cells that are cells of w into run.cells (in their order).
CellsLeft SplitFinished(const Sweep& w, const std::vector<Cell>& old_cells, BenchRun& run);

// The earlier run's env.json, SGEMM ceilings and the Google Benchmark entries of the kept cells
// (a killed run may have written bench.json after a cell it then lost from summary.csv).
void AdoptPreviousRun(const PreviousRun& prev, const std::set<std::string>& kept, BenchRun& run);

}  // namespace attnbench::bench
