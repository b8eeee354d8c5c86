// Diagnosis of a FAIL: every mutant plugin (tests/plugins/mutant.cpp) is named by its own mistake,
// the control is not diagnosed, and an output that matches no known mistake is said to.
#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>

#include "backend_handle.h"
#include "diagnose.h"
#include "reference.h"
#include "validate.h"

using namespace attnbench;

namespace {

// A problem on which every mistake of the catalogue changes the output: several heads with
// head_dim > 1, causal, dropout, bias, output projection, d_in = d_out (transposed weights), an
// odd T and two batches.
ab_problem CatalogueProblem() {
  ab_problem p = MakeProblem(Variant::kMha, 2, 17, 12, 12, 3);
  p.qkv_bias = 1;
  p.dropout_p = 0.25f;
  p.dropout_seed = 7;
  return p;
}

const LoadedBackend& Load(PluginRegistry& reg, const std::string& kind) {
  reg.LoadFile(std::string(ATTNBENCH_TEST_PLUGIN_DIR) + "/mutant-" + kind + ".so");
  std::string name = "mutant-" + kind;  // backend names are [a-z0-9-]: the file's '_' is '-'
  std::replace(name.begin(), name.end(), '_', '-');
  const LoadedBackend* b = reg.Find(name);
  if (!b) FAIL("mutant-" << kind << " did not load");
  return *b;
}

}  // namespace

TEST_CASE("every numeric mutant is diagnosed with its own mistake") {
  const ProblemData data = MakeRandomProblemData(CatalogueProblem(), 3);
  const ReferenceResult ref = ComputeReference(data, AllRows(data.problem.seq_len));
  const double tol = ComputeTolerance(data.problem, ref).rel_l2;
  for (const MistakeInfo& mi : MistakeCatalogue()) {
    DYNAMIC_SECTION(mi.id) {
      REQUIRE(MistakeApplies(mi.mistake, data.problem));
      PluginRegistry reg;
      const LoadedBackend& b = Load(reg, mi.id);
      // The mutant fails validation (the mutants of the older list are also run on the whole
      // default grid in mutants_test), and the diagnosis names its mistake.
      CHECK(CheckBackend(b, data, ref).status == Status::kFail);
      const Diagnosis d = DiagnoseBackend(b, data, tol);
      INFO(d.message);
      CHECK(d.tried);
      CHECK(d.matched);
      CHECK(d.id == mi.id);
      CHECK_THAT(d.message, Catch::StartsWith(std::string("matches the reference with ") + mi.words));
    }
  }
}

TEST_CASE("the control passes and matches no mistake, an unknown error matches none") {
  const ProblemData data = MakeRandomProblemData(CatalogueProblem(), 4);
  const ReferenceResult ref = ComputeReference(data, AllRows(data.problem.seq_len));
  const double tol = ComputeTolerance(data.problem, ref).rel_l2;
  PluginRegistry reg;
  const LoadedBackend& none = Load(reg, "none");
  CHECK(CheckBackend(none, data, ref).status == Status::kPass);
  const Diagnosis d = DiagnoseBackend(none, data, tol);
  CHECK(d.tried);
  CHECK_FALSE(d.matched);
  CHECK_THAT(d.message, Catch::StartsWith("matches none of the 18 known mistakes"));

  // The correct output with a 1 % error on every element: wrong, and no known mistake.
  std::vector<float> out(OutputElems(data.problem));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(ref.out[i] * (i % 2 ? 1.01 : 0.99));
  const Diagnosis u = Diagnose(data, out.data(), tol);
  CHECK_FALSE(u.matched);
  CHECK_THAT(u.message, Catch::Contains("matches none"));
  // A NaN is not diagnosed (validation already names it).
  out[5] = NAN;
  CHECK_FALSE(Diagnose(data, out.data(), tol).tried);
}

TEST_CASE("a mistake that changes nothing for a problem is not tried") {
  const ab_problem single = MakeProblem(Variant::kSelf, 1, 5, 4, 6, 1);
  CHECK_FALSE(MistakeApplies(Mistake::kHeadsSwapped, single));
  CHECK_FALSE(MistakeApplies(Mistake::kMaskLeak, single));  // not causal
  CHECK_FALSE(MistakeApplies(Mistake::kDropoutMissing, single));
  CHECK_FALSE(MistakeApplies(Mistake::kQkvTransposed, single));  // d_in != d_out
  CHECK(MistakeApplies(Mistake::kNoScale, single));
  // The correct computation of the catalogue's forward is the reference's.
  const ProblemData data = MakeRandomProblemData(CatalogueProblem(), 5);
  const std::vector<double> fwd = ComputeWithMistake(data, Mistake::kNone);
  const ReferenceResult ref = ComputeReference(data, AllRows(data.problem.seq_len));
  REQUIRE(fwd.size() == ref.out.size());
  double worst = 0;
  for (size_t i = 0; i < fwd.size(); ++i) worst = std::max(worst, std::abs(fwd[i] - ref.out[i]));
  CHECK(worst < 1e-12);
}
