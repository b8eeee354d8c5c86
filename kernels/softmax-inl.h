// The softmax row passes, written once with Highway and compiled per target by the including
// translation unit (include after hwy/foreach_target.h): scale + mask + max in one pass, then
// exp + sum in one pass (with hn::Exp or the cheaper Exp2NonPositive of exp-inl.h).
//
// Padding contract: a row is readable and writable up to `padded`, its length rounded up to a
// whole vector (callers pad to 16 floats, the widest x86 vector).

// Per-target include guard: toggled by foreach_target.h for every target it compiles.
#if defined(ATTNBENCH_KERNELS_SOFTMAX_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNBENCH_KERNELS_SOFTMAX_INL_H_
#undef ATTNBENCH_KERNELS_SOFTMAX_INL_H_
#else
#define ATTNBENCH_KERNELS_SOFTMAX_INL_H_
#endif

#include <stddef.h>

#include <limits>

#include "hwy/highway.h"
#include "kernels/exp-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Softmax pass 1 over row[0, padded): row = row * scale, entries at or beyond `visible`
// become -inf (the causal mask and the padding); returns the row maximum. -inf rather than a
// large negative number so that Exp yields an exact 0 and never a subnormal.
template <class D>
HWY_INLINE float ScaleMaskMax(D d, float* HWY_RESTRICT row, size_t padded, size_t visible,
                              float scale) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const V vscale = hn::Set(d, scale);
  const V ninf = hn::Set(d, -std::numeric_limits<float>::infinity());
  const V limit = hn::Set(d, static_cast<float>(visible));  // exact: T <= 2^20 < 2^24
  const V step = hn::Set(d, static_cast<float>(N));
  V index = hn::Iota(d, 0.0f);
  V vmax = ninf;
  for (size_t j = 0; j < padded; j += N, index = hn::Add(index, step)) {
    const V v = hn::IfThenElse(hn::Lt(index, limit), hn::Mul(hn::LoadU(d, row + j), vscale), ninf);
    vmax = hn::Max(vmax, v);
    hn::StoreU(v, d, row + j);
  }
  return hn::GetLane(hn::MaxOfLanes(d, vmax));
}

// row[0, padded) = exp_fn(d, row - max); returns the sum per lane (a vector whose lanes add up
// to the row's sum: callers that accumulate over many calls reduce once at the end). Two
// independent chains: the exp has latency to hide. exp_fn: ExpOp (hn::Exp) or Exp2Op (2^x,
// scores in log2 units).
template <class D, class ExpFn>
HWY_INLINE hn::Vec<D> SubExpLaneSums(D d, float* HWY_RESTRICT row, size_t padded, float max, ExpFn exp_fn) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const V vmax = hn::Set(d, max);
  V sum0 = hn::Zero(d), sum1 = hn::Zero(d);
  size_t j = 0;
  for (; j + 2 * N <= padded; j += 2 * N) {
    const V e0 = exp_fn(d, hn::Sub(hn::LoadU(d, row + j), vmax));
    const V e1 = exp_fn(d, hn::Sub(hn::LoadU(d, row + j + N), vmax));
    sum0 = hn::Add(sum0, e0);
    sum1 = hn::Add(sum1, e1);
    hn::StoreU(e0, d, row + j);
    hn::StoreU(e1, d, row + j + N);
  }
  for (; j < padded; j += N) {
    const V e = exp_fn(d, hn::Sub(hn::LoadU(d, row + j), vmax));
    sum0 = hn::Add(sum0, e);
    hn::StoreU(e, d, row + j);
  }
  return hn::Add(sum0, sum1);
}

// The same, reduced: returns the row's sum.
template <class D, class ExpFn>
HWY_INLINE float SubExpSum(D d, float* HWY_RESTRICT row, size_t padded, float max, ExpFn exp_fn) {
  return hn::GetLane(hn::SumOfLanes(d, SubExpLaneSums(d, row, padded, max, exp_fn)));
}

// Softmax pass 2 over row[0, padded): row = e^(row - max); returns the sum. -inf gives 0.
template <class D>
HWY_INLINE float ExpSubSum(D d, float* HWY_RESTRICT row, size_t padded, float max) {
  return SubExpSum(d, row, padded, max, ExpOp());
}

// The same in log2 units: row = 2^(row - max) for rows whose entries are <= max (Exp2NonPositive).
template <class D>
HWY_INLINE float Exp2SubSum(D d, float* HWY_RESTRICT row, size_t padded, float max) {
  return SubExpSum(d, row, padded, max, Exp2Op());
}
// ... returning the lane sums (SubExpLaneSums).
template <class D>
HWY_INLINE hn::Vec<D> Exp2SubLaneSums(D d, float* HWY_RESTRICT row, size_t padded, float max) {
  return SubExpLaneSums(d, row, padded, max, Exp2Op());
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
