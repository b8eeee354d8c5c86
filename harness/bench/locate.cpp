#include "locate.h"

#include <cstdlib>
#include <filesystem>

#ifndef ATTNBENCH_SOURCE_DIR
#define ATTNBENCH_SOURCE_DIR ""
#endif

namespace attnbench::bench {

namespace fs = std::filesystem;

std::vector<std::string> ProjectRoots() {
  std::vector<std::string> roots;
  if (const char* env = std::getenv("ATTNBENCH_SOURCE_DIR"); env && *env) roots.push_back(env);
  if (*ATTNBENCH_SOURCE_DIR) roots.push_back(ATTNBENCH_SOURCE_DIR);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    roots.push_back((exe.parent_path() / "..").lexically_normal().string());        // <prefix>/bin
    roots.push_back((exe.parent_path() / ".." / "..").lexically_normal().string()); // <repo>/build/bin
  }
  return roots;
}

std::string FindProjectFile(const std::string& relative) {
  for (const auto& r : ProjectRoots()) {
    const fs::path p = fs::path(r) / relative;
    if (fs::exists(p)) return p.string();
  }
  return {};
}

std::vector<std::string> PresetDirs() {
  std::vector<std::string> dirs;
  for (const auto& r : ProjectRoots()) dirs.push_back((fs::path(r) / "presets").string());
  return dirs;
}

}  // namespace attnbench::bench
