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

// body runs one iteration; it returns false and sets *err to stop with an error.
TimedCell TimeCell(const std::string& name, const std::function<bool(std::string* err)>& body);

struct Stats {
  double median = 0, mean = 0, stddev = 0, cv = 0, min = 0;
};
Stats ComputeStats(std::vector<double> v);

}  // namespace attnbench::bench
