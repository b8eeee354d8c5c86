// The last stages of `bench`: the peers' rows joined to the run, the files in --out rewritten
// atomically (after every cell, so a killed run leaves whole files), and the summary.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "peers.h"
#include "plan.h"
#include "result.h"
#include "run_record.h"

namespace attnbench::bench {

// The output directory: every reporter's file, in sweep order.
class ResultsDir {
 public:
  ResultsDir(std::string out, const Sweep& w);
  // A run put together from others (merge.h): the baseline and each cell's place given.
  ResultsDir(std::string out, std::string baseline, std::map<std::string, size_t> position)
      : out_(std::move(out)), baseline_(std::move(baseline)), position_(std::move(position)) {}
  const std::string& path() const { return out_; }
  // Derived metrics, cells sorted into sweep order (peers after the backends of their config),
  // every report file replaced atomically.
  void Save(BenchRun& run);
  void WriteRecord(const SweepRecord& record) const;  // sweep.json
  // Where a peer row sorts: after the last cell of its config.
  void PlaceAt(const std::string& name, size_t position) { position_[name] = position; }

 private:
  std::string out_;
  std::string baseline_;
  std::map<std::string, size_t> position_;  // cell name -> index in the sweep
};

// Finishes the peers session (the configs whose peers have not run yet run now) and adds its rows
// (a peer's error goes to env.json "peers" "error" and stderr). A resumed run runs them again:
// they are not kept.
void AddPeerRows(const PeerSetup& peers, PeerSession& session, const Sweep& w, const std::function<bool()>& stop,
                 ResultsDir& dir, BenchRun& run);

// The closing lines (or, interrupted, the message saying how to resume); returns the exit code:
// 128 + signal, 1 when a cell FAILed / ERRORed / CRASHed / TIMEd OUT or the peers broke, else 0.
int PrintSummary(const BenchRun& run, const Sweep& w, const std::string& out, const std::string& resumed_line);

}  // namespace attnbench::bench
