// Presets: named sweeps kept as data files in presets/ (format in presets/README.md).
//
//   # comment
//   [seq-sweep]                 a section: one sweep, its name tags the results (plots use it)
//   variant  = mha              keys are the grid flags of `attnbench validate` without "--"
//   seq-len  = 128,256,512
//   threads  = 1,all            "all" = every core
//
// Every key missing from a section takes the bench default (BenchDefaults()).
#pragma once

#include <string>
#include <vector>

#include "../grid.h"

namespace attnbench::bench {

struct Section {
  std::string name;
  GridSpec grid;            // grid.threads is ignored: see threads
  std::string threads = "all";
};

// The defaults of a bench section: one GPT-2-small-shaped causal MHA problem, T = 1024.
GridSpec BenchDefaults();

// Parses preset text; `origin` names the file in errors. Throws InputError with the line number
// on unknown keys, malformed lines, keys outside a section, duplicate sections.
std::vector<Section> ParsePreset(const std::string& text, const std::string& origin);

// NAME (a file presets/NAME.preset in the search dirs) or a path to a file. Throws InputError
// listing the known presets when neither exists.
std::vector<Section> LoadPreset(const std::string& name_or_path, const std::vector<std::string>& search_dirs);

// The file LoadPreset reads for NAME or FILE (same errors).
std::string ResolvePresetFile(const std::string& name_or_path, const std::vector<std::string>& search_dirs);

// The preset names found in search_dirs, sorted.
std::vector<std::string> KnownPresets(const std::vector<std::string>& search_dirs);

// "1,all" -> {1, cores}; duplicates after resolving are dropped.
std::vector<int> ParseThreads(const std::string& text, int cores);

// The configs of one section, the thread list outermost. The combinations that are not valid
// problems: without `skipped` an InputError, with it appended there (ExpandGrid).
std::vector<Config> ExpandSection(const Section& s, int cores, std::vector<SkippedConfig>* skipped = nullptr);

}  // namespace attnbench::bench
