// kernels/softmax-inl.h on every Highway target this binary compiled and this CPU runs: the
// scale + mask + max pass and the exp + sum passes (hn::Exp and the 2^x of exp-inl.h) on rows
// of odd visible lengths, each padded to whole vectors as the contract says. This file is its
// own foreach_target unit (HWY_TARGET_INCLUDE), so the forced target reaches its dispatch table.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/kernels_softmax_test.cpp"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"
#include "kernels/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

int64_t SoftmaxTestTarget() { return HWY_TARGET; }

float ScaleMaskMaxOnTarget(float* row, size_t padded, size_t visible, float scale) {
  return ScaleMaskMax(hn::ScalableTag<float>(), row, padded, visible, scale);
}
float ExpSubSumOnTarget(float* row, size_t padded, float max) {
  return ExpSubSum(hn::ScalableTag<float>(), row, padded, max);
}
float Exp2SubSumOnTarget(float* row, size_t padded, float max) {
  return Exp2SubSum(hn::ScalableTag<float>(), row, padded, max);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "hwy_targets.h"
#include "kernels/pack.h"

namespace attnbench {
HWY_EXPORT(SoftmaxTestTarget);
HWY_EXPORT(ScaleMaskMaxOnTarget);
HWY_EXPORT(ExpSubSumOnTarget);
HWY_EXPORT(Exp2SubSumOnTarget);
}  // namespace attnbench

using namespace attnbench;

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Visible lengths around every vector width and the two-vector unrolled loop of SubExpSum.
constexpr size_t kLengths[] = {1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 47, 64, 100};

std::vector<float> Scores(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-8.0f, 8.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// |got - want| in ulps of want (a normal float or 0; 0 must be exact).
double UlpError(double want, float got) {
  if (want == 0.0) return got == 0.0f ? 0.0 : std::numeric_limits<double>::infinity();
  int e;
  std::frexp(want, &e);
  return std::fabs(static_cast<double>(got) - want) / std::ldexp(1.0, e - 24);
}

// A softmax row after pass 1: `visible` scores below max, -inf in the padding.
std::vector<float> MaskedRow(size_t visible, size_t padded, float* max, std::mt19937& rng) {
  std::vector<float> row = Scores(padded, rng);
  *max = kNegInf;
  for (size_t j = 0; j < padded; ++j) {
    if (j >= visible) row[j] = kNegInf;
    *max = std::max(*max, row[j]);
  }
  return row;
}

// Checks pass 2 with exp_fn (float -> exact double) within max_ulp per entry, -inf giving 0,
// and the returned sum against the float64 sum of what was stored.
template <class PassFn, class ExactFn>
void CheckExpPass(PassFn pass, ExactFn exact, double max_ulp) {
  std::mt19937 rng(7);
  for (const size_t visible : kLengths) {
    const size_t padded = RoundUp(visible, 16);
    float max;
    const std::vector<float> row = MaskedRow(visible, padded, &max, rng);
    std::vector<float> out = row;
    const float sum = pass(out.data(), padded, max);
    double worst = 0.0, stored_sum = 0.0;
    for (size_t j = 0; j < padded; ++j) {
      worst = std::max(worst, UlpError(exact(row[j] - max), out[j]));
      stored_sum += out[j];
    }
    INFO("visible " << visible << ": worst " << worst << " ulp, sum " << sum << " vs " << stored_sum);
    CHECK(worst <= max_ulp);
    // float accumulation of <= 100 terms in [0, 1]: relative error well under 1e-5
    CHECK(std::fabs(sum - stored_sum) <= 1e-5 * stored_sum);
    CHECK(sum >= 1.0f - 1e-6f);  // the maximum itself contributes exactly 1
  }
}

}  // namespace

TEST_CASE("ScaleMaskMax scales, masks to -inf from `visible` on, and returns the maximum, on every target") {
  test::ForEachTarget([](const std::string& name) {
    CHECK(hwy::TargetName(HWY_DYNAMIC_DISPATCH(SoftmaxTestTarget)()) == name);  // the override reached dispatch
    std::mt19937 rng(3);
    const float scale = 0.125f;
    for (const size_t len : kLengths)
      for (const size_t visible : {size_t{0}, size_t{1}, len / 2, len}) {
        const size_t padded = RoundUp(len, 16);
        const std::vector<float> row = Scores(padded, rng);
        std::vector<float> out = row;
        const float max = HWY_DYNAMIC_DISPATCH(ScaleMaskMaxOnTarget)(out.data(), padded, visible, scale);
        float want_max = kNegInf;
        size_t wrong = 0;
        for (size_t j = 0; j < padded; ++j) {
          const float want = j < visible ? row[j] * scale : kNegInf;  // one float multiply: exact match
          wrong += out[j] != want;
          want_max = std::max(want_max, want);
        }
        INFO("len " << len << " visible " << visible);
        CHECK(wrong == 0);
        CHECK(max == want_max);
      }
  });
}

TEST_CASE("ExpSubSum stores e^(x - max) and returns their sum, on every target") {
  test::ForEachTarget([](const std::string&) {
    // hn::Exp's documented accuracy (hwy/contrib/math/math-inl.h): 1 ulp.
    CheckExpPass(HWY_DYNAMIC_DISPATCH(ExpSubSumOnTarget), [](float x) { return std::exp(static_cast<double>(x)); },
                 1.0);
  });
}

TEST_CASE("Exp2SubSum stores 2^(x - max) and returns their sum, on every target") {
  test::ForEachTarget([](const std::string&) {
    // Exp2NonPositive's bound on targets without FMA, the looser one (kernels_exp_test.cpp).
    CheckExpPass(HWY_DYNAMIC_DISPATCH(Exp2SubSumOnTarget),
                 [](float x) { return std::exp2(static_cast<double>(x)); }, 1.27);
  });
}

TEST_CASE("the softmax kernels compile the scalar fallback and every x86 target the CPU supports") {
  test::CheckEveryTargetCompiled();
}

#endif  // HWY_ONCE
