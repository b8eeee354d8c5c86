// report.md: what a person reads. The machine and the BLAS kernel first (never hidden), then per
// section and config the backends ranked by median time, then everything not timed and why.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "report.h"

namespace attnbench::bench {

namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string EnvString(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return "?";
    p = &(*p)[k];
  }
  if (p->is_string()) return p->get<std::string>();
  return p->dump();
}

std::string ConfigTitle(const Config& c) {
  return c.Describe() + " (threads " + std::to_string(c.problem.threads) + ")";
}

class MarkdownReporter : public Reporter {
 public:
  std::string FileName() const override { return "report.md"; }
  std::string Render(const BenchRun& run) const override {
    std::ostringstream os;
    const auto& env = run.env;
    os << "# attnbench report\n\n";
    os << "- **Machine:** " << EnvString(env, {"cpu", "model"}) << ", " << EnvString(env, {"cpu", "cores"})
       << " cores, ISA: " << EnvString(env, {"cpu", "isa"}) << "\n";
    os << "- **BLAS:** " << EnvString(env, {"blas", "library"}) << " " << EnvString(env, {"blas", "version"})
       << ", kernel **" << EnvString(env, {"blas", "kernel"}) << "**, OPENBLAS_CORETYPE="
       << (EnvString(env, {"blas", "openblas_coretype_env"}).empty() ? "(unset)" : EnvString(env, {"blas", "openblas_coretype_env"}))
       << "\n";
    if (const auto w = EnvString(env, {"blas", "kernel_warning"}); !w.empty() && w != "?")
      os << "- **" << w << "**\n";
    os << "- **Highway target:** "
       << (EnvString(env, {"highway_target"}).empty() ? "(no Highway backend loaded)" : EnvString(env, {"highway_target"}))
       << "\n";
    RenderPeaks(os, run);
    os << "- **Compiler:** " << EnvString(env, {"compiler", "id"}) << ", flags `" << EnvString(env, {"compiler", "flags"})
       << "` (" << EnvString(env, {"compiler", "build_type"}) << ")\n";
    os << "- **Commit:** " << EnvString(env, {"git", "commit"})
       << (EnvString(env, {"git", "dirty"}) == "true" ? " (with uncommitted changes)" : "") << "\n";
    os << "- **Date / host:** " << EnvString(env, {"date"}) << ", " << EnvString(env, {"host"}) << "\n";
    os << "- **Timing:** " << EnvString(env, {"timing", "description"}) << "\n";
    os << "- **Cache policy:** " << EnvString(env, {"timing", "cache"}) << "\n";
    if (env.contains("isolation") && env["isolation"].is_object() && env["isolation"].value("enabled", false))
      os << "- **Isolation:** every cell ran in a worker process (--isolate), " << env["isolation"].value("timeout_s", 0.0)
         << " s timeout per cell; a crash or hang is a CRASHED / TIMEOUT row\n";
    if (env.contains("resumes") && env["resumes"].is_array())
      for (const auto& r : env["resumes"]) {
        os << "- **Resumed** " << r.value("date", "?") << " (--resume): " << r.value("cells_kept", 0)
           << " finished cells kept, " << r.value("cells_to_run", 0) << " left to run";
        if (r.contains("isolation") && r["isolation"].value("enabled", false)) os << ", isolated";
        if (r.contains("git") && r["git"].is_object() && r["git"].value("commit", "") != EnvString(env, {"git", "commit"}))
          os << ", **at another commit** (" << r["git"].value("commit", "?") << ")";
        os << "; SGEMM re-measured:";
        if (r.contains("sgemm_gflops") && r["sgemm_gflops"].is_object())
          for (const auto& [t, g] : r["sgemm_gflops"].items())
            os << " " << (g.is_number() ? Fixed(g.get<double>(), 1) : std::string("?")) << " GFLOP/s at " << t
               << " thread(s);";
        os << " the SGEMM reference above keeps the first run's rate\n";
      }
    os << "- **Backends:**";
    if (env.contains("backends"))
      for (const auto& [name, info] : env["backends"].items())
        os << " `" << Escape(name) << "`" << (info.get<std::string>().empty() ? "" : " (" + Escape(info.get<std::string>()) + ")") << ";";
    os << "\n";
    RenderPlugins(os, env);
    RenderPeers(os, env);
    os << "\n";
    os << "GFLOP/s use one FLOP model for every backend (Q/K/V projections, Q.K^T, P.V, output "
          "projection; each query counts only the keys it sees: T(T+1)/2 pairs when causal, capped by a window, plus the cache), see docs/benchmarking.md. % peak = GFLOP/s / the "
          "measured FMA peak at the cell's thread count (widest ISA). GB/s = the byte model's minimum traffic "
          "(input, weights, KV cache, output once) / median; % BW = GB/s / the measured triad bandwidth at the "
          "cell's thread count: the figure for memory-bound decoding. FLOP/B = FLOPs / that traffic: the roofline's x. Memory = peak memory measured in prepare + "
          "one run / what the backend claims (workspace_bytes). Speedup = baseline median / backend median on the "
          "same config. cv = stddev / mean over the repetitions. vs #1: for rows timed in the same rounds (one "
          "repetition of every row of the config per round), the median over the rounds of this row's time / "
          "the fastest row's time in that round, ≈ unless this row was slower in every round; for rows timed "
          "on their own (--isolate), median / the fastest row's median, ≈ when that gap is smaller than the "
          "larger cv of the two rows. ≈: within this run's spread, not an order this run can vouch for.\n\n";

    // Sections in order of first appearance; configs in order within each.
    std::vector<std::string> sections;
    std::map<std::string, std::vector<std::string>> configs_of;  // section -> config keys
    std::map<std::string, std::vector<const Cell*>> cells_of;    // config key -> cells
    for (const Cell& c : run.cells) {
      const std::string key = ConfigTitle(c.config);
      if (!cells_of.count(key)) {
        for (const auto& s : SplitSections(c.section)) {
          if (!configs_of.count(s)) sections.push_back(s);
          configs_of[s].push_back(key);
        }
      }
      cells_of[key].push_back(&c);
    }
    for (const auto& s : sections) {
      os << "## " << s << "\n\n";
      for (const auto& key : configs_of[s]) {
        auto cells = cells_of[key];
        std::stable_sort(cells.begin(), cells.end(), [](const Cell* a, const Cell* b) {
          if (a->timed() != b->timed()) return a->timed();
          return a->timed() && a->median_s < b->median_s;
        });
        os << "### " << key << "\n\n";
        os << "| # | backend | status | median | cv | vs #1 | GFLOP/s | % peak | GB/s | % BW | FLOP/B | speedup | "
              "memory (measured / claimed) | rel. error |\n";
        os << "|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
        int rank = 0;
        const Cell* fastest = nullptr;
        for (const Cell* c : cells) {
          if (c->timed()) {
            if (!fastest) fastest = c;
            os << "| " << ++rank << " | " << c->backend << " | " << c->status << " | " << FormatSeconds(c->median_s)
               << " | " << Fixed(100 * c->cv, 1) << "% | " << VsFastest(*c, *fastest) << " | " << Fixed(c->gflops, 2)
               << " | " << PctPeak(*c) << " | "
               << Fixed(c->achieved_gbs, 2) << " | " << PctBandwidth(*c) << " | " << Fixed(c->intensity, 1) << " | " << (c->speedup > 0 ? Fixed(c->speedup, 2) + "x" : "-") << " | "
               << MemoryCell(*c) << " | " << Num(c->rel_l2_err) << " |\n";
          } else {
            os << "| - | " << c->backend << " | " << c->status << " | - | - | - | - | - | - | - | " << Fixed(c->intensity, 1)
               << " | - | - | " << (c->status == "FAIL" ? Num(c->rel_l2_err) : "-") << " |\n";
          }
        }
        os << "\n";
      }
    }
    std::ostringstream notes;
    for (const Cell& c : run.cells)
      if (!c.timed() || c.status == "MISTRUSTED")
        notes << "| " << c.backend << " | " << ConfigTitle(c.config) << " | " << c.status << " | " << Escape(c.reason)
              << " |\n";
    RenderFlags(os, run);
    os << "## Not timed, failed or mistrusted\n\n";
    if (notes.str().empty()) {
      os << "Every cell passed validation and was timed.\n";
    } else {
      os << "| backend | config | status | why |\n|---|---|---|---|\n" << notes.str();
    }
    return os.str();
  }

