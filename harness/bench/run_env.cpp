#include "run_env.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "../machine/machine.h"
#include "env_info.h"
#include "sgemm_ceiling.h"

namespace attnbench::bench {

nlohmann::json NewRunEnv(const Sweep& w, const IsolationSetting& isolation) {
  const SweepOptions& so = w.so;
  char min_time[32];
  std::snprintf(min_time, sizeof min_time, "%g", so.timing.min_time);
  nlohmann::json env = CollectEnv(w.backends);
  env["timing"] = {
      {"description", "Google Benchmark 1.7.1, real time, " + std::to_string(so.timing.repetitions) +
                          " repetitions of >= " + min_time + " s each; median, stddev and cv over the repetitions" +
                          (isolation.enabled
                               ? "; cell by cell (--isolate): each cell's repetitions one after the other"
                               : "; in rounds: a config's rows (backends and peers) are validated and prepared "
                                 "first, then each round times one repetition of every row, starting one row later "
                                 "each round")},
      {"order", isolation.enabled ? "cell by cell" : "rounds"},
      {"repetitions", so.timing.repetitions},
      {"min_time_s", so.timing.min_time},
      {"cache", so.cold_cache ? "cold: each iteration uses the next of N copies of input, weights, backend state and "
                                "output, N chosen so the copies span >= 2x the last-level cache (" +
                                    std::to_string(so.cold_bytes >> 20) + " MiB)"
                              : "warm: one copy, reused every iteration"},
      {"budget_s", so.budget_s},
      {"sample_rows", so.sample_rows},
      {"data_seed", so.data_seed},
      {"baseline", w.baseline},
      {"filter", so.filter}};
  env["preset"] = w.spec.PresetName();
  env["threads_swept"] = w.thread_counts;
  std::vector<std::string> unavailable;
  SgemmLibraries(&unavailable);
  env["sgemm"] = {{"n", w.spec.sgemm_size},
                  {"statistic", "best of 5 after a warm-up, per library; the ceiling is the fastest library"},
                  {"unavailable", unavailable}};
  env["isolation"] = isolation.ToJson();
  env["sweep_record"] = "sweep.json";
  return env;
}

nlohmann::json ResumeEntry(const Sweep& w, size_t kept, size_t to_run, const IsolationSetting& isolation) {
  const nlohmann::json now_env = CollectEnv(w.backends);
  return {{"date", UtcTimestamp()},
          {"git", now_env["git"]},
          {"cells_kept", kept},
          {"cells_to_run", to_run},
          {"isolation", isolation.ToJson()}};
}

void PrintBanner(const Sweep& w, const BlasInfo& blas, bool isolated, const std::string& peers_line,
                 const std::string& resume_line) {
  std::fprintf(stderr, "attnbench bench: preset %s, %zu configs x %zu backends, budget %gs/cell, BLAS %s %s kernel %s%s%s\n",
               w.spec.PresetName().c_str(), w.plan.size(), w.backends.size(), w.spec.budget_s, blas.library.c_str(),
               blas.version.c_str(), blas.kernel.c_str(),
               blas.coretype_env.empty() ? "" : (" (OPENBLAS_CORETYPE=" + blas.coretype_env + ")").c_str(),
               isolated ? ", isolated" : "");
  if (auto warn = BlasKernelWarning(blas); !warn.empty()) std::fprintf(stderr, "%s\n", warn.c_str());
  if (!peers_line.empty())
    std::fprintf(stderr, "peers (%s): %s\n",
                 isolated ? "each config's right after its backends" : "in each config's rounds, beside its backends",
                 peers_line.c_str());
  if (!resume_line.empty()) std::fprintf(stderr, "%s\n", resume_line.c_str());
}

namespace {

// ATTNBENCH_MACHINE_PROFILE=FILE: a profile measured earlier (`attnbench machine --json > FILE`,
// e.g. on a quiet machine, or once for a whole test suite) instead of measuring now.
machine::CachedProfile ReadGivenProfile(const std::string& path, const std::vector<int>& thread_counts) {
  machine::CachedProfile c;
  c.path = path;
  c.from_cache = true;
  c.note = "given by ATTNBENCH_MACHINE_PROFILE";
  std::ifstream in(path);
  if (!in) throw InputError("ATTNBENCH_MACHINE_PROFILE=" + path + ": cannot open the file");
  try {
    c.profile = nlohmann::json::parse(in).get<machine::MachineProfile>();
  } catch (const std::exception& e) {
    throw InputError("ATTNBENCH_MACHINE_PROFILE=" + path + ": not a profile of `attnbench machine --json` (" +
                     e.what() + ")");
  }
  for (int t : thread_counts)
    if (machine::BestFmaGflops(c.profile, t) <= 0)
      throw InputError("ATTNBENCH_MACHINE_PROFILE=" + path + " has no FMA peak at " + std::to_string(t) +
                       " thread(s); measure it with `attnbench machine --threads ...`");
  return c;
}

}  // namespace

void MeasureMachineProfile(const Sweep& w, bool force, bool quiet, BenchRun& run) {
  if (!force && run.env.contains("machine") && run.env["machine"].is_object()) {
    try {
      const auto kept = run.env["machine"].get<machine::MachineProfile>();
      bool covers = true;
      for (int t : w.thread_counts) covers = covers && machine::BestFmaGflops(kept, t) > 0;
      if (covers) return;  // a resumed run: the first run's roofs stay
    } catch (const std::exception&) {
      // unreadable: measure again below
    }
  }
  machine::CachedProfile c;
  if (const char* file = std::getenv("ATTNBENCH_MACHINE_PROFILE"); file && *file) {
    c = ReadGivenProfile(file, w.thread_counts);
  } else {
    if (!quiet) std::fprintf(stderr, "machine: measuring or loading the FMA peak and memory bandwidth ...\n");
    c = machine::LoadOrMeasureMachine(w.thread_counts, force);
  }
  run.env["machine"] = c.profile;
  run.env["machine_source"] = {{"from_cache", c.from_cache}, {"cache_path", c.path}, {"note", c.note},
                               {"method", "docs/machine.md; `attnbench machine` prints it"},
                               {"disturbed", machine::DisturbedReason(c.profile)}};
  const BlasInfo blas = GetBlasInfo();
  if (const std::string warn = machine::BlasIsaWarning(blas.kernel, blas.coretype_env, c.profile); !warn.empty())
    run.env["blas"]["kernel_warning"] = warn;
  if (quiet) return;
  for (int t : w.thread_counts)
    std::fprintf(stderr, "machine: %d thread(s): FMA peak %.1f GFLOP/s, memory bandwidth (triad) %.1f GB/s%s\n", t,
                 machine::BestFmaGflops(c.profile, t), machine::BestBandwidth(c.profile, "triad", t),
                 c.from_cache ? (" (cached: " + c.path + ")").c_str() : "");
}

std::function<double(int threads)> PeakLookup(const nlohmann::json& env) {
  machine::MachineProfile p;
  try {
    if (!env.is_object() || !env.contains("machine")) return [](int) { return 0.0; };
    p = env["machine"].get<machine::MachineProfile>();
  } catch (const std::exception&) {
    return [](int) { return 0.0; };
  }
  if (!machine::DisturbedReason(p).empty()) return [](int) { return 0.0; };
  return [p](int threads) { return machine::BestFmaGflops(p, threads); };
}

void MeasureCeilings(const Sweep& w, bool quiet, const std::function<bool()>& stop, BenchRun& run,
                     nlohmann::json* resume_entry) {
  const bool resuming = resume_entry != nullptr;
  nlohmann::json sgemm_now = nlohmann::json::object();
  for (int t : w.thread_counts) {
    if (stop()) break;
    const SgemmCeiling ceiling = MeasureSgemmCeiling(t, w.spec.sgemm_size);
    const SgemmRate& r = ceiling.best;
    const std::string ts = std::to_string(t);
    sgemm_now[ts] = r.gflops;
    if (!run.sgemm_gflops.count(t)) {
      run.sgemm_gflops[t] = r.gflops;
      run.env["sgemm"]["library"][ts] = r.library;
      for (const auto& l : ceiling.libraries)
        run.env["sgemm"]["by_library"][ts][l.library] =
            l.error.empty() ? nlohmann::json{{"gflops", l.gflops}, {"median_gflops", l.median_gflops}}
                            : nlohmann::json{{"error", l.error}};
    }
    if (quiet) continue;
    for (const auto& l : ceiling.libraries) {
      if (!l.error.empty()) {
        std::fprintf(stderr, "SGEMM %d^3 on %d thread(s), %s: %s\n", l.n, t, l.library.c_str(), l.error.c_str());
        continue;
      }
      const bool best = l.library == r.library;
      std::fprintf(stderr, "SGEMM %d^3 on %d thread(s), %s: %.1f GFLOP/s (median %.1f)%s%s\n", l.n, t,
                   l.library.c_str(), l.gflops, l.median_gflops, best ? " <- the ceiling" : "",
                   best && resuming ? " (re-measured; the report keeps the first run's rate)" : "");
    }
  }
  if (resume_entry) (*resume_entry)["sgemm_gflops"] = sgemm_now;
}

}  // namespace attnbench::bench
