// attnbench peers-manifest (hidden; peers/run_peers.py runs it): the configs of a grid and their
// inputs as `bench --peers` hands them to the peers runner -- DIR/manifest.json (problem, cell
// name, FLOP count, tolerance, summary.csv columns) and DIR/inputs/ --, so that the runner on its
// own takes all of that from the C++ side as it does inside a bench.
#include "../bench/peers.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct PeersManifestOptions {
  GridSpec grid = RunDefaults();
  uint64_t data_seed = 1;
  int sample_rows = 32;  // bench's default: the same draw (and redraw policy) as a default bench
  std::string out;
};

int WriteManifest(const PeersManifestOptions& o) {
  std::vector<bench::PlannedConfig> plan;
  for (const Config& c : ExpandGrid(o.grid)) {
    CheckMemory(c);
    plan.push_back({"peers", c});
  }
  bench::WritePeerManifest(
      plan, o.out, o.data_seed, o.sample_rows, [](const Config&) { return nlohmann::json(); },  // every peer on every config
      [](const ProblemData&) { return 1; });                                       // no cold-cache rotation
  return kExitOk;
}

}  // namespace

void AddPeersManifestCommand(CLI::App& app, int& rc) {
  static PeersManifestOptions o;
  CLI::App* sub = app.add_subcommand("peers-manifest", "Write the peers' manifest and inputs for a grid (internal)");
  sub->group("");  // internal: not listed in --help
  AddGridFlags(sub, o.grid);
  sub->add_option("--data-seed", o.data_seed, "Seed of the random inputs and weights")->capture_default_str();
  sub->add_option("--out", o.out, "Directory for manifest.json and inputs/")->required();
  sub->callback([&rc] { rc = WriteManifest(o); });
}

}  // namespace attnbench::cli
