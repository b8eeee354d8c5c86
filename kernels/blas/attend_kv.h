// One query head's attention on BLAS GEMMs for every problem form of ABI version 2 (backend_abi.h,
// "Positions"): the head reads its KV head's keys, which are the cache's past_len rows followed
// by the T new rows, and each query row sees only [KeyBegin, KeyEnd) of them (causal mask offset
// by past_len, sliding window). The cache and the new keys stay where they are (the host's cache,
// the backend's projected K / V): a key range that spans both is two GEMMs into adjacent column
// blocks of one score buffer, and P . V the matching two GEMMs, the second accumulating.
// The chapter-3 problems are the special case past_len = 0, window = 0, kv_heads = heads.
// Header-only on top of blas_ops.h (so it uses that plugin's BLAS policy).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/blas/blas_ops.h"

namespace attnbench::blas_ops {

// Softmax of one score row whose entry jj is absolute key j0 + jj: over [begin, end) of it, zeros
// elsewhere in [0, width), then inverted dropout keyed by the absolute key index, folded into the
// normalisation.
struct KvRowSoftmax {
  explicit KvRowSoftmax(const ab_problem& p)
      : dropout(p.dropout_p > 0.0f),
        seed(p.dropout_seed),
        threshold(ab_dropout_threshold(p.dropout_p)),
        keep_scale(1.0f / (1.0f - p.dropout_p)) {}

  // b, h: batch and query head; i: the absolute query position (past_len + t).
  void operator()(float* row, int begin, int end, int width, int64_t j0, int b, int h, int64_t i) const {
    float m = -std::numeric_limits<float>::infinity();
    for (int j = begin; j < end; ++j) m = std::max(m, row[j]);
    float sum = 0.0f;
    for (int j = begin; j < end; ++j) sum += (row[j] = std::exp(row[j] - m));
    const float norm = (dropout ? keep_scale : 1.0f) / sum;
    if (dropout) {
      const uint64_t key = ab_dropout_row_key(seed, b, h, i);
      for (int j = begin; j < end; ++j)
        row[j] = ab_dropout_keep(key, static_cast<uint64_t>(j0 + j), threshold) ? row[j] * norm : 0.0f;
    } else {
      for (int j = begin; j < end; ++j) row[j] *= norm;
    }
    std::fill(row, row + begin, 0.0f);
    std::fill(row + end, row + width, 0.0f);
  }

  bool dropout;
  uint64_t seed, threshold;
  float keep_scale;
};

// One (batch, query head): its Q rows and context (strided views into [B*T, ...] rows), its KV
// head's new keys / values (strided views, T rows) and cached ones ([past_len, head_dim],
// contiguous; null without a cache).
struct KvHeadView {
  const float* q;
  int ldq;
  const float *k, *v;  // the T new rows
  int ldk, ldv;
  const float *k_cache, *v_cache;  // past_len rows of head_dim
  float* ctx;
  int ldc;
  int b, h;
};

// Widest key range a block of row_block query rows can see: all past_len + T keys, or with a
// window its W keys plus one more per further row. The score buffer is row_block x this.
inline int KvScoreWidth(const ab_problem& p, int row_block) {
  const int64_t keys = static_cast<int64_t>(p.past_len) + p.seq_len;
  const int64_t width = p.causal && p.window > 0 ? std::min<int64_t>(keys, p.window + row_block - 1) : keys;
  return static_cast<int>(width);
}

// ctx_h = softmax(scale Q_h K_g^T, mask) . V_g, row_block query rows at a time, scores
// [row_block, KvScoreWidth] in `scores`. Block [t0, t1) multiplies only keys
// [KeyBegin(t0), KeyEnd(t1 - 1)): with the causal mask about half of a square problem, with a
// window W about W per row; the cache part and the new part of that range are separate GEMMs.
inline void AttendHeadKv(const ab_problem& p, const KvRowSoftmax& softmax, const KvHeadView& v, float* scores,
                         int row_block) {
  const int T = p.seq_len, hd = HeadDim(p);
  const int64_t P = p.past_len;
  const float scale = static_cast<float>(ScoreScale(p));
  for (int t0 = 0; t0 < T; t0 += row_block) {
    const int rows = std::min(row_block, T - t0);
    const int64_t kb = KeyBegin(p, t0), ke = KeyEnd(p, t0 + rows - 1);
    const int width = static_cast<int>(ke - kb);
    const int n_cache = static_cast<int>(std::max<int64_t>(0, std::min(ke, P) - kb));  // keys [kb, kb + n_cache)
    const int n_new = width - n_cache;                                                // new rows from max(kb, P) - P
    const int64_t first_new = std::max(kb, P) - P;
    const float* q = v.q + static_cast<size_t>(t0) * v.ldq;
    if (n_cache > 0)
      GemmNT(rows, n_cache, hd, scale, q, v.ldq, v.k_cache + kb * hd, hd, 0.0f, scores, width);
    if (n_new > 0)
      GemmNT(rows, n_new, hd, scale, q, v.ldq, v.k + first_new * v.ldk, v.ldk, 0.0f, scores + n_cache, width);
    for (int r = 0; r < rows; ++r) {
      const int t = t0 + r;
      softmax(scores + static_cast<size_t>(r) * width, static_cast<int>(KeyBegin(p, t) - kb),
              static_cast<int>(KeyEnd(p, t) - kb), width, kb, v.b, v.h, P + t);
    }
    float* ctx = v.ctx + static_cast<size_t>(t0) * v.ldc;
    if (n_cache > 0) Gemm(rows, hd, n_cache, 1.0f, scores, width, v.v_cache + kb * hd, hd, 0.0f, ctx, v.ldc);
    if (n_new > 0)
      Gemm(rows, hd, n_new, 1.0f, scores + n_cache, width, v.v + first_new * v.ldv, v.ldv, n_cache > 0 ? 1.0f : 0.0f,
           ctx, v.ldc);
  }
}

// AttendHeads (blas_ops.h) for AttendHeadKv: the same thread policy (one OpenMP thread per head
// with a serial BLAS when there are enough heads, else the BLAS's own threads).
template <class ViewFn>
void AttendHeadsKv(const ab_problem& p, int n_items, ViewFn view, float* scores, size_t scores_per_thread,
                   int row_block) {
  const KvRowSoftmax softmax(p);
  if (OpenMpHeads(p, n_items)) {
    SerialBlasScope serial;
#pragma omp parallel for num_threads(p.threads) schedule(static)
    for (int it = 0; it < n_items; ++it)
      AttendHeadKv(p, softmax, view(it), scores + omp_get_thread_num() * scores_per_thread, row_block);
  } else {
    for (int it = 0; it < n_items; ++it) AttendHeadKv(p, softmax, view(it), scores, row_block);
  }
}

}  // namespace attnbench::blas_ops
