// A check must be able to fail: every deliberately wrong backend FAILs on validate's default
// grid, and the same code without a bug (mutant-none) PASSes everywhere.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "grid.h"
#include "reference.h"
#include "validate.h"

using namespace attnbench;

namespace {

struct GridOutcome {
  std::map<Status, int> counts;
  std::string first_failure;
};

// The default grid of `attnbench validate` (GridSpec's defaults), inputs and reference drawn
// once and shared by every mutant. Under the sanitizers (several times slower) every third
// config only.
const std::vector<ValidationCase>& DefaultGridCases() {
  static const std::vector<ValidationCase> cases = [] {
    std::vector<ValidationCase> v;
    const auto configs = ExpandGrid(GridSpec{});
    for (size_t i = 0; i < configs.size(); ++i) {
#ifdef ATTNBENCH_SANITIZED_BUILD
      if (i % 3 != 0) continue;
#endif
      v.push_back(PrepareCase(configs[i].problem, 31337, 32));
    }
    return v;
  }();
  return cases;
}

GridOutcome RunDefaultGrid(const LoadedBackend& b) {
  GridOutcome o;
  for (const ValidationCase& vc : DefaultGridCases()) {
    const CheckResult r = CheckBackend(b, vc.data, vc.ref);
    ++o.counts[r.status];
    if (r.status == Status::kFail && o.first_failure.empty())
      o.first_failure = Describe(vc.data.problem) + ": " + r.reason;
  }
  return o;
}

const LoadedBackend& Load(PluginRegistry& reg, const std::string& kind) {
  reg.LoadFile(std::string(ATTNBENCH_TEST_PLUGIN_DIR) + "/mutant-" + kind + ".so");
  std::string name = "mutant-" + kind;  // the backend name has '-' for the file's '_' ([a-z0-9-])
  std::replace(name.begin(), name.end(), '_', '-');
  const LoadedBackend* b = reg.Find(name);
  if (!b) FAIL(name << " did not load");
  return *b;
}

}  // namespace

TEST_CASE("mutant-none (the control) passes the default grid") {
  PluginRegistry reg;
  GridOutcome o = RunDefaultGrid(Load(reg, "none"));
  INFO(o.first_failure);
  CHECK(o.counts[Status::kFail] == 0);
  CHECK(o.counts[Status::kMistrusted] == 0);
  CHECK(o.counts[Status::kPass] > 0);
}

TEST_CASE("every deliberately wrong backend FAILs on the default grid") {
  const char* kinds[] = {"no_scale", "mask_lt", "mask_leak", "mask_inverted", "softmax_axis",
                         "heads_swapped", "dropout_seed", "nan", "throw", "unwritten"};
  for (const char* kind : kinds) {
    DYNAMIC_SECTION(kind) {
      PluginRegistry reg;
      GridOutcome o = RunDefaultGrid(Load(reg, kind));
      INFO("first failure: " << o.first_failure);
      CHECK(o.counts[Status::kFail] > 0);
    }
  }
}

TEST_CASE("faulty plugins are reported with the reason, not crashed on") {
  PluginRegistry reg;
  const ab_problem p = MakeProblem(Variant::kMha, 1, 17, 16, 16, 2);
  const ProblemData data = MakeRandomProblemData(p, 1);
  const ReferenceResult ref = ComputeReference(data, AllRows(p.seq_len));
  CheckResult r = CheckBackend(Load(reg, "throw"), data, ref);
  CHECK(r.status == Status::kFail);
  CHECK_THAT(r.reason, Catch::Contains("run failed: mutant-throw: thrown on purpose"));
  r = CheckBackend(Load(reg, "nan"), data, ref);
  CHECK_THAT(r.reason, Catch::Contains("1 NaN/Inf") && Catch::Contains("batch 0 row 0 col 0"));
  r = CheckBackend(Load(reg, "unwritten"), data, ref);
  CHECK_THAT(r.reason, Catch::Contains("16 output elements never written") && Catch::Contains("row 16"));
}
