// fused: the per-target micro-kernels of the flash-style attention, written once with Highway
// and compiled for every target by the including translation unit (fused_kernels.cc, and the
// micro-benchmark tools/fused_microbench.cc which times each of them alone). Include after
// hwy/foreach_target.h.
//
// A task (br query rows: positions x the query heads of one KV head) walks the key blocks (bc
// keys each); inside a block it walks row groups of kR <= 6 rows. For one group and one block,
// GroupBlock does:
//   ScoreTile  S = Q_g . K^T_block      (kR x kMatMulColVecs register tile, hd-long FMA chain)
//              + causal / window / padding mask (-inf) + row max, fused into the tile's epilogue
//   softmax    m_new = max(m, rowmax); alpha = 2^(m - m_new); P = 2^(S - m_new) (Exp2SubSum,
//              scores in log2 units);
//              l = alpha l + sum(P); dropout zeroes P after the sum
//   PvTile     O_g = alpha O_g + P . V_block (the rescale fused into the accumulator load)

// Per-target include guard: toggled by foreach_target.h for every target it compiles.
#if defined(ATTNBENCH_FUSED_FUSED_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNBENCH_FUSED_FUSED_INL_H_
#undef ATTNBENCH_FUSED_FUSED_INL_H_
#else
#define ATTNBENCH_FUSED_FUSED_INL_H_
#endif

#include <cmath>
#include <limits>

#include "fused_attention.h"
#include "hwy/highway.h"
// MulAddTile (the FMA loop of both tiles), StoreColumns, kMatMulColVecs (the register tile width
// per target); Exp2SubSum (2^x and the row sum).
#include "kernels/matmul-inl.h"
#include "kernels/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Scores of kR query rows against one chunk of kC key vectors:
//   s[r, col + c] = q_r . K^T[:, key0 + col + c], -inf unless lo[r] <= col + c < lim[r] (the
//   causal mask, the sliding window and the padding; relative to the block's first key).
// q is pre-scaled. Also folds the chunk's row maxima into bmax[r].
template <size_t kR, size_t kC, class D>
HWY_INLINE void ScoreTile(D d, const float* HWY_RESTRICT q, size_t hd,
                          const float* HWY_RESTRICT kt, size_t ldkt, size_t col,
                          float* HWY_RESTRICT s, size_t lds, const float* lo, const float* lim,
                          bool mask, float* HWY_RESTRICT bmax) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kR][kC];
  for (size_t r = 0; r < kR; ++r)
    for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::Zero(d);
  MulAddTile<kR, kC>(d, q, hd, kt + col, ldkt, hd, acc);
  const V ninf = hn::Set(d, -std::numeric_limits<float>::infinity());
  for (size_t r = 0; r < kR; ++r) {
    V vmax = ninf;
    if (mask) {
      // Key index relative to the block, as float (exact: < 2^24).
      const V first = hn::Set(d, lo[r]);
      const V limit = hn::Set(d, lim[r]);
      V index = hn::Add(hn::Iota(d, 0.0f), hn::Set(d, static_cast<float>(col)));
      const V step = hn::Set(d, static_cast<float>(N));
      for (size_t j = 0; j < kC; ++j, index = hn::Add(index, step)) {
        acc[r][j] = hn::IfThenElse(hn::And(hn::Ge(index, first), hn::Lt(index, limit)), acc[r][j], ninf);
        vmax = hn::Max(vmax, acc[r][j]);
        hn::StoreU(acc[r][j], d, s + r * lds + col + j * N);
      }
    } else {
      for (size_t j = 0; j < kC; ++j) {
        vmax = hn::Max(vmax, acc[r][j]);
        hn::StoreU(acc[r][j], d, s + r * lds + col + j * N);
      }
    }
    bmax[r] = HWY_MAX(bmax[r], hn::GetLane(hn::MaxOfLanes(d, vmax)));
  }
}

// o[r, col + c] = o[r, col + c] * alpha[r] + sum_k p[r, k] * v[k, col + c] for kR rows and kC
// vectors of head_dim columns: the online-softmax rescale fused into the accumulator load.
template <size_t kR, size_t kC, class D>
HWY_INLINE void PvTile(D d, const float* HWY_RESTRICT p, size_t ldp, size_t keys,
                       const float* HWY_RESTRICT v, size_t ldv, size_t col, float* HWY_RESTRICT o,
                       size_t ldo, const float* HWY_RESTRICT alpha) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V acc[kR][kC];
  for (size_t r = 0; r < kR; ++r) {
    const V a = hn::Set(d, alpha[r]);
    for (size_t j = 0; j < kC; ++j) acc[r][j] = hn::Mul(hn::LoadU(d, o + r * ldo + col + j * N), a);
  }
  MulAddTile<kR, kC>(d, p, ldp, v + col, ldv, keys, acc);
  for (size_t r = 0; r < kR; ++r)
    for (size_t j = 0; j < kC; ++j) hn::StoreU(acc[r][j], d, o + r * ldo + col + j * N);
}

