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
// rotation_of(data): the copies the runner cycles through. Returns the configs written; throws
// InputError when dir cannot be written.
using PeerCellsOf = std::function<nlohmann::json(const Config&)>;
using RotationOf = std::function<int(const ProblemData&)>;
size_t WritePeerManifest(const std::vector<PlannedConfig>& plan, const std::string& dir, uint64_t data_seed,
                         int sample_rows, const PeerCellsOf& peers_of, const RotationOf& rotation_of);

// Writes out/peers/{manifest.json, inputs/} (WritePeerManifest) for the plan, runs the runner
// (progress on stderr unless quiet), deletes the inputs, and returns its rows (empty when it was
// interrupted or could not run; *error says why). out/peers/summary.csv and peers.json stay as
// the runner wrote them.
// The timing follows the sweep's options: repetitions, min_time, budget per cell, data seed, and
// the cold-cache policy (the runner cycles through RotationCount copies of data + prepared peer).
std::vector<Cell> RunPeers(const PeerSetup& setup, const std::vector<PlannedConfig>& plan, const std::string& out,
                           const SweepOptions& so, bool quiet, std::string* error);

}  // namespace attnbench::bench
