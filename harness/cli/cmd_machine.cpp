// attnbench machine: what this machine can do, measured on it (harness/machine/, docs/machine.md):
// FMA peak per ISA and thread count, memory bandwidth, clock; the BLAS kernel and whether it is
// narrower than the CPU.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>

#include "../grid.h"
#include "../machine/machine.h"
#include "../sysinfo.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct MachineOptions {
  std::string threads;  // "1,2"
  CLI::Option* threads_opt = nullptr;  // unset: 1 and every core
  bool remeasure = false;
  bool json = false;
};

// "1,2,4" -> {1, 2, 4}; InputError for anything else.
std::vector<int> ParseThreadList(const std::string& list) {
  std::vector<int> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 1 || v > 4096)
      throw InputError("--threads: '" + item + "' is not a thread count (1..4096); expected e.g. --threads 1,2");
    out.push_back(v);
  }
  if (out.empty()) throw InputError("--threads: empty list; expected e.g. --threads 1,2");
  return out;
}

std::vector<int> DefaultThreads() {
  std::set<int> s = {1, CpuCount()};
  return {s.begin(), s.end()};
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void PrintTable(const machine::CachedProfile& c, const std::vector<int>& threads, const BlasInfo& blas) {
  const machine::MachineProfile& p = c.profile;
  std::cout << "CPU:   " << p.cpu_model << " (" << CpuCount() << " threads; " << CpuSimdFlags() << ")\n";
  std::cout << "Clock: " << (p.clock.measured_ghz > 0 ? Fixed(p.clock.measured_ghz, 2) + " GHz measured" : "not measured")
            << (p.clock.cpuinfo_mhz > 0 ? ", /proc/cpuinfo says " + Fixed(p.clock.cpuinfo_mhz, 0) + " MHz" : "")
            << "\n";
  std::cout << "BLAS:  " << blas.library << " " << blas.version << ", kernel " << blas.kernel
            << (blas.coretype_env.empty() ? "" : " (OPENBLAS_CORETYPE=" + blas.coretype_env + ")") << "\n\n";

  std::cout << "FMA peak, GFLOP/s (" << p.fma_method.chains << " independent accumulators, best of "
            << p.fma_method.repetitions << " to " << p.fma_method.max_repetitions << " runs):\n";
  std::cout << "  ISA          lanes  op   ";
  for (int t : threads) std::printf("%10s", ("T=" + std::to_string(t)).c_str());
  std::cout << "\n";
  std::cout.flush();
  std::vector<std::string> isas;
  for (const auto& f : p.fma)
    if (std::find(isas.begin(), isas.end(), f.isa) == isas.end()) isas.push_back(f.isa);
  for (const std::string& isa : isas) {
    const machine::FmaPeak* any = nullptr;
    for (const auto& f : p.fma)
      if (f.isa == isa) any = &f;
    const std::string label = isa == "AVX3" ? "AVX3 (512)" : isa == "AVX2" ? "AVX2 (256)" : isa + " (128)";
    std::printf("  %-12s %5d  %-4s", label.c_str(), any->lanes, any->fused ? "fma" : "m+a");
    for (int t : threads) {
      double g = 0;
      for (const auto& f : p.fma)
        if (f.isa == isa && f.threads == t) g = f.gflops;
      std::printf("%10s", g > 0 ? Fixed(g, 1).c_str() : "-");
    }
    std::printf("\n");
  }
  std::printf("\nMemory bandwidth, GB/s (%.0f MiB in 3 arrays, LLC %.0f MiB, %s, best of %d to %d runs):\n",
              p.memory_method.buffer_bytes / 1048576.0, p.memory_method.llc_bytes / 1048576.0,
              p.memory_method.stream_isa.c_str(), p.memory_method.repetitions,
              p.memory_method.max_repetitions);
  std::printf("  kernel                     ");
  for (int t : threads) std::printf("%10s", ("T=" + std::to_string(t)).c_str());
  std::printf("\n");
  for (const char* k : {"triad", "read"}) {
    std::printf("  %-27s", std::string(k) == "triad" ? "triad a=b+s*c (12 B/elem)" : "read sum (4 B/elem)");
    for (int t : threads) {
      const double g = machine::BestBandwidth(p, k, t);
      std::printf("%10s", g > 0 ? Fixed(g, 1).c_str() : "-");
    }
    std::printf("\n");
  }
  std::printf("\n%s: %s (%s)\n", c.from_cache ? "Cached" : "Measured", c.path.c_str(), c.note.c_str());
  std::fflush(stdout);
}

}  // namespace

void AddMachineCommand(CLI::App& app, int& rc) {
  static MachineOptions o;
  CLI::App* sub = app.add_subcommand(
      "machine",
      "Measure this machine: FMA peak per ISA and thread count, memory bandwidth (triad, read), clock; "
      "cached per host and build (docs/machine.md)");
  o.threads_opt = sub->add_option("--threads", o.threads, "Comma-separated thread counts to measure (default: 1 and all cores)");
  sub->add_flag("--remeasure", o.remeasure, "Ignore the cached profile and measure again");
  sub->add_flag("--json", o.json, "Print the profile as JSON (with how each figure was measured)");
  sub->callback([&rc] {
    const std::vector<int> threads = o.threads_opt->count() == 0 ? DefaultThreads() : ParseThreadList(o.threads);
    const machine::CachedProfile c = machine::LoadOrMeasureMachine(threads, o.remeasure);
    const BlasInfo blas = GetBlasInfo();
    if (o.json) {
      nlohmann::json j = c.profile;
      j["cache"] = {{"path", c.path}, {"from_cache", c.from_cache}, {"note", c.note}};
      j["blas"] = {{"library", blas.library}, {"version", blas.version}, {"kernel", blas.kernel},
                   {"openblas_coretype_env", blas.coretype_env}};
      std::cout << j.dump(2) << "\n";
    } else {
      std::set<int> unique(threads.begin(), threads.end());
      PrintTable(c, {unique.begin(), unique.end()}, blas);
    }
    if (const std::string w = machine::BlasIsaWarning(blas.kernel, blas.coretype_env, c.profile); !w.empty())
      std::cerr << w << "\n";
    rc = kExitOk;
  });
}

}  // namespace attnbench::cli
