// kernels/exp-inl.h on every Highway target this binary compiled and this CPU runs: the accuracy
// docs/fused.md states for Exp2NonPositive (max error in ulps of 2^x, computed in double) over the
// whole range a softmax feeds it, [-125, 0] in log2 units (e^-87 and below is 0 or subnormal
// in float anyway), and its edges: exactly 1 at 0, exactly 0 below -125 and at -inf, never a
// subnormal. This file is its own foreach_target unit (HWY_TARGET_INCLUDE), so the forced
// target reaches its dispatch table.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/kernels_exp_test.cpp"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"
#include "kernels/exp-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

int64_t ExpTestTarget() { return HWY_TARGET; }

// Whether MulAdd is one fused operation here (AVX2, AVX3) or a multiply and an add, each
// rounded (SSE4, SSSE3, the scalar fallback): the polynomial's error differs.
bool ExpTestNativeFma() { return HWY_NATIVE_FMA; }

// out[i] = Exp2NonPositive(in[i]) for i < n; n a multiple of 16 (every vector length divides it).
void Exp2OnTarget(const float* HWY_RESTRICT in, float* HWY_RESTRICT out, size_t n) {
  const hn::ScalableTag<float> d;
  for (size_t i = 0; i < n; i += hn::Lanes(d)) hn::StoreU(Exp2NonPositive(d, hn::LoadU(d, in + i)), d, out + i);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "hwy_targets.h"
#include "kernels/pack.h"

namespace attnbench {
HWY_EXPORT(ExpTestTarget);
HWY_EXPORT(ExpTestNativeFma);
HWY_EXPORT(Exp2OnTarget);
}  // namespace attnbench

using namespace attnbench;

namespace {

// The bounds docs/fused.md states. Measured with the exhaustive sweep below (every float in
// [-125, 0]): 0.992 ulp with FMA, 1.267 ulp without, the worst inputs near f = -0.5 where the
// polynomial's terms are largest.
constexpr double kMaxUlpFma = 1.0;
constexpr double kMaxUlpNoFma = 1.27;

double MaxUlpOnTarget() { return HWY_DYNAMIC_DISPATCH(ExpTestNativeFma)() ? kMaxUlpFma : kMaxUlpNoFma; }

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint32_t ToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

std::vector<float> Exp2(std::vector<float> in) {
  const size_t n = in.size();
  in.resize(RoundUp(n, 16), 0.0f);  // whole vectors on every target
  std::vector<float> out(in.size());
  HWY_DYNAMIC_DISPATCH(Exp2OnTarget)(in.data(), out.data(), in.size());
  out.resize(n);
  return out;
}

// |got - 2^x| in units of the last place of 2^x as a float (2^x is a normal float for every
// x >= -125).
double UlpError(float x, float got) {
  const double exact = std::exp2(static_cast<double>(x));
  int e;
  std::frexp(exact, &e);  // exact = m 2^e, m in [0.5, 1): one ulp is 2^(e - 24)
  return std::fabs(static_cast<double>(got) - exact) / std::ldexp(1.0, e - 24);
}

struct Sweep {
  double max_ulp = 0.0;
  float worst_x = 0.0f;
  size_t subnormal = 0;  // outputs that are neither 0 nor normal
  size_t count = 0;
};

// Every stride-th float from -0 down to -125 (all of them with stride 1: about 1.1e9).
Sweep SweepNonPositive(uint32_t stride) {
  const uint32_t first = ToBits(-0.0f), last = ToBits(-125.0f);  // negative floats grow in bits
  Sweep s;
  std::vector<float> in;
  in.reserve(1 << 16);
  const auto flush = [&] {
    const std::vector<float> out = Exp2(in);
    for (size_t i = 0; i < in.size(); ++i) {
      const double err = UlpError(in[i], out[i]);
      if (!(err <= s.max_ulp)) s.max_ulp = err, s.worst_x = in[i];  // NaN becomes the max
      if (out[i] != 0.0f && !(std::fabs(out[i]) >= FLT_MIN)) ++s.subnormal;
    }
    s.count += in.size();
    in.clear();
  };
  for (uint64_t bits = first; bits <= last; bits += stride) {
    in.push_back(FromBits(static_cast<uint32_t>(bits)));
    if (in.size() == in.capacity()) flush();
  }
  in.push_back(-125.0f);  // the end point, whatever the stride
  flush();
  return s;
}

void CheckSweep(const std::string& target, uint32_t stride) {
  const Sweep s = SweepNonPositive(stride);
  INFO(target << ": " << s.count << " inputs, max error " << s.max_ulp << " ulp at x = " << s.worst_x);
  CHECK(s.max_ulp <= MaxUlpOnTarget());
  CHECK(s.subnormal == 0);
}

}  // namespace

TEST_CASE("Exp2NonPositive is within the documented ulp bound over [-125, 0] on every target") {
  test::ForEachTarget([](const std::string& name) {
    CHECK(hwy::TargetName(HWY_DYNAMIC_DISPATCH(ExpTestTarget)()) == name);  // the override reached dispatch
    // A stride prime to every power of two, so the samples walk all fraction bits: ~11 million
    // inputs, about 85 000 in each binade.
    CheckSweep(name, 101);
  });
}

// Every float in the range: ~1.1e9 per target, about 3 minutes for five targets. Run by hand (it
// is how the bounds were measured): kernels_exp_test "[.exhaustive]".
TEST_CASE("Exp2NonPositive is within the documented ulp bound for every float in [-125, 0]", "[.exhaustive]") {
  test::ForEachTarget([](const std::string& name) {
    const Sweep s = SweepNonPositive(1);
    WARN(name << ": max error " << s.max_ulp << " ulp at x = " << s.worst_x << " over " << s.count << " inputs");
    CHECK(s.max_ulp <= MaxUlpOnTarget());
    CHECK(s.subnormal == 0);
  });
}

TEST_CASE("Exp2NonPositive is exact at its edges on every target") {
  test::ForEachTarget([](const std::string&) {
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> out = Exp2({0.0f, -0.0f, -1.0f, -2.0f, -124.0f, -125.0f});
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == 1.0f);
    CHECK(out[2] == 0.5f);  // integer inputs: f = 0, the polynomial gives exactly 1
    CHECK(out[3] == 0.25f);
    CHECK(out[4] == std::ldexp(1.0f, -124));
    CHECK(out[5] == std::ldexp(1.0f, -125));  // the smallest nonzero result near 2^-125 is normal
    // Below -125 (the mask's -inf included): exactly 0, never a subnormal.
    const std::vector<float> below = {std::nextafter(-125.0f, -inf), -125.5f, -126.0f, -149.0f, -1000.0f,
                                      -FLT_MAX, -inf};
    for (const float y : Exp2(below)) CHECK(y == 0.0f);
  });
}

TEST_CASE("the exp kernels compile the scalar fallback and every x86 target the CPU supports") {
  test::CheckEveryTargetCompiled();
}

#endif  // HWY_ONCE
