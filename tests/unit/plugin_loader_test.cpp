// Plugin loading: a good plugin loads; everything else is refused with a clear one-line reason.
#include <catch2/catch.hpp>

#include "plugin_loader.h"

using namespace attnbench;

namespace {
const std::string kTestPlugins = ATTNBENCH_TEST_PLUGIN_DIR;
const std::string kPlugins = ATTNBENCH_PLUGIN_DIR;
}  // namespace

TEST_CASE("a good plugin loads with its name, description and file") {
  PluginRegistry reg;
  REQUIRE(reg.LoadFile(kPlugins + "/libattnbench-naive.so"));
  REQUIRE(reg.backends().size() == 1);
  const LoadedBackend& b = reg.backends()[0];
  CHECK(b.name == "naive");
  CHECK_FALSE(b.description.empty());
  CHECK_THAT(b.path, Catch::EndsWith("libattnbench-naive.so"));
  CHECK(reg.errors().empty());
}

TEST_CASE("refused plugins: each with the file and the reason, the others still load") {
  PluginRegistry reg;
  reg.LoadFile(kPlugins + "/libattnbench-naive.so");
  CHECK_FALSE(reg.LoadFile(kTestPlugins + "/bad-abi.so"));
  CHECK_FALSE(reg.LoadFile(kTestPlugins + "/no-entry.so"));
  CHECK_FALSE(reg.LoadFile(kTestPlugins + "/not-a-library.so"));
  CHECK_FALSE(reg.LoadFile(kTestPlugins + "/duplicate-naive.so"));
  CHECK_FALSE(reg.LoadFile(kTestPlugins + "/does-not-exist.so"));
  CHECK(reg.LoadFile(kTestPlugins + "/mutant-none.so"));
  REQUIRE(reg.errors().size() == 5);
  CHECK_THAT(reg.errors()[0], Catch::StartsWith(kTestPlugins + "/bad-abi.so: ") &&
                                  Catch::Contains("ABI version " + std::to_string(AB_ABI_VERSION + 41) + ", this attnbench loads 1 to " + std::to_string(AB_ABI_VERSION)));
  CHECK_THAT(reg.errors()[1], Catch::Contains("no-entry.so: no entry point attnbench_backend_entry()"));
  CHECK_THAT(reg.errors()[2], Catch::Contains("not-a-library.so: not a loadable library"));
  CHECK_THAT(reg.errors()[3], Catch::Contains("duplicate backend name 'naive'") &&
                                  Catch::Contains("libattnbench-naive.so"));
  CHECK_THAT(reg.errors()[4], Catch::Contains("does-not-exist.so: not a file"));
  for (const auto& e : reg.errors()) CHECK(e.find('\n') == std::string::npos);
  REQUIRE(reg.backends().size() == 2);
  CHECK(reg.Find("naive") != nullptr);
  CHECK(reg.Find("mutant-none") != nullptr);
}

TEST_CASE("a directory loads every .so in name order, a search path mixes files and directories") {
  PluginRegistry reg;
  reg.LoadDirectory(kTestPlugins);
  CHECK(reg.Find("mutant-none") != nullptr);
  CHECK(reg.Find("naive") != nullptr);  // duplicate-naive.so is the first 'naive' in this directory
  CHECK_FALSE(reg.errors().empty());    // bad-abi, no-entry, not-a-library
  PluginRegistry reg2;
  reg2.LoadSearchPath("/nonexistent-dir::" + kPlugins + "/libattnbench-naive.so");
  CHECK(reg2.Find("naive") != nullptr);
  CHECK(reg2.errors().size() == 1);  // the missing directory is tried as a file
}

TEST_CASE("a second build of one backend loads under another name (--plugin NAME=PATH)") {
  PluginRegistry reg;
  REQUIRE(reg.LoadFile(kPlugins + "/libattnbench-naive.so"));
  // Same name inside the file: refused as a duplicate unless given another name.
  CHECK_FALSE(reg.LoadFile(kTestPlugins + "/duplicate-naive.so"));
  REQUIRE(reg.LoadFile(kTestPlugins + "/duplicate-naive.so", "naive-old"));
  REQUIRE(reg.backends().size() == 2);
  const LoadedBackend* old = reg.Find("naive-old");
  REQUIRE(old != nullptr);
  CHECK_THAT(old->path, Catch::EndsWith("duplicate-naive.so"));
  CHECK_THAT(old->description, Catch::StartsWith("'naive' loaded as naive-old: "));
  CHECK(reg.Find("naive")->path != old->path);
  // The new name is taken now.
  CHECK_FALSE(reg.LoadFile(kPlugins + "/libattnbench-naive.so", "naive-old"));
  CHECK_THAT(reg.errors().back(), Catch::Contains("duplicate backend name 'naive-old'"));
}
