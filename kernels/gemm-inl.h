// A GEMM with packed B for the projections (X . W with W fixed at prepare time), written once
// with Highway and compiled per target by the including translation unit (include after
// hwy/foreach_target.h). The shape is BLIS's loops around a register-tiled micro-kernel:
//
//   for each panel of 64 columns (B packed panel-major once: pack.h, PackGemmB)
//     for each block of kc rows of B (only when k > kGemmMaxKc, or kGemmMaxKcGrouped)
//       for each column tile of the panel (1 on AVX-512, 4 on AVX2, ...)
//         for each group of kGemmRows rows of A: GemmTile, kc-long FMA chain in registers
//
// so one column tile of the B slab (kc x tile columns, <= 128 KiB at kc = 512 on AVX-512) is
// read by every row group of the task while it sits in L1 / L2, the rows of A stream past it,
// and C is written once per k block (once for k <= kGemmMaxKc, which covers d_in = 768).
// B's layout (GemmArgs::group) matches the tile: a [k][64] slab per panel for AVX-512's 64
// columns, four [k][16] micro-panels per panel for AVX2's 16, so a tile's B is one contiguous
// stream either way. While the row tiles of one column tile run, they prefetch into L2 what the
// task reads next: the next panel's slab, or (16-column groups) the next micro-panel.
// Threads split the product into GemmBlock tasks (rows x panels) of their own: this file has
// no threading.
//
// Stores into C are exact (BlendedStore for a partial vector): columns at or beyond n are
// never written, so C may be a view into a wider matrix another thread writes.

// Per-target include guard: toggled by foreach_target.h for every target it compiles.
#if defined(ATTNBENCH_KERNELS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNBENCH_KERNELS_GEMM_INL_H_
#undef ATTNBENCH_KERNELS_GEMM_INL_H_
#else
#define ATTNBENCH_KERNELS_GEMM_INL_H_
#endif

#include <stddef.h>

#include <utility>

#include "hwy/highway.h"
#include "kernels/gemm_args.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The register tile: kGemmRows rows of A (each value broadcast once per k step and used by
// kGemmColVecs FMAs) times kGemmColVecs vectors of B (each loaded once per k step and used by
// kGemmRows FMAs). Accumulators + B vectors + one broadcast must fit the register file:
// AVX-512 6 x 4 + 4 + 1 = 29 of 32 zmm; AVX2 / SSE4 6 x 2 + 2 + 1 = 15 of 16. Per k step the
// AVX-512 tile issues 24 FMAs against 4 loads + 6 broadcasts, so with two FMA ports it is
// FMA-bound (12 cycles) with the two load ports half idle.
constexpr size_t kGemmRows = 6;
#if HWY_TARGET <= HWY_AVX3
constexpr size_t kGemmColVecs = 4;
#else
constexpr size_t kGemmColVecs = 2;
#endif

// Longest k block: a column tile of the B slab is kc x 64 floats = 128 KiB at 512 on AVX-512,
// well inside L2 next to the task's rows of A. Longer k is split into equal blocks; C is then
// re-read once per extra block. A 16-column micro-panel is one contiguous stream the hardware
// prefetcher follows, so there k blocks pay only from 1024 up (fused_microbench, session 9:
// kc 256 / 384 / 768 at d = 768, the unblocked fastest).
constexpr size_t kGemmMaxKc = 512;
constexpr size_t kGemmMaxKcGrouped = 1024;

// Stores v (column offset `col` of a tile) into c, only the lanes below `valid` columns.
template <class D, class V>
HWY_INLINE void GemmStoreColumns(D d, V v, size_t col, size_t valid, float* HWY_RESTRICT c) {
  const size_t N = hn::Lanes(d);
  if (col + N <= valid) {
    hn::StoreU(v, d, c + col);
  } else if (col < valid) {
    hn::BlendedStore(v, hn::FirstN(d, valid - col), d, c + col);
  }
}

