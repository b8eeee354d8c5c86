// SIMD building blocks for attention, written once with Highway and compiled per target.
// Reusable by any backend that includes this after hwy/foreach_target.h (e.g. a fused
// flash-style kernel): a register-blocked matrix product and the softmax row passes, named as
// verbs like gemma.cpp's ops-inl.h.
//
// Padding contract (Highway 1.0.3 has no fault-safe partial load on every target): every B
// matrix row and every bias is readable up to its column count rounded up to a whole vector
// (callers pad to 16 floats, the widest x86 vector); softmax rows are readable and writable up
// to the same rounding. Stores into C are exact: the tail vector goes through BlendedStore,
// which writes no other lane on any target, so neighbouring columns may belong to another
// thread.

// Per-target include guard: toggled by foreach_target.h for every target it compiles.
#if defined(ATTNBENCH_HIGHWAY_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNBENCH_HIGHWAY_ATTENTION_INL_H_
#undef ATTNBENCH_HIGHWAY_ATTENTION_INL_H_
#else
#define ATTNBENCH_HIGHWAY_ATTENTION_INL_H_
#endif

#include <stddef.h>

#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "matmul_args.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Register blocking of MatMul. Rows share each loaded B vector, columns share each broadcast A
// value; kRows x ColVecs accumulators plus ColVecs B vectors plus one broadcast must fit the
// register file: 6 x 4 + 5 of AVX-512's 32 registers, 6 x 2 + 3 of AVX2 / SSE4's 16.
constexpr size_t kMatMulRows = 6;
#if HWY_TARGET <= HWY_AVX3
constexpr size_t kMatMulColVecs = 4;
#else
constexpr size_t kMatMulColVecs = 2;
#endif

// Stores v (column offset `col` of a tile) into c, only the lanes below `valid` columns.
template <class D, class V>
HWY_INLINE void StoreColumns(D d, V v, size_t col, size_t valid, float* HWY_RESTRICT c) {
  const size_t N = hn::Lanes(d);
  if (col + N <= valid) {
    hn::StoreU(v, d, c + col);
  } else if (col < valid) {
    hn::BlendedStore(v, hn::FirstN(d, valid - col), d, c + col);
  }
}

// C[kR rows, kC vectors] for one tile; `valid` = columns of C that exist from the tile start.
// The compiler does not keep a generic accumulator array in registers unless every loop over
// it has a constant trip count, hence the template parameters.
template <size_t kR, size_t kC, class D>
HWY_INLINE void MulTile(D d, const MatMulArgs& m, size_t row, size_t col, size_t valid) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kR][kC];
  for (size_t r = 0; r < kR; ++r)
    for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::Zero(d);
  const float* HWY_RESTRICT a = m.a + row * m.lda;
  const float* HWY_RESTRICT b = m.b + col;
  for (size_t kk = 0; kk < m.k; ++kk, b += m.ldb) {
    V bv[kC];
    for (size_t j = 0; j < kC; ++j) bv[j] = hn::LoadU(d, b + j * N);
    for (size_t r = 0; r < kR; ++r) {
      const V av = hn::Set(d, a[r * m.lda + kk]);
      for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::MulAdd(av, bv[j], acc[r][j]);
    }
  }
  for (size_t r = 0; r < kR; ++r) {
    float* HWY_RESTRICT c = m.c + (row + r) * m.ldc + col;
    const V scale = hn::Set(d, m.row_scale ? m.row_scale[row + r] : 1.0f);
    for (size_t j = 0; j < kC; ++j) {
      V v = m.row_scale ? hn::Mul(acc[r][j], scale) : acc[r][j];
      if (m.bias) v = hn::Add(v, hn::LoadU(d, m.bias + col + j * N));
      StoreColumns(d, v, j * N, valid, c);
    }
  }
}

// C = A . B (* row_scale) (+ bias). Column tiles outside, row blocks inside: the k x tile
// slice of B stays in L1/L2 while every row block of A streams past it. Callers split large
// products into tasks of a few hundred rows and columns so that A stays in L2 too.
template <class D>
HWY_NOINLINE void MatMul(D d, const MatMulArgs& m) {
  const size_t N = hn::Lanes(d);
  const size_t wide = kMatMulColVecs * N;
  for (size_t col = 0; col < m.cols;) {
    const size_t valid = m.cols - col;
    size_t row = 0;
    if (valid >= wide) {
      for (; row + kMatMulRows <= m.rows; row += kMatMulRows)
        MulTile<kMatMulRows, kMatMulColVecs>(d, m, row, col, valid);
      for (; row < m.rows; ++row) MulTile<1, kMatMulColVecs>(d, m, row, col, valid);
      col += wide;
    } else {  // the last few vectors, the final one partial
      for (; row + kMatMulRows <= m.rows; row += kMatMulRows)
        MulTile<kMatMulRows, 1>(d, m, row, col, valid);
      for (; row < m.rows; ++row) MulTile<1, 1>(d, m, row, col, valid);
      col += N;
    }
  }
}

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

// row[0, padded) = exp_fn(d, row - max); returns the sum. Two independent chains: the exp has
// latency to hide. exp_fn: hn::Exp here, fused's cheaper 2^x (Exp2SubSum in fused-inl.h).
template <class D, class ExpFn>
HWY_INLINE float SubExpSum(D d, float* HWY_RESTRICT row, size_t padded, float max, ExpFn exp_fn) {
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
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1)));
}

struct ExpOp {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::Exp(d, x);
  }
};

// Softmax pass 2 over row[0, padded): row = exp(row - max); returns the sum. -inf gives 0.
template <class D>
HWY_INLINE float ExpSubSum(D d, float* HWY_RESTRICT row, size_t padded, float max) {
  return SubExpSum(d, row, padded, max, ExpOp());
}

// row[0, padded) *= c.
template <class D>
HWY_INLINE void MulByConst(D d, float c, float* HWY_RESTRICT row, size_t padded) {
  const size_t N = hn::Lanes(d);
  const auto vc = hn::Set(d, c);
  for (size_t j = 0; j < padded; j += N) hn::StoreU(hn::Mul(hn::LoadU(d, row + j), vc), d, row + j);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
