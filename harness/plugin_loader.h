// Loads backend plugins (shared libraries exporting attnbench_backend_entry) and refuses, with
// one line naming the file and the reason, anything that is not a usable plugin: not a library,
// no entry point, a different ABI version, an incomplete table, a name outside [a-z0-9-] (it
// becomes part of file names, benchmark names, CSV and Markdown rows), or a name already taken.
#pragma once

#include <attnbench/backend_abi.h>

#include <string>
#include <vector>

namespace attnbench {

// What a plugin's attnbench_build_info says about how it was built (include/attnbench/build_info.h).
struct PluginBuildInfo {
  bool known = false;  // false: the plugin has no (readable) attnbench_build_info
  std::string compiler;    // "GNU 12.2.0"
  std::string build_type;  // "Release"; "" when none was set
  std::string flags;       // the effective compile flags
  // Whether the flags optimise (IsOptimisingFlags); meaningful only when known.
  bool optimised = false;
};

struct LoadedBackend {
  std::string name;
  std::string description;
  std::string path;          // the file it came from
  std::string runtime_info;  // may be empty
  PluginBuildInfo build;
  const ab_backend_i* table = nullptr;
};

class PluginRegistry {
 public:
  PluginRegistry() = default;
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;
  ~PluginRegistry();  // dlcloses nothing: a plugin's code may still run in static destructors

  // Loads one file. Returns false (and records the reason in errors()) when refused. A non-empty
  // `as` registers the backend under that name instead of the one inside the file, so two builds
  // of one backend (an old and a new fused, say) can run side by side in one sweep.
  bool LoadFile(const std::string& path, const std::string& as = "");
  // Loads every regular file ending in .so in dir, in name order; a missing dir is not an error.
  void LoadDirectory(const std::string& dir);
  // Directories from a ':' separated list (ATTNBENCH_PLUGIN_PATH); entries may also be files.
  void LoadSearchPath(const std::string& list);

  const std::vector<LoadedBackend>& backends() const { return backends_; }
  const LoadedBackend* Find(const std::string& name) const;
  // "path: reason" for each refused file.
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<LoadedBackend> backends_;
  std::vector<std::string> errors_;
};

// Whether a backend name is 1..64 characters of [a-z0-9-].
bool IsValidBackendName(const std::string& name);

// Text from a plugin (description, runtime info, a message) made safe to print, store and parse:
// at most max_bytes of the input, control characters and bytes that are not valid UTF-8 written
// as \xNN. Reports escape their own syntax on top of this (report_markdown.cpp).
std::string SanitizePluginText(const char* text, size_t max_bytes = 1024);

// Reads attnbench_build_info's text (nullptr or an unknown format: known = false). Values are
// sanitized like other plugin text.
PluginBuildInfo ParseBuildInfo(const char* text);

// Whether compile flags optimise: the last -O option decides (as for GCC and Clang) and must be
// -O, -O1, -O2, -O3, -Os, -Oz or -Ofast; -O0, -Og (debugging) or no -O at all do not.
bool IsOptimisingFlags(const std::string& flags);

// "GNU 12.2.0, Release, flags -O3 -DNDEBUG" or "unknown: built without attnbench_add_backend".
std::string DescribeBuild(const PluginBuildInfo& b);

// The warning for a plugin whose build info shows no optimisation, "" otherwise (also when the
// build is unknown: nothing says it was unoptimised).
std::string UnoptimisedWarning(const LoadedBackend& b);

// The directory the running executable's plugins live in: <dir of /proc/self/exe>/plugins.
std::string DefaultPluginDir();

}  // namespace attnbench
