// Register-tiled matrix products, written once with Highway and compiled per target by the
// including translation unit (include after hwy/foreach_target.h). MulAddTile is the FMA loop
// every tile shares: the highway backend's MatMul here, and the fused backend's score and
// P . V tiles (backends/fused/fused-inl.h), which differ from MatMul only in how the
// accumulators start and end.
//
// Padding contract (Highway 1.0.3 has no fault-safe partial load on every target): every B
// matrix row and every bias is readable up to its column count rounded up to a whole vector
// (callers pad to 16 floats, the widest x86 vector). Stores into C are exact: the tail vector
// goes through BlendedStore, which writes no other lane on any target, so neighbouring columns
// may belong to another thread.

// Per-target include guard: toggled by foreach_target.h for every target it compiles.
#if defined(ATTNBENCH_KERNELS_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNBENCH_KERNELS_MATMUL_INL_H_
#undef ATTNBENCH_KERNELS_MATMUL_INL_H_
#else
#define ATTNBENCH_KERNELS_MATMUL_INL_H_
#endif

#include <stddef.h>

#include "hwy/highway.h"
#include "kernels/matmul_args.h"

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

// acc[r][j] += sum over kk < k of a[r * lda + kk] * b[kk * ldb + j * N, + N): kR rows of A
// against kC vectors of B. Each loaded B vector feeds kR FMAs, each broadcast A value kC.
// The compiler does not keep a generic accumulator array in registers unless every loop over
// it has a constant trip count, hence the template parameters (and HWY_INLINE: the caller's
// array must not go through memory).
template <size_t kR, size_t kC, class D>
HWY_INLINE void MulAddTile(D d, const float* HWY_RESTRICT a, size_t lda, const float* HWY_RESTRICT b,
                           size_t ldb, size_t k, hn::Vec<D> (&acc)[kR][kC]) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  for (size_t kk = 0; kk < k; ++kk, b += ldb) {
    V bv[kC];
    for (size_t j = 0; j < kC; ++j) bv[j] = hn::LoadU(d, b + j * N);
    for (size_t r = 0; r < kR; ++r) {
      const V av = hn::Set(d, a[r * lda + kk]);
      for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::MulAdd(av, bv[j], acc[r][j]);
    }
  }
}

// C[kR rows, kC vectors] for one tile; `valid` = columns of C that exist from the tile start.
template <size_t kR, size_t kC, class D>
HWY_INLINE void MulTile(D d, const MatMulArgs& m, size_t row, size_t col, size_t valid) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kR][kC];
  for (size_t r = 0; r < kR; ++r)
    for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::Zero(d);
  MulAddTile<kR, kC>(d, m.a + row * m.lda, m.lda, m.b + col, m.ldb, m.k, acc);
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

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
