// --shard i/N: the split is a partition of the sweep's cells (each cell in exactly one shard),
// the same on every call, each shard's cells in sweep order, balanced by predicted cost; bad
// i/N is refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "bench/preset.h"
#include "bench/shard.h"
#include "bench/sweep.h"
#include "grid.h"

using namespace attnbench;
using namespace attnbench::bench;

namespace {

struct Fixture {
  std::vector<PlannedConfig> plan;
  std::vector<LoadedBackend> backends;
  std::vector<CellRef> cells;
  Fixture(const std::string& preset, int nbackends) {
    plan = PlanConfigs(ParsePreset(preset, "t"), 2);
    backends.resize(nbackends);
    for (int b = 0; b < nbackends; ++b) backends[b].name = "b" + std::to_string(b);
    std::vector<const LoadedBackend*> ptrs;
    for (const auto& b : backends) ptrs.push_back(&b);
    cells = PlanCells(plan, ptrs, "");
  }
};

}  // namespace

TEST_CASE("shards partition the cells, in sweep order, deterministically") {
  // Odd counts: 17 configs x 3 backends = 51 cells into 1, 3, 4, 7 and 60 shards (more shards
  // than cells leaves some empty).
  Fixture f("[s]\nseq-len = 1,3,17,65,300,8,9,10,11,12,13,14,15,16,18,19,20\nd-in = 48\nd-out = 48\nheads = 3\n", 3);
  REQUIRE(f.cells.size() == 51);
  const TimingPlan timing{3, 0.05};
  for (int n : {1, 3, 4, 7, 60}) {
    std::map<std::string, int> owner;
    size_t total = 0;
    for (int i = 0; i < n; ++i) {
      const auto part = ShardCells(f.plan, f.cells, timing, 30, {i, n});
      CHECK(part.size() == ShardCells(f.plan, f.cells, timing, 30, {i, n}).size());  // same every call
      std::vector<size_t> idx;
      for (const auto& c : part) {
        CHECK(owner.emplace(c.name, i).second);  // in no other shard
        idx.push_back(static_cast<size_t>(std::find_if(f.cells.begin(), f.cells.end(),
                                                       [&](const CellRef& x) { return x.name == c.name; }) -
                                          f.cells.begin()));
      }
      CHECK(std::is_sorted(idx.begin(), idx.end()));
      total += part.size();
    }
    CHECK(total == f.cells.size());
    CHECK(owner.size() == f.cells.size());
  }
  CHECK(ShardCells(f.plan, f.cells, timing, 30, {0, 1}).size() == f.cells.size());
}

TEST_CASE("shards are balanced by predicted cost, not by cell count") {
  // One config far costlier than the rest (T = 4096 at d 768) and many cheap ones: the costly
  // cells get shards of their own, the cheap ones share the others.
  Fixture f("[s]\nseq-len = 4096,8,9,10,11,12,13,14,15,16,17,18\nd-in = 768\nd-out = 768\nheads = 12\n", 2);
  const TimingPlan timing{5, 0.01};
  const int n = 3;
  std::vector<double> load(n, 0);
  double biggest = 0;
  for (int i = 0; i < n; ++i)
    for (const auto& c : ShardCells(f.plan, f.cells, timing, 1000, {i, n})) {
      const double s = PredictedCellSeconds(f.plan[c.config].config, timing, 1000);
      load[i] += s;
      biggest = std::max(biggest, s);
    }
  const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
  // Greedy longest-first: no shard exceeds another by more than its largest cell.
  CHECK(*hi - *lo <= biggest + 1e-9);
  // The budget caps a cell's predicted cost (a cell above it is SKIPPED early).
  CHECK(PredictedCellSeconds(f.plan[0].config, timing, 0.5) == 0.5);
  CHECK(PredictedCellSeconds(f.plan[0].config, timing, 1000) > PredictedCellSeconds(f.plan[1].config, timing, 1000));
}

TEST_CASE("a shard is given as i/N and anything else is refused") {
  CHECK(ParseShard("0/1").count == 1);
  CHECK(ParseShard("2/3").index == 2);
  CHECK(ParseShard("2/3").ToString() == "2/3");
  for (const char* bad : {"3/3", "1", "/3", "1/", "-1/3", "a/3", "1/0", "1/3x", "0/5000", " 1/3", "1/999999"})
    CHECK_THROWS_WITH(ParseShard(bad), Catch::Contains("--shard"));
}
