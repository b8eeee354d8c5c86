// Running cells, in this process or isolated: the one runner behind `bench` and `validate`.
//
// Isolated, the cells run in worker processes (isolate.h): the command re-runs itself with its
// own worker flags (Isolation::worker_argv: whatever lets it re-derive the same cell list) plus
// this protocol's `--worker --start K --cells RANGES`; the worker (RunAsWorker) runs
// cells[RANGES][K..] and sends one JSON line before and after each on its private channel
// (isolate.h: not stdout, and with the parent's token):
//   {"begin": k}
//   {"result": k, "cell": CellToJson, "check": CheckJson or null, "benchmarks": [...], "context": {...}}
// A worker that dies, hangs or breaks the protocol in cell k makes it CRASHED / TIMEOUT, and a new
// worker goes on. A result the parent cannot take as it is (DecodeWorkerResult) makes the cell
// CRASHED too: nothing a worker sends can crash the parent or land in another cell.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.h"
#include "sweep.h"
#include "worker_result.h"

namespace attnbench::bench {

struct Isolation {
  bool enabled = false;
  double timeout_s = 300;                // per cell
  std::vector<std::string> worker_argv;  // argv[0] = executable; the protocol flags are appended
  // Each given cell's index in the cell list the worker re-derives (empty: the same list).
  std::vector<size_t> worker_indices;
};

// Runs cells like RunSweep (options.on_cell for each, in order; run.cells and run.gbench filled)
// in this process, or in workers. Isolated, options.progress prints one "[k/n] ..." line per cell.
// Returns false when options.stop ended it early.
bool RunCells(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells,
              const SweepOptions& options, BenchRun& run, const Isolation& isolation);

// The worker: cells[ranges][start..] with the protocol lines on stdout. Dies with its parent and
// leaves Ctrl-C to it. run may hold earlier cells (they seed the budget's predictions).
int RunAsWorker(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells,
                const std::string& ranges, size_t start, SweepOptions options, BenchRun& run);

// "0-5,7,9-12" <-> sorted indices (DecodeRanges throws InputError naming --cells).
std::string EncodeRanges(const std::vector<size_t>& indices);
std::vector<size_t> DecodeRanges(const std::string& text, size_t limit);

// One line for a finished cell: "PASS 1.23 ms (cv 0.4%, 5 reps)" or "FAIL: reason".
std::string CellLine(const Cell& c);

}  // namespace attnbench::bench
