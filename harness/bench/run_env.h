// env.json of a bench run: the machine, its measured peaks, the timing policy and the SGEMM
// reference rate (these stages run here, before the cells).
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "../sysinfo.h"
#include "plan.h"
#include "result.h"

namespace attnbench::bench {

struct IsolationSetting {
  bool enabled = false;
  double timeout_s = 300;
  nlohmann::json ToJson() const { return {{"enabled", enabled}, {"timeout_s", timeout_s}}; }
};

// env.json of a fresh run (the SGEMM ceilings are added by MeasureCeilings).
nlohmann::json NewRunEnv(const Sweep& w, const IsolationSetting& isolation);

// One entry of env.json "resumes" (MeasureCeilings adds its re-measured "sgemm_gflops").
nlohmann::json ResumeEntry(const Sweep& w, size_t kept, size_t to_run, const IsolationSetting& isolation);

// The stderr banner: preset, sweep size, budget, BLAS (and its warning), peers, resume counts.
void PrintBanner(const Sweep& w, const BlasInfo& blas, bool isolated, const std::string& peers_line,
                 const std::string& resume_line);

// The machine profile (harness/machine: FMA peak per ISA, memory bandwidth, clock) at every
// thread count of the plan, from the cache when it has them (force: measured again), into
// env.json "machine" with where it came from in "machine_source"; the roofs every cell's
// % of peak and roofline use. A resumed run keeps the first run's profile when it covers the
// plan's thread counts (a peak measured now would change the earlier cells' percentages).
void MeasureMachineProfile(const Sweep& w, bool force, bool quiet, BenchRun& run);

// The measured FMA peak at a thread count from env.json "machine" (SweepOptions::peak_gflops:
// a cell timed faster than it is a FAIL). Returns 0 (no check) for a count the profile lacks,
// and for every count when the profile looks disturbed (measured too low, it would FAIL honest
// backends).
std::function<double(int threads)> PeakLookup(const nlohmann::json& env);

// Measures the SGEMM ceiling at every thread count of the plan (every library; the fastest is
// the ceiling). A count the run has no ceiling for yet gets this one (env.json "sgemm" keeps who
// measured it and every library's rate); a resumed run keeps the first run's and records the
// re-measured rates in resume_entry["sgemm_gflops"]. Stops early when stop() says so.
void MeasureCeilings(const Sweep& w, bool quiet, const std::function<bool()>& stop, BenchRun& run,
                     nlohmann::json* resume_entry);

}  // namespace attnbench::bench
