// The Highway kernels on every SIMD target this binary compiled and this CPU runs (AVX3, AVX2,
// SSE4, SSSE3, the scalar fallback, ...), not only the best one: each target is forced with
// hwy::SetSupportedTargetsForTest and the whole attention is checked against the float64
// reference on odd sizes (head_dim not a multiple of any vector length, T = 1, tails
// everywhere). The kernels are linked in directly (attnbench_hwy_kernels): the target override
// only reaches the dispatch tables of the binary that sets it, never a dlopen'ed plugin's copy.
#include <catch2/catch.hpp>

#include <hwy/targets.h>

#include <string>
#include <vector>

#include "attention_hwy.h"
#include "problem_data.h"
#include "reference.h"
#include "validate.h"

using namespace attnbench;

namespace {

// Every variant x T x head_dim, with the other knobs (heads, batch, dropout, bias, causal
// override, threads) varied across the list so that each shows up with tails on and off.
std::vector<ab_problem> OddProblems() {
  std::vector<ab_problem> out;
  int n = 0;
  for (Variant v : kAllVariants)
    for (int T : {1, 3, 17, 65})
      for (int hd : {1, 3, 16, 64, 65}) {
        const int heads = n % 3 == 0 ? 1 : (n % 3 == 1 ? 3 : 2);
        const int d_out = hd * heads;
        const int d_in = v == Variant::kSimplified ? d_out : 37 + n % 5;
        ab_problem p = MakeProblem(v, 1 + n % 2, T, d_in, d_out, heads);
        p.dropout_p = n % 4 == 1 ? 0.1f : 0.0f;
        p.dropout_seed = 7 + n;
        p.qkv_bias = p.qkv_proj && n % 3 != 2;
        if (n % 7 == 3) p.causal = !p.causal;  // causal self, unmasked mha
        p.threads = 1 + n % 2;
        out.push_back(p);
        ++n;
      }
  return out;
}

// Like `attnbench validate`: redraw the data (up to 8 seeds) until the reference weights have
// a spread that can tell a right kernel from a wrong one.
struct Case {
  ProblemData data;
  ReferenceResult ref;
};
Case MakeCase(const ab_problem& p, uint64_t seed) {
  Case c;
  for (int attempt = 0; attempt < 8; ++attempt) {
    c.data = MakeRandomProblemData(p, seed + attempt);
    c.ref = ComputeReference(c.data, AllRows(p.seq_len));
    if (MistrustReason(c.ref).empty()) break;
  }
  return c;
}

CheckResult RunHighway(const Case& c) {
  const ab_problem& p = c.data.problem;
  HwyAttention attention(p, c.data.Weights());
  AlignedBuffer<float> out(OutputElems(p));
  Poison(out.data(), out.size());
  attention.Run(c.data.x.data(), out.data());
  return CompareOutput(p, out.data(), c.ref);
}

}  // namespace

TEST_CASE("highway kernels match the float64 reference on every compiled target") {
  const std::vector<ab_problem> problems = OddProblems();
  std::vector<Case> cases;
  for (size_t i = 0; i < problems.size(); ++i)
    cases.push_back(MakeCase(problems[i], 1000 + 17 * i));

  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const std::string name = hwy::TargetName(target);
    DYNAMIC_SECTION(name) {
      hwy::SetSupportedTargetsForTest(target);
      CHECK(std::string(HwyAttention::TargetName()) == name);  // the override reached dispatch
      for (const Case& c : cases) {
        const CheckResult r = RunHighway(c);
        INFO(name << " " << Describe(c.data.problem) << ": " << StatusName(r.status) << " "
                  << r.reason << " rel_l2 " << r.rel_l2_err << " (tol " << r.tol.rel_l2
                  << "), max_abs " << r.max_abs_err << " (tol " << r.tol.max_abs << ")");
        // MISTRUSTED = within tolerance, but even 8 draws left the weights near-uniform.
        CHECK((r.status == Status::kPass || r.status == Status::kMistrusted));
      }
      hwy::SetSupportedTargetsForTest(0);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// The targets the brief asks for must all be compiled in and exercised on an AVX-512 machine;
// on a CPU without them the list above is shorter and this says which are missing.
TEST_CASE("highway compiles the scalar fallback and every x86 target the CPU supports") {
  std::vector<std::string> names;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets())
    names.push_back(hwy::TargetName(target));
  const auto has = [&](const char* n) {
    for (const auto& s : names)
      if (s == n) return true;
    return false;
  };
  CHECK(has("SCALAR"));
  const int64_t cpu = hwy::SupportedTargets();
  if (cpu & HWY_SSE4) CHECK(has("SSE4"));
  if (cpu & HWY_AVX2) CHECK(has("AVX2"));
  if (cpu & HWY_AVX3) CHECK(has("AVX3"));
}
