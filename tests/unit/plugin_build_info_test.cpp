// How a plugin was built (include/attnbench/build_info.h): the text attnbench_add_backend()
// embeds, read back by the loader; which flags count as optimised; the in-tree plugins carry it,
// a plugin built another way does not, and the -O0 test plugin is warned about.
#include <catch2/catch.hpp>

#include "bench/env_info.h"
#include "plugin_loader.h"

using namespace attnbench;

namespace {
const std::string kTestPlugins = ATTNBENCH_TEST_PLUGIN_DIR;
const std::string kPlugins = ATTNBENCH_PLUGIN_DIR;
}  // namespace

TEST_CASE("build info text: the tagged key=value lines, anything else unknown") {
  CHECK_FALSE(ParseBuildInfo(nullptr).known);
  CHECK_FALSE(ParseBuildInfo("").known);
  CHECK_FALSE(ParseBuildInfo("compiler=GNU 12.2.0\nflags=-O3").known);  // no tag line
  CHECK_FALSE(ParseBuildInfo("attnbench-build-info 2\nflags=-O3").known);  // a format this host does not read
  const PluginBuildInfo b =
      ParseBuildInfo("attnbench-build-info 1\ncompiler=GNU 12.2.0\nbuild_type=Release\nflags=-O3 -DNDEBUG \nlater=x\n");
  CHECK(b.known);
  CHECK(b.compiler == "GNU 12.2.0");
  CHECK(b.build_type == "Release");
  CHECK(b.flags == "-O3 -DNDEBUG");  // trimmed: the generated line ends in the target's (maybe empty) options
  CHECK(b.optimised);
  CHECK(DescribeBuild(b) == "GNU 12.2.0, Release, flags -O3 -DNDEBUG");
  const PluginBuildInfo none = ParseBuildInfo("attnbench-build-info 1\ncompiler=GNU 12.2.0\nbuild_type=\nflags=\n");
  CHECK(none.known);
  CHECK_FALSE(none.optimised);
  CHECK(DescribeBuild(none) == "GNU 12.2.0, no build type, flags (none)");
  CHECK(DescribeBuild(PluginBuildInfo{}) == "unknown: built without attnbench_add_backend");
  // Plugin text is sanitized like a description: no control characters reach a report.
  CHECK(ParseBuildInfo("attnbench-build-info 1\nflags=-O2 \x1b[31m").flags == "-O2 \\x1B[31m");
}

TEST_CASE("optimised flags: the last -O option decides") {
  CHECK(IsOptimisingFlags("-O3 -DNDEBUG"));
  CHECK(IsOptimisingFlags("-O2 -g -DNDEBUG"));
  CHECK(IsOptimisingFlags("-O"));
  CHECK(IsOptimisingFlags("-Os"));
  CHECK(IsOptimisingFlags("-Oz"));
  CHECK(IsOptimisingFlags("-Ofast -march=native"));
  CHECK(IsOptimisingFlags("-O0 -O1"));
  CHECK_FALSE(IsOptimisingFlags(""));
  CHECK_FALSE(IsOptimisingFlags("-g"));  // CMake's Debug
  CHECK_FALSE(IsOptimisingFlags("-DNDEBUG -fno-omit-frame-pointer"));
  CHECK_FALSE(IsOptimisingFlags("-O3 -DNDEBUG -O0"));  // a target's -O0 after the build type's -O3
  CHECK_FALSE(IsOptimisingFlags("-Og"));               // for debugging
}

TEST_CASE("loaded plugins: in-tree ones carry their build, others are unknown, -O0 is warned about") {
  PluginRegistry reg;
  REQUIRE(reg.LoadFile(kPlugins + "/libattnbench-naive.so"));
  REQUIRE(reg.LoadFile(kTestPlugins + "/libattnbench-unoptimised.so"));
  REQUIRE(reg.LoadFile(kTestPlugins + "/mutant-none.so"));  // built without the helper
  const LoadedBackend& naive = *reg.Find("naive");
  CHECK(naive.build.known);
  CHECK_FALSE(naive.build.compiler.empty());
  CHECK(naive.build.optimised);  // Release here, RelWithDebInfo in the sanitizer build
  CHECK(UnoptimisedWarning(naive).empty());

  const LoadedBackend& slow = *reg.Find("unoptimised");
  CHECK(slow.build.known);
  CHECK_THAT(slow.build.flags, Catch::EndsWith("-O0"));
  CHECK_FALSE(slow.build.optimised);
  CHECK_THAT(UnoptimisedWarning(slow), Catch::Contains("'unoptimised'") && Catch::Contains(slow.path) &&
                                           Catch::Contains("without optimisation") && Catch::Contains("-O0"));

  const LoadedBackend& other = *reg.Find("mutant-none");
  CHECK_FALSE(other.build.known);
  CHECK(UnoptimisedWarning(other).empty());  // unknown is not "unoptimised"

  // env.json's record of each.
  const nlohmann::json js = bench::PluginJson(slow), jo = bench::PluginJson(other);
  CHECK(js["file"] == slow.path);
  CHECK(js["optimised"] == false);
  CHECK(js["flags"] == slow.build.flags);
  CHECK(js["warning"] == UnoptimisedWarning(slow));
  CHECK(jo["optimised"].is_null());
  CHECK(jo["build"] == "unknown: built without attnbench_add_backend");
  CHECK_FALSE(jo.contains("flags"));
}
