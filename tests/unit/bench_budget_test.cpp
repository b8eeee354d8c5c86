// The budget: prediction from a backend's own smaller configs with the FLOP model, the cell cost,
// presets parsing and planning.
#include <catch2/catch.hpp>

#include "bench/budget.h"
#include "bench/flop_model.h"
#include "bench/preset.h"
#include "bench/sweep.h"

using namespace attnbench;
using namespace attnbench::bench;

TEST_CASE("prediction extrapolates with the FLOP model from the largest smaller config") {
  BudgetPredictor pred;
  ab_problem t256 = MakeProblem(Variant::kMha, 1, 256, 768, 768, 12), t512 = t256, t4096 = t256;
  t512.seq_len = 512;
  t4096.seq_len = 4096;
  CHECK(pred.Predict("naive", t4096) == 0);  // no history: no prediction
  pred.Record("naive", t256, 1.0);
  pred.Record("naive", t512, 2.5);
  pred.Record("blas", t512, 0.01);
  std::string basis;
  const double p = pred.Predict("naive", t4096, &basis);
  CHECK(p == Approx(2.5 * CountFlops(t4096).total() / CountFlops(t512).total()));
  CHECK(basis.find("T=512") != std::string::npos);
  CHECK(pred.Predict("blas", t4096) == Approx(0.01 * CountFlops(t4096).total() / CountFlops(t512).total()));
  // Same thread count preferred.
  ab_problem one = t512;
  one.threads = 1;
  pred.Record("naive", one, 7.0);
  ab_problem q = t4096;
  q.threads = 1;
  CHECK(pred.Predict("naive", q) == Approx(7.0 * CountFlops(t4096).total() / CountFlops(t512).total()));
}

TEST_CASE("cell cost: validation, warm-up, estimation and repetitions") {
  TimingPlan plan{5, 0.1};
  CHECK(CellSeconds(0.001, plan) == Approx(0.002 + 0.1 * 6.5));
  CHECK(CellSeconds(10, plan) == Approx(20 + 10 * 6.5));
}

TEST_CASE("presets: sections, defaults, threads, errors with line numbers") {
  const auto s = ParsePreset("# c\n[seq-sweep]\nseq-len = 128,256 # two\nthreads = 1,all\n[v]\nvariant=self\n", "t");
  REQUIRE(s.size() == 2);
  CHECK(s[0].name == "seq-sweep");
  CHECK(s[0].grid.seq_len == "128,256");
  CHECK(s[0].grid.d_in == "768");  // bench default
  CHECK(ParseThreads(s[0].threads, 4) == std::vector<int>{1, 4});
  CHECK(ParseThreads("all,2", 2) == std::vector<int>{2});
  CHECK(ExpandSection(s[0], 2).size() == 4);
  CHECK_THROWS_WITH(ParsePreset("seq-len = 1\n", "f"), Catch::Contains("f:1"));
  CHECK_THROWS_WITH(ParsePreset("[a]\nbogus = 1\n", "f"), Catch::Contains("unknown key 'bogus'"));
  CHECK_THROWS_WITH(ParsePreset("[a]\n[a]\n", "f"), Catch::Contains("duplicate"));
  CHECK_THROWS_AS(ParseThreads("0", 2), InputError);
  CHECK_THROWS_AS(ExpandSection(ParsePreset("[a]\nheads = 5\n", "f")[0], 2), InputError);  // 768 % 5
}

TEST_CASE("planning merges configs shared by sections and names them stably") {
  const auto sections = ParsePreset("[a]\nseq-len = 64,128\n[b]\nseq-len = 128\nheads = 12,6\n", "t");
  const auto plan = PlanConfigs(sections, 2);
  REQUIRE(plan.size() == 3);
  CHECK(plan[1].sections == "a;b");
  CHECK(plan[2].sections == "b");
  CHECK(BenchmarkName("blas", plan[0].config) == "blas/mha/B:1/T:64/din:768/dout:768/H:12/threads:2");
  CHECK(RotationCount(1 << 20, 64 << 20, true) == 64);
  CHECK(RotationCount(20 << 20, 64 << 20, true) == 4);
  CHECK(RotationCount(100 << 20, 64 << 20, true) == 1);
  CHECK(RotationCount(1 << 20, 64 << 20, false) == 1);
}