// C[kR rows, kC vectors] (+)= A[kR, kc] . Bslab[kc, kC vectors]. b points into a packed panel
// (vector aligned): k step kk's vector j at b + kk * bstep + j * vstep (pack.h's layout). The
// accumulators start from C (accumulate: a later k block, always a tile whose columns are all
// valid), else from the bias (if any), else zero.
// `valid` = columns of C that exist from the tile start (>= kC * N: the whole tile).
template <size_t kR, size_t kC, class D>
HWY_INLINE void GemmTile(D d, const float* HWY_RESTRICT a, size_t lda, const float* HWY_RESTRICT b,
                         size_t bstep, size_t vstep, size_t kc, const float* HWY_RESTRICT bias, bool accumulate,
                         float* HWY_RESTRICT c, size_t ldc, size_t valid, const char* pf, const char* pf_end) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kR][kC];
  if (accumulate) {
    for (size_t r = 0; r < kR; ++r)
      for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::LoadU(d, c + r * ldc + j * N);
  } else if (bias) {
    for (size_t j = 0; j < kC; ++j) acc[0][j] = hn::LoadU(d, bias + j * N);
    for (size_t r = 1; r < kR; ++r)
      for (size_t j = 0; j < kC; ++j) acc[r][j] = acc[0][j];
  } else {
    for (size_t r = 0; r < kR; ++r)
      for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::Zero(d);
  }
  const auto step = [&](size_t kk) HWY_ATTR {
    V bv[kC];
    for (size_t j = 0; j < kC; ++j) bv[j] = hn::Load(d, b + j * vstep);
    for (size_t r = 0; r < kR; ++r) {
      const V av = hn::Set(d, a[r * lda + kk]);
      for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::MulAdd(av, bv[j], acc[r][j]);
    }
  };
  // The prefetch slice (one line per k step, into L2: prefetcht1; L1 holds this tile's stream)
  // goes with the first k steps, in a loop of its own: a test per step of the one k loop cost
  // five of its ~29 instructions, in a loop whose issue rate is what limits it.
  const size_t pf_lines = pf < pf_end ? static_cast<size_t>(pf_end - pf + 63) / 64 : 0;
  const size_t kp = HWY_MIN(kc, pf_lines);
  size_t kk = 0;
  for (; kk < kp; ++kk, b += bstep, pf += 64) {
    __builtin_prefetch(pf, 0, 2);
    step(kk);
  }
  for (; kk < kc; ++kk, b += bstep) step(kk);
  if (valid >= kC * N) {
    for (size_t r = 0; r < kR; ++r)
      for (size_t j = 0; j < kC; ++j) hn::StoreU(acc[r][j], d, c + r * ldc + j * N);
  } else {
    for (size_t r = 0; r < kR; ++r)
      for (size_t j = 0; j < kC; ++j) GemmStoreColumns(d, acc[r][j], j * N, valid, c + r * ldc);
  }
}

// One tile height per function: the compiler keeps a tile's accumulators in registers only when
// nothing else (another tile's loop, a switch over heights) competes for them.
template <size_t kR, class D>
HWY_NOINLINE void GemmRowTile(D d, const float* HWY_RESTRICT a, size_t lda, const float* HWY_RESTRICT b,
                              size_t bstep, size_t vstep, size_t kc, const float* HWY_RESTRICT bias, bool accumulate,
                              float* HWY_RESTRICT c, size_t ldc, size_t valid, const char* pf, const char* pf_end) {
  GemmTile<kR, kGemmColVecs>(d, a, lda, b, bstep, vstep, kc, bias, accumulate, c, ldc, valid, pf, pf_end);
}

