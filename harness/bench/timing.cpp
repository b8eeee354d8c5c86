#include "timing.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace attnbench::bench {

namespace {

// Forwards everything to Google Benchmark's JSONReporter (writing into a string) and keeps the
// per-repetition times. Passed as the display reporter, so Google Benchmark prints nothing.
class CaptureReporter : public benchmark::BenchmarkReporter {
 public:
  CaptureReporter() {
    json_.SetOutputStream(&out_);
    json_.SetErrorStream(&err_);
  }
  bool ReportContext(const Context& context) override { return json_.ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    json_.ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      if (r.error_occurred) {
        error_ = r.error_message;
        continue;
      }
      if (r.iterations > 0) {
        seconds_.push_back(r.real_accumulated_time / static_cast<double>(r.iterations));
        iterations_ = r.iterations;
      }
    }
  }
  void Finalize() override { json_.Finalize(); }

  std::string json() const { return out_.str(); }
  std::vector<double> seconds_;
  int64_t iterations_ = 0;
  std::string error_;

 private:
  benchmark::JSONReporter json_;
  std::ostringstream out_, err_;
};

}  // namespace

TimedCell TimeCell(const std::string& name, const TimedBody& body, TimeCellArgs args) {
  benchmark::ClearRegisteredBenchmarks();
  // Google Benchmark keeps the pointer SkipWithError gets: the message must outlive the run.
  std::string err;
  benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(name.c_str(), [&body, &err](benchmark::State& st) {
    err.clear();
    // Google Benchmark starts its clock when the loop begins and stops it when the loop ends.
    if (body.before_loop && !body.before_loop(static_cast<int64_t>(st.max_iterations), &err)) {
      st.SkipWithError(err.c_str());
      return;
    }
    for (auto _ : st) {
      if (!body.iteration(&err)) {
        st.SkipWithError(err.c_str());
        break;
      }
    }
    if (err.empty() && body.after_loop && !body.after_loop(&err)) st.SkipWithError(err.c_str());
  });
  b->UseRealTime()->Unit(benchmark::kMillisecond);
  if (args.iterations > 0) b->Iterations(args.iterations);
  if (args.repetitions > 0) b->Repetitions(args.repetitions);
  CaptureReporter rep;
  // The one registered benchmark always runs: the user's --benchmark_filter was applied when
  // the sweep was planned (so that filtered cells are not even validated).
  benchmark::RunSpecifiedBenchmarks(&rep, ".");
  benchmark::ClearRegisteredBenchmarks();
  TimedCell t;
  t.seconds = rep.seconds_;
  t.iterations = rep.iterations_;
  t.error = rep.error_;
  try {
    const auto j = nlohmann::json::parse(rep.json());
    t.context = j.value("context", nlohmann::json::object());
    t.benchmarks = j.value("benchmarks", nlohmann::json::array());
  } catch (const std::exception& e) {
    t.error = t.error.empty() ? std::string("cannot parse Google Benchmark's JSON: ") + e.what() : t.error;
  }
  if (t.seconds.empty() && t.error.empty()) t.error = "Google Benchmark reported no repetitions";
  return t;
}

Stats ComputeStats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.min = v.front();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / n;
  if (n > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / (n - 1));  // sample stddev, as Google Benchmark reports it
  }
  s.cv = s.mean > 0 ? s.stddev / s.mean : 0;
  return s;
}

}  // namespace attnbench::bench
