// bench.json is Google Benchmark's own JSON (context + benchmarks, every repetition and the
// aggregates), so google/benchmark's tools/compare.py reads it unchanged. env.json is the
// environment record.
#include "report.h"

namespace attnbench::bench {

namespace {

class JsonReporter : public Reporter {
 public:
  std::string FileName() const override { return "bench.json"; }
  std::string Render(const BenchRun& run) const override {
    nlohmann::json j = run.gbench;
    if (!j.contains("context") || !j["context"].is_object()) j["context"] = nlohmann::json::object();
    if (!j.contains("benchmarks")) j["benchmarks"] = nlohmann::json::array();
    return j.dump(2) + "\n";
  }
};

class EnvReporter : public Reporter {
 public:
  std::string FileName() const override { return "env.json"; }
  std::string Render(const BenchRun& run) const override {
    nlohmann::json j = run.env;
    nlohmann::json sgemm = nlohmann::json::object();
    for (const auto& [threads, gflops] : run.sgemm_gflops) sgemm[std::to_string(threads)] = gflops;
    j["sgemm_gflops"] = sgemm;
    return j.dump(2) + "\n";
  }
};

}  // namespace

std::unique_ptr<Reporter> MakeJsonReporter() { return std::make_unique<JsonReporter>(); }
std::unique_ptr<Reporter> MakeEnvReporter() { return std::make_unique<EnvReporter>(); }

}  // namespace attnbench::bench