// Rows [row0, row1) x one column tile (columns col .. col + tile of panel `panel`), k block
// [k0, k0 + kc): full row groups, then one or two shorter tiles for the remainder. `next`: the
// packed panel this task computes after this one (nullptr: none).
template <class D>
HWY_INLINE void GemmColumnTile(D d, const GemmArgs& m, size_t row0, size_t row1, size_t panel, size_t col,
                               size_t k0, size_t kc, const float* next) {
  const size_t N = hn::Lanes(d), g = m.group;
  const size_t c0 = panel * kGemmPanel + col;  // first column of C
  // Column c of the packed panel p at k step k0 (pack.h's layout).
  const auto at = [&](const float* p, size_t c) { return p + c / g * m.k * g + k0 * g + c % g; };
  const float* slab = m.b + panel * m.k * kGemmPanel;
  const float* b = at(slab, col);
  // The tile's vectors are side by side within a group, or each in its own group (AVX-512's
  // 64-column tile on 16-column groups: a layout packed for another target, tests).
  const size_t vstep = kGemmColVecs * N <= g ? N : m.k * g;
  const float* bias = m.bias && k0 == 0 ? m.bias + c0 : nullptr;
  const bool accumulate = k0 != 0;
  const size_t valid = m.n - c0;
  // A short tile streams the whole B slab for few FMAs (a 2-row tile on AVX-512: 256 bytes of B
  // per 4 cycles, more than L2 delivers), so a remainder of 1 .. 3 rows takes one full group
  // back and the 7 .. 9 rows go as two tiles of 3 .. 5 (T = 128: 20 x 6 + 4 + 4, not 21 x 6 + 2).
  const size_t rows = row1 - row0;
  size_t full = rows / kGemmRows, tail = rows % kGemmRows;
  if (full > 0 && tail > 0 && tail <= 3) --full, tail += kGemmRows;
  const size_t row_tiles = full + (tail > kGemmRows ? 2 : tail > 0 ? 1 : 0);
  // Each row tile prefetches its slice of what the task reads after this column tile into L2
  // (one line per k step of its first k steps), so that the first row tile there does not
  // stream B from L3 at the FMA rate: the next panel's slab (its same k block: for
  // k <= kGemmMaxKc the whole slab), or with 16-column groups the next micro-panel (this panel's
  // next group, else the next panel's first). Measured at T = 128..2048 (paired_timing, fused,
  // 64-column groups): 3-7 % off the whole run; with 16-column groups on AVX2, 1.018 / 1.004
  // without it at T = 128 / 1024. The slices are spread evenly over all the column tile's row
  // tiles (session 12; before, the first two row tiles took kc / 2 lines each on AVX2):
  // 0.96-0.99 of the time at T = 128..1024.
  const size_t next_col = col + kGemmColVecs * N;  // this panel's next column tile
  const float* pf_from = g < kGemmPanel && next_col < kGemmPanel && c0 - col + next_col < m.n ? at(slab, next_col)
                         : next                                                              ? at(next, 0)
                                                                                             : nullptr;
  const size_t pf_bytes = pf_from ? kc * g * sizeof(float) : 0;
  const char* pf_base = reinterpret_cast<const char*>(pf_from ? pf_from : b);
  const size_t pf_step = row_tiles ? (pf_bytes / 64 + row_tiles - 1) / row_tiles * 64 : 0;
  size_t pf_offset = 0;
  const auto prefetch_slice = [&]() {  // [pf, pf_end) of the next row tile, clamped to the block
    const size_t begin = HWY_MIN(pf_offset, pf_bytes), end = HWY_MIN(pf_offset + pf_step, pf_bytes);
    pf_offset += pf_step;
    return std::pair<const char*, const char*>{pf_base + begin, pf_base + end};
  };
  size_t row = row0;
  for (size_t t = 0; t < full; ++t, row += kGemmRows) {
    const auto [pf, pf_end] = prefetch_slice();
    GemmRowTile<kGemmRows>(d, m.a + row * m.lda + k0, m.lda, b, g, vstep, kc, bias, accumulate, m.c + row * m.ldc + c0,
                           m.ldc, valid, pf, pf_end);
  }
  while (tail > 0) {
    const auto [pf, pf_end] = prefetch_slice();
    const size_t height = tail > kGemmRows ? tail - tail / 2 : tail;
    const float* a = m.a + row * m.lda + k0;
    float* c = m.c + row * m.ldc + c0;
    static_assert(kGemmRows == 6, "the remainder switch below lists heights 1 .. 5");
    switch (height) {
      case 5: GemmRowTile<5>(d, a, m.lda, b, g, vstep, kc, bias, accumulate, c, m.ldc, valid, pf, pf_end); break;
      case 4: GemmRowTile<4>(d, a, m.lda, b, g, vstep, kc, bias, accumulate, c, m.ldc, valid, pf, pf_end); break;
      case 3: GemmRowTile<3>(d, a, m.lda, b, g, vstep, kc, bias, accumulate, c, m.ldc, valid, pf, pf_end); break;
      case 2: GemmRowTile<2>(d, a, m.lda, b, g, vstep, kc, bias, accumulate, c, m.ldc, valid, pf, pf_end); break;
      case 1: GemmRowTile<1>(d, a, m.lda, b, g, vstep, kc, bias, accumulate, c, m.ldc, valid, pf, pf_end); break;
      default: GemmRowTile<kGemmRows>(d, a, m.lda, b, g, vstep, kc, bias, accumulate, c, m.ldc, valid, pf, pf_end); break;
    }
    row += height, tail -= height;
  }
}

// The block `blk` of C = A . B (+ bias) (gemm_args.h). A panel with columns past n (the last
// one) is done in one k block, so that no partial vector of C is ever read back.
template <class D>
HWY_NOINLINE void Gemm(D d, const GemmArgs& m, const GemmBlock& blk) {
  const size_t tile = kGemmColVecs * hn::Lanes(d);
  const size_t max_kc = m.group < kGemmPanel ? kGemmMaxKcGrouped : kGemmMaxKc;
  const size_t k_blocks = m.k <= max_kc ? 1 : (m.k + max_kc - 1) / max_kc;
  const size_t kc = HWY_MAX(size_t{1}, (m.k + k_blocks - 1) / k_blocks);
  for (size_t panel = blk.panel0; panel < blk.panel1; ++panel) {
    const size_t valid = m.n - panel * kGemmPanel;  // > 0
    const bool full = valid >= kGemmPanel;
    size_t k0 = 0;
    do {  // at least once: with k = 0, C = bias (or 0)
      const size_t kcur = full ? HWY_MIN(kc, m.k - k0) : m.k;
      const float* next = panel + 1 < blk.panel1 ? m.b + (panel + 1) * m.k * kGemmPanel : nullptr;
      for (size_t col = 0; col < kGemmPanel && col < valid; col += tile)
        GemmColumnTile(d, m, blk.row0, blk.row1, panel, col, k0, kcur, next);
      k0 += kcur;
    } while (k0 < m.k);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