struct GroupArgs {
  const float* q;     // [kR, hd] pre-scaled query rows
  const float* kt;    // K^T block start (column key0), row stride ldkt
  size_t ldkt;
  const float* v;     // V block start (row key0), row stride hd_pad
  float* o;           // [kR, hd_pad] accumulators
  float* s;           // [kGroup, bc]
  float* m;           // running max [kR]
  float* l;           // running sum [kR][FusedState::kPad], per lane: reduced at the task's end
  float* alpha;       // [kGroup]
  float* bmax;        // [kGroup]
  // Keys of this block row r sees: [lo[r], lim[r]) relative to key0 (either may lie outside
  // [0, bc): lo <= 0 when the row sees the block from its start, lim <= 0 when not at all).
  float lo[FusedState::kGroup];
  float lim[FusedState::kGroup];
  size_t skip;        // leading keys of the block no row of the group sees (a whole number of vectors)
  size_t width;       // keys of this block up to the last one any row of the group sees (skip < width <= bc)
  bool mask;          // some row sees less than [skip, width rounded up to a vector)
  size_t key0;        // absolute index of the block's first key
  uint64_t row_key[FusedState::kGroup];  // dropout row keys (b, query head, absolute position)
};

// One row group (kR query rows) against one key block: scores, online softmax update, dropout,
// P . V accumulation. Only the keys [skip, width) of the block are touched.
template <size_t kR, class D>
HWY_NOINLINE void GroupBlock(D d, const FusedState& st, const GroupArgs& g) {
  const size_t N = hn::Lanes(d);
  const size_t hd = st.head_dim, bc = st.bc;
  const size_t vecs = (g.width + N - 1) / N;
  const size_t wpad = vecs * N;
  for (size_t r = 0; r < kR; ++r) g.bmax[r] = -std::numeric_limits<float>::infinity();
  size_t vec = g.skip / N;
  for (; vec + kMatMulColVecs <= vecs; vec += kMatMulColVecs)
    ScoreTile<kR, kMatMulColVecs>(d, g.q, hd, g.kt, g.ldkt, vec * N, g.s, bc, g.lo, g.lim, g.mask, g.bmax);
  for (; vec < vecs; ++vec) ScoreTile<kR, 1>(d, g.q, hd, g.kt, g.ldkt, vec * N, g.s, bc, g.lo, g.lim, g.mask, g.bmax);

  // Online softmax: new max, rescale factor for what was accumulated, exp and sum of the block.
  // The sum counts dropped weights too (dropout acts on the normalised weights). It stays one
  // vector of lane sums per row (l), reduced once per task: a horizontal sum per row and block
  // sat on the exp's latency chain (perf annotate at T = 2048: 8 % of GroupBlock). alpha is a
  // one-lane Exp2NonPositive (m_old - m_new <= 0), not a libm call.
  const hn::CappedTag<float, 1> d1;
  for (size_t r = 0; r < kR; ++r) {
    const float m_old = g.m[r];
    const float m_new = HWY_MAX(m_old, g.bmax[r]);
    float* row = g.s + r * bc;
    if (m_new == -std::numeric_limits<float>::infinity()) {
      // Nothing visible yet for this row (a row above a straddling block, or before its window).
      for (size_t j = g.skip; j < wpad; ++j) row[j] = 0.0f;
      g.alpha[r] = 1.0f;
      continue;
    }
    const float alpha = m_old == m_new ? 1.0f : hn::GetLane(Exp2NonPositive(d1, hn::Set(d1, m_old - m_new)));
    const auto sums = Exp2SubLaneSums(d, row + g.skip, wpad - g.skip, m_new);
    float* l = g.l + r * FusedState::kPad;
    hn::Store(hn::MulAdd(hn::Load(d, l), hn::Set(d, alpha), sums), d, l);
    g.m[r] = m_new;
    g.alpha[r] = alpha;
    if (st.dropout_threshold != 0) {
      // Only the visible keys: the others are 0 already, and their mask bits are never drawn.
      const float lo = HWY_MAX(g.lo[r], static_cast<float>(g.skip));
      const float hi = HWY_MIN(g.lim[r], static_cast<float>(g.width));
      for (size_t j = static_cast<size_t>(lo); static_cast<float>(j) < hi; ++j)
        if (!ab_dropout_keep(g.row_key[r], g.key0 + j, st.dropout_threshold)) row[j] = 0.0f;
    }
  }

  const size_t ovecs = st.hd_pad / N;
  const size_t keys = g.width - g.skip;
  const float* p = g.s + g.skip;
  const float* v = g.v + g.skip * st.hd_pad;
  size_t ov = 0;
  for (; ov + kMatMulColVecs <= ovecs; ov += kMatMulColVecs)
    PvTile<kR, kMatMulColVecs>(d, p, bc, keys, v, st.hd_pad, ov * N, g.o, st.hd_pad, g.alpha);
  for (; ov < ovecs; ++ov) PvTile<kR, 1>(d, p, bc, keys, v, st.hd_pad, ov * N, g.o, st.hd_pad, g.alpha);
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
