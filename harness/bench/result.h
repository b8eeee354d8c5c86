// What one bench run produces, independent of any output format: the environment, the SGEMM
// ceiling, and one Cell per (section, config, backend). The reporters render this; the CSV
// reader reads it back (compare and the tests use it).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../grid.h"

namespace attnbench::bench {

// PASS / MISTRUSTED cells are timed. FAIL, UNSUPPORTED, SKIPPED (budget), FILTERED
// (--benchmark_filter), ERROR (run failed while timing), CRASHED and TIMEOUT (--isolate: the
// worker process died or hung in this cell) are not.
struct Cell {
  std::string section;  // the preset section: "seq-sweep", "heads-sweep", "variants", ...
  std::string backend;
  std::string name;     // the Google Benchmark name, unique in the run
  Config config{};
  std::string status;   // PASS, MISTRUSTED, FAIL, UNSUPPORTED, SKIPPED, FILTERED, ERROR, CRASHED, TIMEOUT
  std::string reason;   // why, for every status but PASS
  double max_abs_err = 0, rel_l2_err = 0, tol_rel_l2 = 0;
  double flops = 0;                 // the FLOP model (flop_model.h)
  int64_t repetitions = 0;          // timed repetitions
  int64_t iterations = 0;           // iterations per repetition
  double median_s = 0, mean_s = 0, stddev_s = 0, cv = 0, min_s = 0;  // per run() call
  double gflops = 0;                // flops / median
  double peak_gflops = 0;           // measured FMA peak (best ISA) at this thread count (machine.h)
  double pct_peak = 0;              // 100 * gflops / peak_gflops: the headline figure
  double bandwidth_gbs = 0;         // measured memory bandwidth (triad) at this thread count
  double min_bytes = 0;             // the byte model's minimum traffic of one run (flop_model.h)
  double achieved_gbs = 0;          // min_bytes / median: the memory rate decode is judged by
  double pct_bandwidth = 0;         // 100 * achieved_gbs / bandwidth_gbs (0 = not measured)
  double score_bytes = 0;           // what writing the T x T matrices to memory adds
  double intensity = 0;             // flops / min_bytes (FLOP per byte): the roofline's x
  double sgemm_gflops = 0;          // same-run best SGEMM at this thread count: a reference line
  std::string baseline;             // the baseline backend ("" = none measured here)
  double speedup = 0;               // baseline median / this median (0 = n/a)
  uint64_t workspace_bytes = 0;     // what the backend claims (0 for peers: they claim nothing)
  uint64_t measured_bytes = 0;      // peak memory gained in prepare + one run (memory_probe.h; 0 = not measured)
  std::string memory_flag;          // non-empty when measured exceeds the claim beyond the margin
  int rotation = 1;                 // input/state copies cycled through (cache policy)
  double predicted_s = 0;           // the budget's prediction of one run() (0 = none)
  // Per-call seconds of each timed repetition, in the order taken. Rows of a config timed in the
  // same rounds (sweep.h) share round_group ("" = timed on their own): their k-th entries were
  // taken in the same round, side by side, so their ratio cancels the machine's drift.
  std::vector<double> repetition_s;
  std::string round_group;
  bool timed() const { return status == "PASS" || status == "MISTRUSTED"; }
  // A rate above the measured peak: the peak measurement (or the FLOP model) is wrong, so no
  // percentage of it is printed.
  bool above_peak() const { return timed() && peak_gflops > 0 && gflops > peak_gflops; }
  // A cell `bench --resume` keeps instead of running again (everything but ERROR).
  bool finished() const {
    return timed() || status == "FAIL" || status == "SKIPPED" || status == "UNSUPPORTED" || status == "CRASHED" ||
           status == "TIMEOUT" || status == "FILTERED";
  }
};

struct BenchRun {
  nlohmann::json env;                   // env.json
  std::map<int, double> sgemm_gflops;   // threads -> GFLOP/s
  std::vector<Cell> cells;
  nlohmann::json gbench;                // Google Benchmark's JSON (context + benchmarks)
};

}  // namespace attnbench::bench
