// One timed cell through Google Benchmark: registers one benchmark at run time
// (RegisterBenchmark), runs it with the process's --benchmark_* flags, captures every
// repetition and Google Benchmark's own JSON for it, then unregisters it. Real (wall) time:
// backends run OpenMP / BLAS threads, whose work the main thread's CPU time would not show.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attnbench::bench {

struct TimedCell {
  std::vector<double> seconds;  // per iteration, one entry per repetition
  int64_t iterations = 0;       // per repetition
  std::string error;            // the body reported an error: not timed
  nlohmann::json context;       // Google Benchmark's "context" object
  nlohmann::json benchmarks;    // its "benchmarks" entries for this cell
};

// What Google Benchmark runs: `iteration` is the timed call. Google Benchmark runs the loop of
// iterations several times (to find the iteration count, then once per repetition); before_loop
// (told how many iterations the loop will run) and after_loop run around every such loop,
// outside the timed region: the place to poison the output the last call will write and to
// check it. Either returns false and sets *err to stop the cell with an error.
struct TimedBody {
  std::function<bool(std::string* err)> iteration;
  std::function<bool(int64_t iterations, std::string* err)> before_loop;  // optional
  std::function<bool(std::string* err)> after_loop;                        // optional
};
// How Google Benchmark runs the cell: 0 = what the process's --benchmark_* flags say (the
// iteration count estimated to fill --benchmark_min_time, --benchmark_repetitions repetitions).
// A round-by-round sweep (sweep.cpp) has one repetition estimated once, then one repetition of
// that fixed iteration count per round.
struct TimeCellArgs {
  int64_t iterations = 0;
  int repetitions = 0;
};
TimedCell TimeCell(const std::string& name, const TimedBody& body, TimeCellArgs args = {});

struct Stats {
  double median = 0, mean = 0, stddev = 0, cv = 0, min = 0;
};
Stats ComputeStats(std::vector<double> v);

}  // namespace attnbench::bench
