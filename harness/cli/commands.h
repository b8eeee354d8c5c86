// One function per subcommand: registers its flags on app and, when chosen, runs it and
// stores its exit code in rc.
#pragma once

#include <CLI/CLI.hpp>

namespace attnbench::cli {

void AddListCommand(CLI::App& app, int& rc);
void AddValidateCommand(CLI::App& app, int& rc);
void AddRunCommand(CLI::App& app, int& rc);
void AddExplainCommand(CLI::App& app, int& rc);
void AddBenchCommand(CLI::App& app, int& rc);
void AddPlotCommand(CLI::App& app, int& rc);
void AddCompareCommand(CLI::App& app, int& rc);
void AddMachineCommand(CLI::App& app, int& rc);
void AddMergeCommand(CLI::App& app, int& rc);
void AddHistoryCommand(CLI::App& app, int& rc);
void AddPeersManifestCommand(CLI::App& app, int& rc);  // internal: peers/run_peers.py

}  // namespace attnbench::cli
