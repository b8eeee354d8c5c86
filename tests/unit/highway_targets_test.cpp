// The Highway kernels on every SIMD target this binary compiled and this CPU runs (AVX3, AVX2,
// SSE4, SSSE3, the scalar fallback, ...), not only the best one: each target is forced with
// hwy::SetSupportedTargetsForTest and the whole attention is checked against the float64
// reference on odd sizes (head_dim not a multiple of any vector length, T = 1, tails
// everywhere). The kernels are linked in directly (attnbench_hwy_kernels): the target override
// only reaches the dispatch tables of the binary that sets it, never a dlopen'ed plugin's copy
// (hwy_targets.h).
#include <catch2/catch.hpp>

#include <vector>

#include "attention_hwy.h"
#include "hwy_targets.h"
#include "kv_reference_loop.h"

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

}  // namespace

TEST_CASE("highway kernels match the float64 reference on every compiled target") {
  test::CheckAgainstReferenceOnEveryTarget<HwyAttention>(test::MakeReferenceCases(OddProblems(), 1000, 17));
}

// The targets the brief asks for must all be compiled in and exercised on an AVX-512 machine.
TEST_CASE("highway compiles the scalar fallback and every x86 target the CPU supports") {
  test::CheckEveryTargetCompiled();
}

// Grouped-query heads, sliding windows and the KV cache (ABI version 2) on every target, against
// the test's own float64 loop (kv_reference_loop.h): several query heads stacked on one KV head,
// key ranges that start inside the cache, windows narrower than a task's rows.
TEST_CASE("highway kernels: grouped-query heads, windows and the KV cache on every compiled target") {
  std::vector<test::KvCase> cases;
  std::vector<std::vector<double>> refs;
  uint64_t seed = 500;
  for (const ab_problem& p : test::KvProblems()) {
    cases.push_back(test::MakeKvCase(p, seed++));
    refs.push_back(test::KvReference(cases.back()));
  }
  test::ForEachTarget([&](const std::string& name) {
    for (size_t n = 0; n < cases.size(); ++n) {
      const ab_problem& p = cases[n].p;
      HwyAttention attention(p, cases[n].Weights());
      AlignedBuffer<float> out(OutputElems(p));
      Poison(out.data(), out.size());
      attention.Run(cases[n].x.data(), out.data());
      const std::string diff = test::CompareKv(out.data(), refs[n]);
      INFO(name << " " << Describe(p) << ": " << diff);
      CHECK(diff.empty());
    }
  });
}
