// Per-target testing of Highway code, shared by the kernel tests (kernels_*_test.cpp) and the
// SIMD backends' tests (highway_targets_test.cpp, fused_test.cpp): run a check once for every
// target this binary compiled and this CPU runs (AVX3, AVX2, SSE4, SSSE3, the scalar fallback,
// ...), not only the best one, each forced with hwy::SetSupportedTargetsForTest.
//
// The override reaches only the dispatch tables compiled into the test binary itself, so the
// code under test must be linked in (a static kernel library, or the test's own foreach_target
// unit), never dlopen'ed; and every unit must be compiled with all attainable targets
// (HWY_COMPILE_ALL_ATTAINABLE or HWY_IS_TEST), or the list below is the best target only.
#pragma once

#include <catch2/catch.hpp>
#include <hwy/targets.h>

#include <cstdint>
#include <string>
#include <vector>

#include "problem_data.h"
#include "reference.h"
#include "validate.h"

namespace attnbench::test {

// Restores Highway's own target choice when it goes out of scope, also when a REQUIRE throws.
class ForcedTarget {
 public:
  explicit ForcedTarget(int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  ~ForcedTarget() { hwy::SetSupportedTargetsForTest(0); }
  ForcedTarget(const ForcedTarget&) = delete;
  ForcedTarget& operator=(const ForcedTarget&) = delete;
};

// Calls fn(name) once per compiled and supported target, inside a DYNAMIC_SECTION named after
// it ("AVX3", ...), with dynamic dispatch forced to that target.
template <class Fn>
void ForEachTarget(Fn&& fn) {
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const std::string name = hwy::TargetName(target);
    DYNAMIC_SECTION(name) {
      const ForcedTarget forced(target);
      fn(name);
    }
  }
}

// CHECKs that the scalar fallback and every x86 target this CPU supports are compiled in: on an
// AVX-512 machine ForEachTarget must visit all of them; on a CPU without some, the list is
// shorter and this says which are missing.
inline void CheckEveryTargetCompiled() {
  std::vector<std::string> names;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) names.push_back(hwy::TargetName(target));
  const auto has = [&](const char* n) {
    for (const auto& s : names)
      if (s == n) return true;
    return false;
  };
  CHECK(has("SCALAR"));
  const int64_t cpu = hwy::SupportedTargets();
  // HWY_ENABLED: a target the build disabled on purpose (the sanitized build drops SSSE3/SSE4,
  // see CMakeLists.txt) is not expected.
  if ((cpu & HWY_SSSE3) && HWY_ENABLED(HWY_SSSE3)) CHECK(has("SSSE3"));
  if ((cpu & HWY_SSE4) && HWY_ENABLED(HWY_SSE4)) CHECK(has("SSE4"));
  if ((cpu & HWY_AVX2) && HWY_ENABLED(HWY_AVX2)) CHECK(has("AVX2"));
  if ((cpu & HWY_AVX3) && HWY_ENABLED(HWY_AVX3)) CHECK(has("AVX3"));
}

// A problem with data whose float64 reference can tell a right kernel from a wrong one: like
// `attnbench validate`, the data are redrawn (up to 8 seeds from `seed`) until the reference
// weights have enough spread.
struct ReferenceCase {
  ProblemData data;
  ReferenceResult ref;
};
inline ReferenceCase MakeReferenceCase(const ab_problem& p, uint64_t seed) {
  ReferenceCase c;
  for (int attempt = 0; attempt < 8; ++attempt) {
    c.data = MakeRandomProblemData(p, seed + attempt);
    c.ref = ComputeReference(c.data, AllRows(p.seq_len));
    if (MistrustReason(c.ref).empty()) break;
  }
  return c;
}

// One case per problem, problem i drawn from seed0 + step * i.
inline std::vector<ReferenceCase> MakeReferenceCases(const std::vector<ab_problem>& problems, uint64_t seed0,
                                                     uint64_t step) {
  std::vector<ReferenceCase> cases;
  for (size_t i = 0; i < problems.size(); ++i) cases.push_back(MakeReferenceCase(problems[i], seed0 + step * i));
  return cases;
}

// On every target: CHECKs that Attention::TargetName() reports the forced target (the override
// reached the kernels' dispatch), then runs every case through an Attention(problem, weights)
// and CHECKs it against the reference. Attention is a SIMD backend's C++ class (HwyAttention,
// FusedAttention), linked in.
template <class Attention>
void CheckAgainstReferenceOnEveryTarget(const std::vector<ReferenceCase>& cases) {
  ForEachTarget([&](const std::string& name) {
    CHECK(std::string(Attention::TargetName()) == name);
    for (const ReferenceCase& c : cases) {
      const ab_problem& p = c.data.problem;
      Attention attention(p, c.data.Weights());
      AlignedBuffer<float> out(OutputElems(p));
      Poison(out.data(), out.size());
      attention.Run(c.data.x.data(), out.data());
      const CheckResult r = CompareOutput(p, out.data(), c.ref);
      INFO(name << " " << Describe(p) << ": " << StatusName(r.status) << " " << r.reason << " rel_l2 "
                << r.rel_l2_err << " (tol " << r.tol.rel_l2 << "), max_abs " << r.max_abs_err << " (tol "
                << r.tol.max_abs << ")");
      // MISTRUSTED = within tolerance, but even 8 draws left the weights near-uniform.
      CHECK((r.status == Status::kPass || r.status == Status::kMistrusted));
    }
  });
}

}  // namespace attnbench::test
