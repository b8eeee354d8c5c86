// ComputeDerived (sweep.h): every figure of a cell that follows from its median, its config and
// the machine profile of the run, recomputed whenever the files are written (so a resumed or
// merged run derives them the same way).
#include <map>

#include "../machine/machine.h"
#include "../memory_probe.h"
#include "flop_model.h"
#include "sweep.h"

namespace attnbench::bench {

namespace {

struct MachineRoofs {
  std::map<int, double> fma_gflops;     // threads -> best ISA's FMA peak
  std::map<int, double> triad_gbs;      // threads -> triad bandwidth
};

// The roofs of env.json "machine" (absent or unreadable: none, and no % of peak is printed).
MachineRoofs ReadRoofs(const nlohmann::json& env) {
  MachineRoofs r;
  if (!env.is_object() || !env.contains("machine") || !env["machine"].is_object()) return r;
  machine::MachineProfile p;
  try {
    p = env["machine"].get<machine::MachineProfile>();
  } catch (const std::exception&) {
    return r;
  }
  for (const auto& f : p.fma) r.fma_gflops[f.threads] = machine::BestFmaGflops(p, f.threads);
  for (const auto& b : p.bandwidth) r.triad_gbs[b.threads] = machine::BestBandwidth(p, "triad", b.threads);
  return r;
}

double At(const std::map<int, double>& m, int threads) {
  auto it = m.find(threads);
  return it == m.end() ? 0 : it->second;
}

bool IsPeer(const Cell& c) { return c.backend.rfind("peer-", 0) == 0; }

}  // namespace

void ComputeDerived(BenchRun& run, const std::string& baseline) {
  const MachineRoofs roofs = ReadRoofs(run.env);
  std::map<std::string, double> base;  // config name -> baseline median
  for (const Cell& c : run.cells)
    if (c.backend == baseline && c.timed() && c.median_s > 0) base[BenchmarkName("", c.config)] = c.median_s;
  for (Cell& c : run.cells) {
    const ab_problem& p = c.config.problem;
    c.flops = CountFlops(p).total();
    const ByteCount bytes = CountBytes(p);
    c.min_bytes = bytes.minimum();
    c.score_bytes = bytes.score_matrices;
    c.intensity = ArithmeticIntensity(p);
    c.peak_gflops = At(roofs.fma_gflops, p.threads);
    c.bandwidth_gbs = At(roofs.triad_gbs, p.threads);
    c.sgemm_gflops = At(run.sgemm_gflops, p.threads);
    c.memory_flag = !IsPeer(c) && c.measured_bytes > 0 && ExceedsClaim(c.measured_bytes, c.workspace_bytes)
                        ? DescribeMemoryExcess(c.measured_bytes, c.workspace_bytes)
                        : "";
    if (!c.timed() || c.median_s <= 0) {
      c.gflops = c.pct_peak = c.speedup = c.achieved_gbs = c.pct_bandwidth = 0;
      continue;
    }
    c.gflops = c.flops / c.median_s * 1e-9;
    c.pct_peak = c.peak_gflops > 0 ? 100 * c.gflops / c.peak_gflops : 0;
    // Decode is memory-bound (about 2 FLOP/B): its figure is the byte model's minimum traffic per
    // second against the measured triad bandwidth, as GFLOP/s is against the FMA peak.
    c.achieved_gbs = c.min_bytes / c.median_s * 1e-9;
    c.pct_bandwidth = c.bandwidth_gbs > 0 ? 100 * c.achieved_gbs / c.bandwidth_gbs : 0;
    c.baseline = baseline;
    auto b = base.find(BenchmarkName("", c.config));
    c.speedup = b == base.end() ? 0 : b->second / c.median_s;
  }
}

}  // namespace attnbench::bench