 private:
  static bool IsPeer(const Cell& c) { return c.backend.rfind("peer-", 0) == 0; }

  // A timed row against the fastest one. Timed in the same rounds (Cell::round_group): the median
  // over the rounds of its time / the fastest row's time in that round -- each pair taken side by
  // side, so the machine's drift cancels --, "≈" unless it was slower in every round. Otherwise
  // (cell by cell): the ratio of the medians, "≈" when that gap is smaller than the larger of the
  // two rows' cv. Either way "≈" says this run's own spread does not tell the two apart (their
  // order may flip in the next run; attnbench compare's U test over runs is the check).
  static std::string VsFastest(const Cell& c, const Cell& fastest) {
    if (&c == &fastest || !(fastest.median_s > 0)) return "-";
    if (const auto paired = PairedRatios(c, fastest); !paired.empty()) {
      const bool always_slower = std::all_of(paired.begin(), paired.end(), [](double r) { return r > 1; });
      return Fixed(Median(paired), 2) + "x" + (always_slower ? "" : " ≈");
    }
    const double ratio = c.median_s / fastest.median_s;
    return Fixed(ratio, 2) + "x" + (ratio - 1 < std::max(c.cv, fastest.cv) ? " ≈" : "");
  }

  // a's time / b's time in each round both were timed in; empty unless they share their rounds.
  static std::vector<double> PairedRatios(const Cell& a, const Cell& b) {
    std::vector<double> r;
    if (a.round_group.empty() || a.round_group != b.round_group || a.repetition_s.size() != b.repetition_s.size())
      return r;
    for (size_t k = 0; k < a.repetition_s.size(); ++k)
      if (b.repetition_s[k] > 0) r.push_back(a.repetition_s[k] / b.repetition_s[k]);
    if (r.size() != a.repetition_s.size()) r.clear();
    return r;
  }

