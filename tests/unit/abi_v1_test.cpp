// A plugin built for ABI version 1 (tests/plugins/abi_v1.cpp) still loads, PASSes the chapter-3
// problems, and is UNSUPPORTED for grouped-query heads, windows and a KV cache with the host's
// reason, without being called (it would compute plain attention there and FAIL).
#include <catch2/catch.hpp>

#include "grid.h"
#include "validate.h"

using namespace attnbench;

namespace {
const LoadedBackend& LoadV1(PluginRegistry& reg) {
  reg.LoadFile(std::string(ATTNBENCH_TEST_PLUGIN_DIR) + "/abi-v1.so");
  const LoadedBackend* b = reg.Find("abi-v1");
  if (!b) FAIL("abi-v1 did not load");
  return *b;
}
}  // namespace

TEST_CASE("a version-1 plugin loads and passes the chapter-3 problems") {
  PluginRegistry reg;
  const LoadedBackend& v1 = LoadV1(reg);
  CHECK(v1.table->api_version == 1);
  GridSpec s;
  s.batch = "2";
  s.seq_len = "1,3,17";
  s.heads = "1,3";
  s.d_in = "12";
  s.d_out = "18";
  s.dropout = "0,0.2";
  std::vector<SkippedConfig> skipped;
  const auto configs = ExpandGrid(s, &skipped);
  REQUIRE(configs.size() > 20);
  for (const Config& c : configs) {
    const ValidationCase vc = PrepareCase(c.problem, 1, 0);
    const CheckResult r = CheckBackend(v1, vc.data, vc.ref);
    INFO(c.Describe() << ": " << r.reason);
    CHECK(r.status == Status::kPass);
  }
}

TEST_CASE("a version-1 plugin is UNSUPPORTED for the version-2 forms, with the host's reason") {
  PluginRegistry reg;
  const LoadedBackend& v1 = LoadV1(reg);
  ab_problem base = MakeProblem(Variant::kMha, 1, 5, 12, 12, 4);
  ab_problem gqa = base, window = base, cache = base;
  gqa.kv_heads = 2;
  window.window = 3;
  cache.past_len = 7;
  for (const ab_problem& p : {gqa, window, cache}) {
    const ValidationCase vc = PrepareCase(p, 1, 0);
    const CheckResult r = CheckBackend(v1, vc.data, vc.ref);
    INFO(Describe(p));
    CHECK(r.status == Status::kUnsupported);
    CHECK_THAT(r.reason, Catch::StartsWith("plugin built for ABI version 1, which cannot express kv-heads != heads, "
                                           "a window or a KV cache"));
  }
}
