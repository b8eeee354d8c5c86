// Where the bench finds its data files (presets/, scripts/plot.py, scripts/compare.py) from
// the binary: $ATTNBENCH_SOURCE_DIR if set, else the source tree the binary was built from,
// else relative to the binary (<prefix>/bin -> <prefix>).
#pragma once

#include <string>
#include <vector>

namespace attnbench::bench {

// Candidate project roots, most specific first.
std::vector<std::string> ProjectRoots();
// The first existing <root>/<relative>, or "" when none exists.
std::string FindProjectFile(const std::string& relative);
// <root>/presets for every root.
std::vector<std::string> PresetDirs();

}  // namespace attnbench::bench