  static double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }

  // The machine's measured roofs (env.json "machine") per thread count, then the best SGEMM as
  // a reference line: the library and kernel that ran it and what fraction of the peak it is.
  static void RenderPeaks(std::ostream& os, const BenchRun& run) {
    const auto& env = run.env;
    std::map<int, std::pair<double, double>> roofs;  // threads -> (FMA GFLOP/s, triad GB/s)
    std::map<int, std::string> isa;
    for (const Cell& c : run.cells)
      if (c.peak_gflops > 0) roofs[c.config.problem.threads] = {c.peak_gflops, c.bandwidth_gbs};
    if (env.contains("machine") && env["machine"].is_object() && env["machine"].contains("fma"))
      for (const auto& f : env["machine"]["fma"])
        if (f.is_object() && f.value("gflops", 0.0) > 0) {
          const int t = f.value("threads", 0);
          if (roofs.count(t) && std::abs(f.value("gflops", 0.0) - roofs[t].first) < 1e-9) isa[t] = f.value("isa", "");
        }
    os << "- **Measured peaks** (this machine, same run or its cache; `attnbench machine`, docs/machine.md):";
    if (roofs.empty()) os << " not measured (no % of peak below)";
    for (const auto& [t, r] : roofs)
      os << " " << t << " thread(s): FMA " << Fixed(r.first, 1) << " GFLOP/s" << (isa[t].empty() ? "" : " (" + isa[t] + ")")
         << ", memory " << Fixed(r.second, 1) << " GB/s (triad);";
    if (env.contains("machine_source") && env["machine_source"].is_object())
      os << (env["machine_source"].value("from_cache", false)
                 ? " " + env["machine_source"].value("note", std::string("cached")) + ", measured " +
                       EnvString(env, {"machine", "measured_at"})
                 : " measured now (" + env["machine_source"].value("note", std::string()) + ")");
    os << "\n";
    if (const std::string why = EnvString(env, {"machine_source", "disturbed"}); !why.empty() && why != "?")
      os << "- **WARNING: the peaks were measured while other work had the cores (" << why
         << "): they are too low, so every % of peak below is too high. Re-measure on a quiet machine: "
            "`attnbench machine --remeasure`.**\n";
    os << "- **SGEMM reference** (not a roof: the best SGEMM library measured in this run):";
    for (const auto& [t, g] : run.sgemm_gflops) {
      const std::string ts = std::to_string(t);
      const std::string lib = EnvString(env, {"sgemm", "library", ts.c_str()});
      os << " " << Fixed(g, 1) << " GFLOP/s at " << t << " thread(s)" << (lib.empty() || lib == "?" ? "" : " (" + lib + ")");
      if (roofs.count(t) && roofs[t].first > 0) {
        const double pct = 100 * g / roofs[t].first;
        os << (pct <= 100 ? " = " + Fixed(pct, 0) + " % of the peak"
                          : " = above the measured peak, so the peak measurement is wrong");
      }
      // The other libraries' rates at this thread count, for what the BLAS choice is worth.
      if (env.contains("sgemm") && env["sgemm"].contains("by_library") && env["sgemm"]["by_library"].contains(ts))
        for (const auto& [name, r] : env["sgemm"]["by_library"][ts].items()) {
          if (name == lib || !r.is_object()) continue;
          os << ", " << name << " "
             << (r.contains("gflops") && r["gflops"].is_number() ? Fixed(r["gflops"].get<double>(), 1) + " GFLOP/s"
                                                                 : "failed: " + r.value("error", std::string("?")));
        }
      os << ";";
    }
    if (env.contains("sgemm") && env["sgemm"].contains("unavailable") && env["sgemm"]["unavailable"].is_array())
      for (const auto& u : env["sgemm"]["unavailable"])
        if (u.is_string()) os << " not measured: " << u.get<std::string>() << ";";
    os << "\n";
  }

  // "72.4%", or a pointer to Flags when the rate is above the measured peak (never a figure
  // above 100 % of it), or "-" when no peak was measured.
  static std::string PctPeak(const Cell& c) {
    if (c.above_peak()) return "**above peak**";
    return c.peak_gflops > 0 ? Fixed(c.pct_peak, 1) + "%" : "-";
  }

  // "61.0%", or "-" when no bandwidth was measured.
  static std::string PctBandwidth(const Cell& c) {
    return c.bandwidth_gbs > 0 ? Fixed(c.pct_bandwidth, 1) + "%" : "-";
  }

  static std::string MemoryCell(const Cell& c) {
    const std::string measured = c.measured_bytes > 0 ? FormatBytes(c.measured_bytes) : "0";
    const std::string claimed = IsPeer(c) ? "-" : FormatBytes(c.workspace_bytes);
    return measured + " / " + claimed + (c.memory_flag.empty() ? "" : " **over**");
  }

  // Cells whose figures cannot be taken at face value: a rate above the measured peak (the peak
  // measurement or the FLOP model is wrong, since the output was validated), memory above the claim.
  static void RenderFlags(std::ostream& os, const BenchRun& run) {
    std::ostringstream rows;
    for (const Cell& c : run.cells) {
      if (c.above_peak())
        rows << "| " << c.backend << " | " << ConfigTitle(c.config) << " | above peak | " << Fixed(c.gflops, 1)
             << " GFLOP/s > the measured FMA peak " << Fixed(c.peak_gflops, 1) << " GFLOP/s at "
             << c.config.problem.threads
             << " thread(s): the peak measurement is wrong (re-measure: `bench --remeasure`, `attnbench machine "
                "--remeasure`), or the backend does less work than the FLOP model counts; no % of peak is printed |\n";
      if (!c.memory_flag.empty())
        rows << "| " << c.backend << " | " << ConfigTitle(c.config) << " | memory over claim | " << Escape(c.memory_flag)
             << " |\n";
    }
    if (rows.str().empty()) return;
    os << "## Flags\n\n| backend | config | flag | detail |\n|---|---|---|---|\n" << rows.str() << "\n";
  }

  // "- **Plugin `naive`:** `/path/libattnbench-naive.so`, GNU 12.2.0, Release, flags `-O3 -DNDEBUG`"
  // per backend (the host's compiler line above says nothing about a plugin built elsewhere),
  // then a warning line for each plugin built without optimisation.
  static void RenderPlugins(std::ostream& os, const nlohmann::json& env) {
    if (!env.contains("plugins") || !env["plugins"].is_object()) return;
    for (const auto& [name, p] : env["plugins"].items()) {
      if (!p.is_object()) continue;
      os << "- **Plugin `" << Escape(name) << "`:** `" << Escape(p.value("file", "?")) << "`, ";
      if (p.contains("flags"))
        os << Escape(p.value("compiler", "?")) << ", " << (p.value("build_type", "").empty() ? "no build type" : Escape(p.value("build_type", "")))
           << ", flags `" << Escape(p.value("flags", "")) << "`\n";
      else
        os << Escape(p.value("build", "unknown")) << "\n";
    }
    for (const auto& [name, p] : env["plugins"].items())
      if (p.is_object() && !p.value("warning", "").empty()) os << "- **Warning:** " << Escape(p.value("warning", "")) << "\n";
  }

  // "- **Peers:** `peer-onnxruntime` (onnxruntime 1.32.0: ...); absent: torch" -- what each
  // framework says about itself, so a peer's number is never read without its version.
  static void RenderPeers(std::ostream& os, const nlohmann::json& env) {
    if (!env.contains("peers") || !env["peers"].is_object()) return;
    const auto& peers = env["peers"];
    if (peers.value("requested", "none") == "none") return;
    os << "- **Peers** (other frameworks, out of process, `--peers " << peers.value("requested", "") << "`; rows named "
       << "`peer-<framework>`, checked against the same float64 reference on the same inputs; timed from Python "
          "(call overhead included) with the same repetitions and cache policy; they claim no workspace, their memory is measured):";
    if (peers.contains("info") && peers["info"].is_object())
      for (const auto& [name, info] : peers["info"].items()) {
        os << " `peer-" << name << "`";
        std::string details;
        if (info.is_object())
          for (const auto& [k, v] : info.items())
            details += (details.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
        os << " (" << details << ");";
      }
    if (peers.contains("absent") && peers["absent"].is_array() && !peers["absent"].empty()) {
      os << " **absent:**";
      for (const auto& a : peers["absent"]) os << " " << a.get<std::string>();
      os << " (scripts/setup-peers installs them)";
    }
    if (peers.contains("error")) os << " **peers runner error:** " << peers["error"].get<std::string>();
    os << "\n";
  }

  static std::string Num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2e", v);
    return buf;
  }
  static std::string Escape(const std::string& s) {
    std::string out;
    // Plugin text (a backend's message, its runtime info) must not end a table row or a code span.
    for (char ch : s)
      out += ch == '|' ? std::string("\\|") : ch == '`' ? std::string("'") : (ch == '\n' || ch == '\r') ? std::string(" ") : std::string(1, ch);
    return out;
  }
};

}  // namespace

std::unique_ptr<Reporter> MakeMarkdownReporter() { return std::make_unique<MarkdownReporter>(); }

}  // namespace attnbench::bench
