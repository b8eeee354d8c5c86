// Invalid combinations of a bench grid (a head count not dividing that variant's width): planned
// as SKIPPED rows with the reason, the rest of the grid kept; an error only when nothing is valid.
#include <catch2/catch.hpp>

#include "bench/plan.h"
#include "bench/preset.h"
#include "bench/sweep.h"

using namespace attnbench;
using namespace attnbench::bench;

namespace {
// --variant simplified,mha --heads 1,6 --d-in 40 --d-out 48: simplified's width is d_in = 40,
// which 6 does not divide; mha's 48 takes both.
const char* kMixed = "[a]\nvariant = simplified,mha\nheads = 1,6\nd-in = 40\nd-out = 48\nseq-len = 3\nthreads = 1\n"
                     "dropout = 0\nqkv-bias = 0\n";
}  // namespace

TEST_CASE("a grid with invalid combinations plans the valid ones and lists the others") {
  const auto sections = ParsePreset(kMixed, "t");
  CHECK_THROWS_WITH(PlanConfigs(sections, 2), Catch::Contains("not divisible by heads 6"));  // strict
  std::vector<InvalidConfig> invalid;
  const auto plan = PlanConfigs(sections, 2, &invalid);
  CHECK(plan.size() == 3);
  REQUIRE(invalid.size() == 1);
  CHECK(invalid[0].config.variant == Variant::kSimplified);
  CHECK(invalid[0].config.problem.heads == 6);
  CHECK(invalid[0].sections == "a");
  CHECK_THAT(invalid[0].reason, Catch::Contains("40") && Catch::Contains("not divisible by heads 6"));
}

TEST_CASE("an invalid combination in two sections is listed once, tagged with both") {
  const std::string two = std::string(kMixed) + "[b]\nvariant = simplified\nheads = 6\nd-in = 40\nseq-len = 3\n"
                                                "threads = 1\ndropout = 0\nqkv-bias = 0\n";
  std::vector<InvalidConfig> invalid;
  const auto plan = PlanConfigs(ParsePreset(two, "t"), 2, &invalid);  // [b] alone has nothing valid
  CHECK(plan.size() == 3);
  REQUIRE(invalid.size() == 1);
  CHECK(invalid[0].sections == "a;b");
}

TEST_CASE("no valid combination in any section is an error naming the reason") {
  std::vector<InvalidConfig> invalid;
  CHECK_THROWS_WITH(PlanConfigs(ParsePreset("[a]\nvariant = simplified\nheads = 6,7\nd-in = 40\nthreads = 1\n", "t"), 2,
                                &invalid),
                    Catch::StartsWith("no valid config in the grid") && Catch::Contains("not divisible by heads 6") &&
                        Catch::Contains("(and 1 more)"));
}

TEST_CASE("the invalid combinations become one SKIPPED row per backend, and only in shard 0") {
  Sweep w;
  w.spec.sections = ParsePreset(kMixed, "t");
  w.plan = PlanConfigs(w.spec.sections, 2, &w.invalid);
  LoadedBackend a, b;
  a.name = "naive";
  b.name = "blas";
  w.backends = {&a, &b};
  const std::vector<Cell> rows = InvalidConfigCells(w);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].backend == "naive");
  CHECK(rows[1].backend == "blas");
  for (const Cell& c : rows) {
    CHECK(c.status == "SKIPPED");
    CHECK(c.section == "a");
    CHECK(c.name == BenchmarkName(c.backend, w.invalid[0].config));
    CHECK_THAT(c.reason, Catch::StartsWith("not a valid problem: ") && Catch::Contains("heads 6"));
    CHECK(c.finished());  // a resume keeps it
  }
  // Added once: a resumed run that has them already gets no second copy.
  BenchRun run;
  AddInvalidConfigRows(w, run);
  AddInvalidConfigRows(w, run);
  CHECK(run.cells.size() == 2);
  // Another shard leaves them to shard 0 (merge would see them twice).
  w.spec.shard_index = 1;
  w.spec.shard_count = 2;
  CHECK(InvalidConfigCells(w).empty());
}
