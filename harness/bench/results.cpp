#include "results.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "atomic_file.h"
#include "report.h"

namespace attnbench::bench {

namespace fs = std::filesystem;

ResultsDir::ResultsDir(std::string out, const Sweep& w) : out_(std::move(out)), baseline_(w.baseline) {
  for (size_t k = 0; k < w.cells.size(); ++k) position_[w.cells[k].name] = k;
  // The cells finished so far are saved after each one: a backend's exit() leaves a resumable run.
  SetUnfinishedRunHint("results so far in " + out_ + "; continue with `attnbench bench --resume " + out_ + "`");
}

void ResultsDir::Save(BenchRun& run) {
  ComputeDerived(run, baseline_);
  std::stable_sort(run.cells.begin(), run.cells.end(),
                   [&](const Cell& a, const Cell& b) { return position_[a.name] < position_[b.name]; });
  for (const auto& f : ReporterFormats()) {
    const auto r = MakeReporter(f);
    WriteFileAtomic((fs::path(out_) / r->FileName()).string(), r->Render(run));
  }
}

void ResultsDir::WriteRecord(const SweepRecord& record) const {
  WriteFileAtomic((fs::path(out_) / "sweep.json").string(), SweepRecordJson(record).dump(2) + "\n");
}

void AddPeerRows(const PeerSetup& peers, PeerSession& session, const Sweep& w, const std::function<bool()>& stop,
                 ResultsDir& dir, BenchRun& run) {
  std::map<size_t, size_t> last_of_config;
  for (size_t k = 0; k < w.cells.size(); ++k) last_of_config[w.cells[k].config] = k;
  std::map<std::string, size_t> peer_position, peer_config;
  for (size_t ci = 0; ci < w.plan.size(); ++ci)
    for (const auto& n : peers.present) {
      const std::string name = BenchmarkName(PeerBackendName(n), w.plan[ci].config);
      peer_position[name] = last_of_config.count(ci) ? last_of_config[ci] : w.cells.size();
      peer_config[name] = ci;
    }
  std::string error;
  std::vector<Cell> rows = session.Finish(stop, &error);
  if (!error.empty() && !stop()) std::fprintf(stderr, "attnbench bench: peers: %s\n", error.c_str());
  for (Cell& c : rows) {
    auto it = peer_position.find(c.name);
    if (it == peer_position.end()) continue;  // not a cell of this sweep: ignore
    // Timed in the config's rounds, beside its backends: paired with them round by round.
    if (c.timed() && c.repetition_s.size() == static_cast<size_t>(c.repetitions))
      c.round_group = session.RoundGroup(peer_config[c.name]);
    dir.PlaceAt(c.name, it->second);
    run.cells.push_back(std::move(c));
  }
  if (!error.empty()) run.env["peers"]["error"] = error;
}

int PrintSummary(const BenchRun& run, const Sweep& w, const std::string& out, const std::string& resumed_line) {
  if (const int sig = InterruptSignal()) {
    std::fprintf(stderr,
                 "attnbench bench: interrupted (%s) after %zu of %zu cells; results so far in %s; continue with "
                 "`attnbench bench --resume %s`\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", run.cells.size(), w.cells.size(), out.c_str(), out.c_str());
    return 128 + sig;
  }
  std::map<std::string, int> counts;
  for (const auto& c : run.cells) ++counts[c.status];
  std::printf("attnbench bench:");
  for (const auto& [st, n] : counts) std::printf(" %d %s", n, st.c_str());
  std::printf("\n");
  if (!resumed_line.empty()) std::printf("%s\n", resumed_line.c_str());
  std::printf("results: %s (report.md, summary.csv, bench.json, env.json)\n", out.c_str());
  const bool peers_broke = run.env["peers"].contains("error");
  if (peers_broke) std::printf("peers: %s\n", run.env["peers"]["error"].get<std::string>().c_str());
  return counts["FAIL"] || counts["ERROR"] || counts["CRASHED"] || counts["TIMEOUT"] || peers_broke ? 1 : 0;
}

}  // namespace attnbench::bench
