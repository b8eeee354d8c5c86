// Framework peers in the bench (`attnbench bench --peers`): PyTorch, ONNX Runtime, OpenVINO, run
// out of process by peers/run_peers.py in its own Python venv (scripts/setup-peers). The bench
// writes the inputs and weights of every config of its sweep as .npy files -- the very data its
// backends were validated and timed on --, the runner checks each peer against the float64
// reference (FAIL is not timed) and times it, and its rows join the run's cells: same summary,
// report and plots, backend "peer-<framework>", the framework versions in env.json "peers".
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "budget.h"
#include "result.h"
#include "sweep.h"

namespace attnbench::bench {

struct PeerSetup {
  std::string python;              // the venv's interpreter
  std::string runner;              // peers/run_peers.py
  std::vector<std::string> present;  // will run, in this order
  std::vector<std::string> absent;   // requested (or, for "auto", known) but not importable
  nlohmann::json info;             // {peer: what it says about itself (version, kernels)}
  bool empty() const { return present.empty(); }
  nlohmann::json ToJson() const;   // env.json "peers"
  std::string Describe() const;    // "onnxruntime, torch; absent: openvino"
};

// --peers: "none" (nothing, no Python started), "auto" (every known peer importable in the venv;
// a missing venv means none), or a comma list (each must be importable: else InputError, before
// anything is timed). python: --peers-python, else $ATTNBENCH_PEERS_PYTHON, $PEERS_VENV/bin/python,
// <build>/peers-venv/bin/python beside the binary, <source>/build/peers-venv/bin/python.
PeerSetup ResolvePeers(const std::string& peers, const std::string& python);

// The cell names the peers get for a config: BenchmarkName("peer-<name>", config).
std::string PeerBackendName(const std::string& peer);

// Writes dir/inputs/cfgK/ (x.npy and the weights, drawn from data_seed as the sweep draws them:
// PrepareCase with sample_rows, so a mistrusted first draw is redrawn as it is for the backends)
// and dir/manifest.json (format in docs/peers.md: per config the problem, the cell name, the FLOP
// count, the tolerance and summary.csv's problem columns) for the plan's configs. peers_of(config):
// the peers to run on it (a JSON list; an empty list leaves the config out) or null (every peer);
// rotation_of(data): the copies the runner cycles through. Returns the plan indices of the configs
// written, in manifest order; throws InputError when dir cannot be written.
using PeerCellsOf = std::function<nlohmann::json(const Config&)>;
using RotationOf = std::function<int(const ProblemData&)>;
std::vector<size_t> WritePeerManifest(const std::vector<PlannedConfig>& plan, const std::string& dir,
                                      uint64_t data_seed, int sample_rows, const PeerCellsOf& peers_of,
                                      const RotationOf& rotation_of);

// The peers runner of one bench, paced by the bench (run_peers.py --paced): a config's peers are
// checked and timed while that config is, not a whole sweep later (on a shared machine the load
// drifts over minutes, and a ratio across minutes measures the drift). Two ways:
//   RunConfig      right after the config's backends: the runner checks and times them all
//                  (`run K`) while the bench waits;
//   BeginRounds, Round, EndRounds
//                  round by round with the config's backends (sweep.h): the runner checks and
//                  prepares them once (`prepare K`), takes one repetition of each per round
//                  (`rep K`), and writes their rows at the end (`finish K`), so that a slow stretch
//                  of the machine lands on the peers and the backends alike.
// Both time with the same code in the runner (a warm-up, n calls per repetition, the statistics).
//
class PeerSession {
 public:
  PeerSession(const PeerSetup& setup, const std::vector<PlannedConfig>& plan, const std::string& out,
              const SweepOptions& so, bool quiet);
  ~PeerSession();  // a runner still running gets SIGTERM
  PeerSession(const PeerSession&) = delete;
  PeerSession& operator=(const PeerSession&) = delete;

  // Has the runner check and time the peers of plan config k, and waits until it has. A config
  // runs once (a second call, or a config without peer cells, does nothing). When stop() turns
  // true while it waits, the runner is ended and nothing more runs.
  void RunConfig(size_t plan_index, const std::function<bool()>& stop);

  // Round-by-round timing of plan config k's peers (beside the backends' rounds, sweep.h):
  // BeginRounds has the runner check and prepare them (`prepare K`) and returns false when the
  // config has no peer cell, was run already, or the runner is gone; then Round (`rep K`) once per
  // round and EndRounds (`finish K`) once. stop() while waiting ends the runner, as in RunConfig.
  // A config BeginRounds started counts as run (RunConfig and Finish leave it alone); Round and
  // EndRounds on a config it did not start do nothing.
  // group: the rounds' name (Cell::round_group), given to the config's timed peer rows (RoundGroup).
  bool BeginRounds(size_t plan_index, const std::string& group, const std::function<bool()>& stop);
  void Round(size_t plan_index, const std::function<bool()>& stop);
  void EndRounds(size_t plan_index, const std::function<bool()>& stop);

  // Runs the configs not run yet (plan order) unless stop(), ends the runner, deletes the inputs
  // and returns the runner's rows (empty when it could not run or was stopped; *error says why).
  // out/peers/summary.csv and peers.json stay as the runner wrote them.
  std::vector<Cell> Finish(const std::function<bool()>& stop, std::string* error);

  // The round_group of plan config k's peer rows: "" unless BeginRounds started it.
  std::string RoundGroup(size_t plan_index) const;

 private:
  // The manifest index of plan config k, or -1 when it has no peer cell or the runner is gone.
  long ManifestIndex(size_t plan_index) const;
  // Sends one command line and waits for its answer line; false when the runner is gone (it was
  // ended: it died, or stop() turned true).
  bool Command(const std::string& line, const std::string& answer, const std::function<bool()>& stop);
  // Reads the runner's answers until `answer`; on its end (or stop()) ends it (End).
  void AwaitLine(const std::string& answer, const std::function<bool()>& stop);
  void End(bool kill);  // closes the commands, waits for the runner (SIGTERM first when kill)
  std::string dir_;
  std::vector<size_t> manifest_of_plan_;  // plan index -> manifest index + 1 (0: no peer cell)
  std::vector<bool> ran_;                 // per manifest index: run, or started by BeginRounds
  std::vector<bool> in_rounds_;           // per manifest index: between BeginRounds and EndRounds
  std::vector<std::string> round_group_;  // per manifest index: BeginRounds' group
  std::string error_;                     // set when the manifest or the runner failed
  int channel_ = -1;                      // our end of the socket the runner reads and answers on
  int pid_ = -1;
  int exit_status_ = -1;
  std::string pending_;                   // read from the channel, not yet a whole line
};

}  // namespace attnbench::bench
