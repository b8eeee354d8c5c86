// What the subcommands share: plugin flags and loading, the problem-grid flags, exit codes.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "../grid.h"
#include "../plugin_loader.h"

namespace attnbench::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // a check failed
inline constexpr int kExitBadInput = 2;  // the command line or an input file is wrong

struct PluginFlags {
  std::vector<std::string> plugins;  // --plugin PATH (repeatable)
  bool no_default = false;           // --no-default-plugins
};
void AddPluginFlags(CLI::App* app, PluginFlags& f);

// Loads the default plugin dir (beside the binary), $ATTNBENCH_PLUGIN_PATH, then --plugin files;
// prints one line per refused file to stderr. Explicit --plugin files that are refused are
// errors (InputError); refused files found by searching are warnings.
void LoadPlugins(const PluginFlags& f, PluginRegistry& reg);

// The --backends selection: all loaded when empty; unknown names throw InputError.
std::vector<const LoadedBackend*> SelectBackends(const PluginRegistry& reg, const std::string& list);

// Adds --variant --batch --seq-len --heads --d-in --d-out --causal/--no-causal --dropout --seed
// --qkv-bias --threads to app, writing into spec.
void AddGridFlags(CLI::App* app, GridSpec& spec);

}  // namespace attnbench::cli
