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

// A seed: a decimal integer in [0, 2^64 - 1]. Without it "-1", "2^64" or "1e23" would wrap or be
// cut silently into another seed than the one the user (or a reproducer line) meant.
CLI::Validator SeedValidator();

// One --plugin value: PATH, or NAME=PATH (load PATH under NAME). Throws InputError for a NAME
// that is not a backend name or an empty PATH.
struct PluginArg {
  std::string path;
  std::string as;  // "" = the name inside the file
};
PluginArg ParsePluginArg(const std::string& arg);

// Loads the default plugin dir (beside the binary), $ATTNBENCH_PLUGIN_PATH, then --plugin files;
// prints one line per refused file to stderr. Explicit --plugin files that are refused are
// errors (InputError); refused files found by searching are warnings.
void LoadPlugins(const PluginFlags& f, PluginRegistry& reg);

// The --backends selection: all loaded when empty; unknown names throw InputError.
std::vector<const LoadedBackend*> SelectBackends(const PluginRegistry& reg, const std::string& list);

// How AddProblemKeyFlags words the flags of the problem keys. validate / run style: defaults
// shown, --threads one count (default: every core) outside the group. bench style (threads_list
// set): no defaults (a flag given overrides that key of every preset section), --threads a list
// ("1,all") written into *threads_list.
struct ProblemFlagStyle {
  const char* group;
  std::string* threads_list = nullptr;
};
// Adds the flags of every problem key (problem_keys.h: --variant ... --threads) to app, writing
// into spec.
void AddProblemKeyFlags(CLI::App* app, GridSpec& spec, const ProblemFlagStyle& style);

// The validate / run style of the above.
void AddGridFlags(CLI::App* app, GridSpec& spec);

}  // namespace attnbench::cli
