// The time budget per cell (--budget SECONDS). A backend's time for a config is predicted from
// its own measured rate (FLOP model GFLOP/s) on the largest smaller config already timed in
// this run; a cell predicted to exceed the budget is SKIPPED before it is validated, so naive
// at T = 4096 never runs. Without history, the validation run (one call) is the prediction.
#pragma once

#include <attnbench/problem.hpp>

#include <string>
#include <vector>

namespace attnbench::bench {

struct TimingPlan {
  int repetitions = 5;
  double min_time = 0.1;  // seconds per repetition (Google Benchmark's --benchmark_min_time)
};

// Wall time a cell costs when one run() takes t seconds: the validation run, the warm-up pass,
// Google Benchmark's iteration-count estimate (~1.5 min_time) and the repetitions.
double CellSeconds(double t, const TimingPlan& plan);

class BudgetPredictor {
 public:
  // One measured run() time of backend on p.
  void Record(const std::string& backend, const ab_problem& p, double seconds);
  // Predicted seconds of one run(), and in basis the config it extrapolates from; 0 when the
  // backend has no measurement yet.
  double Predict(const std::string& backend, const ab_problem& p, std::string* basis = nullptr) const;

 private:
  struct Sample {
    std::string backend;
    ab_problem problem;
    double flops, seconds;
  };
  std::vector<Sample> samples_;
};

}  // namespace attnbench::bench
