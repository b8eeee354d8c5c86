// Vectorised exponentials for the softmax, written once with Highway and compiled per target by
// the including translation unit (include after hwy/foreach_target.h): Highway's own hn::Exp,
// and Exp2NonPositive, a cheaper 2^x for the inputs a softmax produces (x <= 0). Each comes
// with a functor (ExpOp, Exp2Op) for SubExpSum (softmax-inl.h).

// Per-target include guard: toggled by foreach_target.h for every target it compiles.
#if defined(ATTNBENCH_KERNELS_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNBENCH_KERNELS_EXP_INL_H_
#undef ATTNBENCH_KERNELS_EXP_INL_H_
#else
#define ATTNBENCH_KERNELS_EXP_INL_H_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Inputs below this give exactly 0 from Exp2NonPositive: 2^-125 times the polynomial's
// smallest value (2^-0.5) is still a normal float, one step further would not be.
constexpr float kExp2Min = -125.0f;

// 2^x for x <= 0 (a score minus its row maximum, both in log2 units: the fused backend's query
// rows carry scale * log2(e)). Cheaper than hn::Exp (no upper clamp, no two-step ldexp): round
// to the nearest integer n, a degree-6 polynomial for 2^f on f in [-0.5, 0.5] (coefficients
// fitted on Chebyshev nodes; accuracy in docs/fused.md, asserted by
// tests/unit/kernels_exp_test.cpp on every target), then add n to the exponent field. Inputs
// below -125 (the -inf of a mask included) give exactly 0: no subnormal can come out of here,
// unlike hn::Exp in about [-104, -87].
//
// n comes from the "magic number" rounding: adding 1.5 * 2^23 rounds x to an integer in the low
// mantissa bits of t (round to nearest even, as hn::Round), t - 1.5 * 2^23 is n as a float, and
// t's bits shifted left by 23 are n << 23 as an int32 (the mantissa's 0x400000 shifts out).
// Exact for |x| < 2^22; here -125 <= x <= 0. That is five vector ops where hn::Round (2 uops
// on AVX-512) + ConvertTo (with Highway's overflow fix-up, 4 more) + the shift were ten.
template <class D>
HWY_INLINE hn::Vec<D> Exp2NonPositive(D d, hn::Vec<D> x) {
  const hn::RebindToSigned<D> di;
  const auto lo = hn::Set(d, kExp2Min);
  const auto tiny = hn::Lt(x, lo);
  x = hn::Max(x, lo);
  const auto magic = hn::Set(d, 12582912.0f);  // 1.5 * 2^23
  const auto t = hn::Add(x, magic);
  const auto n = hn::Sub(t, magic);
  const auto f = hn::Sub(x, n);
  auto p = hn::Set(d, 1.546144485e-04f);
  p = hn::MulAdd(p, f, hn::Set(d, 1.340042800e-03f));
  p = hn::MulAdd(p, f, hn::Set(d, 9.618056938e-03f));
  p = hn::MulAdd(p, f, hn::Set(d, 5.550327152e-02f));
  p = hn::MulAdd(p, f, hn::Set(d, 2.402265072e-01f));
  p = hn::MulAdd(p, f, hn::Set(d, 6.931471825e-01f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.0f));
  const auto bits = hn::Add(hn::BitCast(di, p), hn::ShiftLeft<23>(hn::BitCast(di, t)));
  return hn::IfThenZeroElse(tiny, hn::BitCast(d, bits));
}

// e^x with Highway's general hn::Exp.
struct ExpOp {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::Exp(d, x);
  }
};

// 2^x for x <= 0 with Exp2NonPositive.
struct Exp2Op {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return Exp2NonPositive(d, x);
  }
};

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
