// Highway attention: per-target kernels (compiled once per instruction set by foreach_target.h)
// and the target-independent driver that packs weights, splits the work into OpenMP tasks and
// dispatches every task to the best target (HWY_DYNAMIC_DISPATCH).
//
// Per batch the work is: QKV = X . [W_q | W_k | W_v] (+ b) as one MatMul (K and V kv_heads *
// head_dim wide); the new keys transposed into each KV head's K^T after its cache columns (the
// cache is put there, and into the V blocks, once in prepare), so the score MatMul reads keys
// contiguously; then per task of query rows of the query heads sharing one KV head (stacked so
// K and V are read once for them): S = Q . K^T over only the keys the rows can see (causal mask,
// sliding window), one fused pass for scale + mask + max, one for exp + sum, dropout, and
// ctx = P . V with the 1/sum and 1/(1-p) factors folded into the MatMul epilogue (head_dim
// multiplies per row instead of T); finally out = ctx . W_o + b_o.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention_hwy.cc"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "attention_hwy.h"
#include "kernels/matmul-inl.h"
#include "kernels/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

int64_t CurrentTarget() { return HWY_TARGET; }

void MatMulTask(const MatMulArgs& m) { MatMul(hn::ScalableTag<float>(), m); }

// MatMul (matmul-inl.h) with the rows past the last whole block of kMatMulRows done as one tile
// of that many rows rather than one tile per row: every tile streams its B columns through all
// of k, so a decoding step's 4 stacked rows would otherwise read V (too large for any cache)
// 4 times from memory.
template <size_t kC, class D>
HWY_INLINE void MulRowsTile(D d, const MatMulArgs& m, size_t row, size_t col, size_t valid) {
  switch (m.rows - row) {
    case 1: return MulTile<1, kC>(d, m, row, col, valid);
    case 2: return MulTile<2, kC>(d, m, row, col, valid);
    case 3: return MulTile<3, kC>(d, m, row, col, valid);
    case 4: return MulTile<4, kC>(d, m, row, col, valid);
    default: return MulTile<5, kC>(d, m, row, col, valid);
  }
  static_assert(kMatMulRows == 6, "the cases above cover kMatMulRows - 1 rows");
}

template <class D>
HWY_NOINLINE void MatMulAllRows(D d, const MatMulArgs& m) {
  const size_t N = hn::Lanes(d);
  const size_t wide = kMatMulColVecs * N;
  for (size_t col = 0; col < m.cols;) {
    const size_t valid = m.cols - col;
    size_t row = 0;
    if (valid >= wide) {
      for (; row + kMatMulRows <= m.rows; row += kMatMulRows)
        MulTile<kMatMulRows, kMatMulColVecs>(d, m, row, col, valid);
      if (row < m.rows) MulRowsTile<kMatMulColVecs>(d, m, row, col, valid);
      col += wide;
    } else {  // the last few vectors, the final one partial
      for (; row + kMatMulRows <= m.rows; row += kMatMulRows) MulTile<kMatMulRows, 1>(d, m, row, col, valid);
      if (row < m.rows) MulRowsTile<1>(d, m, row, col, valid);
      col += N;
    }
  }
}

// Zeroes the weights dropout removes from the unnormalised softmax numerators row[0, n) of
// query head h, absolute query position i, whose entry jj is absolute key j0 + jj. Scalar: the
// mask is a 64-bit hash per element and Highway 1.0.3 lacks 64-bit multiplies on some targets;
// it only runs with dropout > 0.
void Dropout(const HwyAttentionState& s, size_t b, size_t h, size_t i, size_t j0, float* row, size_t n) {
  const uint64_t key = ab_dropout_row_key(s.p.dropout_seed, b, h, i);
  for (size_t j = 0; j < n; ++j)
    if (!ab_dropout_keep(key, j0 + j, s.dropout_threshold)) row[j] = 0.0f;
}

// Context rows [t0, t0 + head_rows) of query heads [h0, h0 + task_heads) in batch b; the heads
// all read KV head g, whose keys and values are read once for all of them: their query rows are
// stacked (head-major) into one score MatMul against K^T and one P . V MatMul. Only the key
// range the task's rows can see is multiplied (the causal mask, the sliding window); keys before
// a row's window start are masked to -inf. `scratch` is this thread's. ctx is [B*T, d_out].
void AttendRows(const HwyAttentionState& s, float* ctx, size_t b, size_t g, size_t h0, size_t t0,
                float* scratch) {
  const hn::ScalableTag<float> d;
  const ab_problem& p = s.p;
  const size_t T = p.seq_len, hd = s.head_dim, P = p.past_len;
  const size_t rows = HWY_MIN(s.head_rows, T - t0);
  const size_t n_heads = s.task_heads, stacked = n_heads * rows;
  const size_t kb = KeyBegin(p, t0), ke = KeyEnd(p, t0 + rows - 1);  // keys any row sees
  const size_t width = ke - kb;
  const size_t padded = hwy::RoundUpTo(width, hn::Lanes(d));
  const size_t max_stacked = n_heads * s.head_rows;
  float* scores = scratch;
  float* row_scale = scores + max_stacked * s.ld_s;
  float* q_rows = row_scale + hwy::RoundUpTo(max_stacked, HwyAttentionState::kPad);
  float* ctx_rows = q_rows + max_stacked * s.ld_v;
  const float* qkv_b = s.qkv.data() + b * T * s.ld_qkv;

  // One head: Q and ctx are read / written in place. Several: stacked into scratch.
  const bool in_place = n_heads == 1;
  if (!in_place)
    for (size_t k = 0; k < n_heads; ++k)
      for (size_t r = 0; r < rows; ++r)
        std::memcpy(q_rows + (k * rows + r) * s.ld_v, qkv_b + (t0 + r) * s.ld_qkv + s.q_off + (h0 + k) * hd,
                    hd * sizeof(float));

  // scores = Q_rows . K_g^T over keys [kb, ke), one MatMul per K^T slab the range touches.
  constexpr size_t kBlock = HwyAttentionState::kKeyBlock;
  const float* kt_g = s.kt.data() + (b * p.kv_heads + g) * s.kt_head;
  MatMulArgs qk;
  qk.a = in_place ? qkv_b + t0 * s.ld_qkv + s.q_off + h0 * hd : q_rows;
  qk.lda = in_place ? s.ld_qkv : s.ld_v;
  qk.ldb = kBlock;
  qk.ldc = s.ld_s;
  qk.rows = stacked;
  qk.k = hd;
  for (size_t j = kb; j < ke; j += qk.cols) {
    qk.b = kt_g + j / kBlock * hd * kBlock + j % kBlock;
    qk.c = scores + (j - kb);
    qk.cols = HWY_MIN(kBlock - j % kBlock, ke - j);
    MatMulAllRows(d, qk);
  }

  const float ninf = -std::numeric_limits<float>::infinity();
  for (size_t k = 0; k < n_heads; ++k)
    for (size_t r = 0; r < rows; ++r) {
      const size_t t = t0 + r, i = P + t;
      const size_t begin = KeyBegin(p, t) - kb, end = KeyEnd(p, t) - kb;  // within the range
      float* row = scores + (k * rows + r) * s.ld_s;
      std::fill(row, row + begin, ninf);  // before the window: ScaleMaskMax masks only the end
      const float max = ScaleMaskMax(d, row, padded, end, s.scale);
      const float sum = ExpSubSum(d, row, padded, max);
      if (p.dropout_p > 0.0f) Dropout(s, b, h0 + k, i, kb + begin, row + begin, end - begin);
      row_scale[k * rows + r] = s.keep_scale / sum;
    }

  MatMulArgs pv;  // ctx rows = (P . V_g) * keep_scale / sum
  pv.a = scores;
  pv.lda = s.ld_s;
  if (P == 0) {  // no cache: V in place in qkv (key j is new row j)
    pv.b = qkv_b + kb * s.ld_qkv + s.v_off + g * hd;
    pv.ldb = s.ld_qkv;
  } else {
    pv.b = s.vcat.data() + ((b * p.kv_heads + g) * s.keys + kb) * s.ld_v;
    pv.ldb = s.ld_v;
  }
  pv.c = in_place ? ctx + (b * T + t0) * p.d_out + h0 * hd : ctx_rows;
  pv.ldc = in_place ? p.d_out : s.ld_v;
  pv.rows = stacked;
  pv.k = width;
  pv.cols = hd;
  pv.row_scale = row_scale;
  MatMulAllRows(d, pv);
  if (!in_place)
    for (size_t k = 0; k < n_heads; ++k)
      for (size_t r = 0; r < rows; ++r)
        std::memcpy(ctx + (b * T + t0 + r) * p.d_out + (h0 + k) * hd, ctx_rows + (k * rows + r) * s.ld_v,
                    hd * sizeof(float));
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/flush_denormals.h"
#include "kernels/pack.h"

namespace attnbench {

HWY_EXPORT(CurrentTarget);
HWY_EXPORT(MatMulTask);
HWY_EXPORT(AttendRows);

namespace {

constexpr size_t kPad = HwyAttentionState::kPad;

}  // namespace

namespace {

// Query heads of one KV head a task stacks: the whole group (K and V read once for all of it)
// unless that leaves fewer tasks than threads, then the largest divisor of the group that does
// not (MQA decoding: one KV head, one query row per head).
size_t HeadsPerTask(const ab_problem& p, size_t group, size_t blocks) {
  size_t n = group;
  while (n > 1 && static_cast<size_t>(p.batch) * p.heads / n * blocks < static_cast<size_t>(p.threads)) {
    do --n;
    while (group % n != 0);
  }
  return n;
}

}  // namespace

HwyAttention::HwyAttention(const ab_problem& p, const ab_weights& w) {
  HwyAttentionState& s = s_;
  s.p = p;
  s.head_dim = HeadDim(p);
  s.kv_dim = KvDim(p);
  s.group = p.heads / p.kv_heads;
  s.keys = static_cast<size_t>(p.past_len) + p.seq_len;
  const size_t B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, hd = s.head_dim;
  const size_t KVH = p.kv_heads, P = p.past_len, kvd = s.kv_dim;
  s.scale = static_cast<float>(ScoreScale(p));
  s.keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p.dropout_p)));
  s.dropout_threshold = ab_dropout_threshold(p.dropout_p);

  if (p.qkv_proj) {
    s.ld_qkv = RoundUp(dout + 2 * kvd, kPad);
    s.q_off = 0, s.k_off = dout, s.v_off = dout + kvd;
    s.w_qkv = Zeroed(din * s.ld_qkv + kPad);
    s.b_qkv = Zeroed(s.ld_qkv + kPad);
    CopyRows(w.w_q, dout, din, dout, s.w_qkv.data() + s.q_off, s.ld_qkv);
    CopyRows(w.w_k, kvd, din, kvd, s.w_qkv.data() + s.k_off, s.ld_qkv);
    CopyRows(w.w_v, kvd, din, kvd, s.w_qkv.data() + s.v_off, s.ld_qkv);
    if (p.qkv_bias) {  // otherwise the zeros of Zeroed
      std::memcpy(s.b_qkv.data() + s.q_off, w.b_q, dout * sizeof(float));
      std::memcpy(s.b_qkv.data() + s.k_off, w.b_k, kvd * sizeof(float));
      std::memcpy(s.b_qkv.data() + s.v_off, w.b_v, kvd * sizeof(float));
    }
  } else {  // simplified: Q = K = V = X, all read from one padded copy of X
    s.ld_qkv = RoundUp(din, kPad);
  }
  if (p.out_proj) {
    s.ld_o = RoundUp(dout, kPad);
    s.w_o = Zeroed(dout * s.ld_o + kPad);
    CopyRows(w.w_o, dout, dout, dout, s.w_o.data(), s.ld_o);
    s.b_o = Zeroed(s.ld_o + kPad);
    std::memcpy(s.b_o.data(), w.b_o, dout * sizeof(float));
    s.ctx = Zeroed(B * T * dout);
  }
  // + kPad: the V loads of the last head of the last row run up to a vector past the row.
  s.qkv = Zeroed(B * T * s.ld_qkv + kPad);

  // The task shape: fewer rows per head the more heads a task stacks, so the stacked score
  // rows stay about kTaskRows (L2-sized); at least one MatMul row block per head.
  constexpr size_t kRows = HwyAttentionState::kTaskRows, kRowBlock = 6;  // kMatMulRows
  const size_t per_head = std::max(kRowBlock, kRows / s.group / kRowBlock * kRowBlock);
  s.head_rows = std::min(per_head, T);
  const size_t blocks = (T + s.head_rows - 1) / s.head_rows;
  s.task_heads = HeadsPerTask(p, s.group, blocks);
  // Widest key range of a task: all L keys, or with a window the W keys of its first row plus
  // one more per further row.
  size_t width = s.keys;
  if (p.causal && p.window > 0) width = std::min(width, static_cast<size_t>(p.window) + s.head_rows - 1);
  s.ld_s = RoundUp(width, kPad);
  constexpr size_t kBlock = HwyAttentionState::kKeyBlock;
  s.kt_head = RoundUp(s.keys, kBlock) * hd;
  s.ld_v = RoundUp(hd, kPad);

  // The cache in the kernels' layout: keys [0, P) of every KV head's K^T slabs, V rows [0, P).
  s.kt = Zeroed(B * KVH * s.kt_head + kPad);
  if (P > 0) {
    s.vcat = Zeroed(B * KVH * s.keys * s.ld_v + kPad);
    for (size_t bg = 0; bg < B * KVH; ++bg) {
      TransposeKBlocks(w.k_cache + bg * P * hd, hd, 0, P, hd, s.kt.data() + bg * s.kt_head, kBlock);
      CopyRows(w.v_cache + bg * P * hd, hd, P, hd, s.vcat.data() + bg * s.keys * s.ld_v, s.ld_v);
    }
  }

  const size_t stacked = s.task_heads * s.head_rows;
  s.scratch_stride = RoundUp(stacked * (s.ld_s + 2 * s.ld_v) + RoundUp(stacked, kPad), kPad);
  s.scratch = Zeroed(static_cast<size_t>(p.threads) * s.scratch_stride);
}

size_t HwyAttention::WorkspaceBytes() const {
  return s_.w_qkv.bytes() + s_.b_qkv.bytes() + s_.w_o.bytes() + s_.b_o.bytes() + s_.qkv.bytes() +
         s_.kt.bytes() + s_.vcat.bytes() + s_.ctx.bytes() + s_.scratch.bytes();
}

const char* HwyAttention::TargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(CurrentTarget)());
}

void HwyAttention::Run(const float* x, float* out) {
  ProjectQkv(x);
  StoreNewKeys();
  Attend(s_.p.out_proj ? s_.ctx.data() : out);
  if (s_.p.out_proj) ProjectOut(out);
}

namespace {

// Splits C = A . B into tasks of kRowPanel rows x kColPanel columns (small enough that the A
// panel and a B column tile stay in L2, many enough to balance two or more threads) and runs
// them in parallel.
void ParallelMatMul(const MatMulArgs& m, int threads) {
  constexpr size_t kRowPanel = 96, kColPanel = 256;  // multiples of kMatMulRows and of kPad
  const size_t row_tasks = (m.rows + kRowPanel - 1) / kRowPanel;
  const size_t col_tasks = (m.cols + kColPanel - 1) / kColPanel;
  const long tasks = static_cast<long>(row_tasks * col_tasks);
#pragma omp parallel num_threads(threads)
  {
    FlushDenormals ftz;
#pragma omp for schedule(dynamic)
    for (long t = 0; t < tasks; ++t) {
      const size_t r0 = t / col_tasks * kRowPanel, c0 = t % col_tasks * kColPanel;
      MatMulArgs task = m;
      task.a += r0 * m.lda;
      task.b += c0;
      task.c += r0 * m.ldc + c0;
      if (m.bias) task.bias += c0;
      task.rows = std::min(kRowPanel, m.rows - r0);
      task.cols = std::min(kColPanel, m.cols - c0);
      HWY_DYNAMIC_DISPATCH(MatMulTask)(task);
    }
  }
}

}  // namespace

void HwyAttention::ProjectQkv(const float* x) {
  const ab_problem& p = s_.p;
  const size_t rows = static_cast<size_t>(p.batch) * p.seq_len;
  if (!p.qkv_proj) {
#pragma omp parallel for schedule(static) num_threads(p.threads)
    for (long r = 0; r < static_cast<long>(rows); ++r)
      std::memcpy(s_.qkv.data() + r * s_.ld_qkv, x + r * p.d_in, p.d_in * sizeof(float));
    return;
  }
  MatMulArgs m;
  m.a = x;
  m.lda = p.d_in;
  m.b = s_.w_qkv.data();
  m.ldb = s_.ld_qkv;
  m.c = s_.qkv.data();
  m.ldc = s_.ld_qkv;
  m.rows = rows;
  m.k = p.d_in;
  m.cols = static_cast<size_t>(p.d_out) + 2 * s_.kv_dim;
  m.bias = s_.b_qkv.data();
  ParallelMatMul(m, p.threads);
}

namespace {

// Key t of k (row stride ldk) goes to K^T slab position j = first + t, i.e. dimension d to
//   kt[(j / kKeyBlock) * hd * kKeyBlock + d * kKeyBlock + j % kKeyBlock]
// (TransposeKBlocks's layout, with the keys' absolute positions starting at `first`).
// Key-block by key-block, so the writes stay inside one slab.
void StoreKeyBlocks(const float* k, size_t ldk, size_t n, size_t hd, size_t first, float* kt) {
  constexpr size_t kBlock = HwyAttentionState::kKeyBlock;
  for (size_t t0 = 0; t0 < n;) {
    const size_t j0 = first + t0, t1 = std::min(n, t0 + kBlock - j0 % kBlock);
    float* col0 = kt + j0 / kBlock * hd * kBlock + j0 % kBlock;  // key t0, dimension 0
    for (size_t d = 0; d < hd; ++d)
      for (size_t t = t0; t < t1; ++t) col0[d * kBlock + (t - t0)] = k[t * ldk + d];
    t0 = t1;
  }
}

}  // namespace

// The T new keys of every KV head after its cache: kt[b, g, d, P + t] = K[b, t, g*hd + d]
// and, with a cache, vcat[b, g, P + t] = V[b, t, g*hd ..] (without one, V is read in place).
void HwyAttention::StoreNewKeys() {
  const ab_problem& p = s_.p;
  const size_t T = p.seq_len, hd = s_.head_dim, P = p.past_len;
  const long kv_heads = static_cast<long>(p.batch) * p.kv_heads;
#pragma omp parallel for schedule(static) num_threads(p.threads)
  for (long bg = 0; bg < kv_heads; ++bg) {
    const size_t b = bg / p.kv_heads, g = bg % p.kv_heads;
    const float* qkv_b = s_.qkv.data() + b * T * s_.ld_qkv;
    StoreKeyBlocks(qkv_b + s_.k_off + g * hd, s_.ld_qkv, T, hd, P, s_.kt.data() + bg * s_.kt_head);
    if (P > 0)
      CopyRows(qkv_b + s_.v_off + g * hd, s_.ld_qkv, T, hd, s_.vcat.data() + (bg * s_.keys + P) * s_.ld_v,
               s_.ld_v);
  }
}

// One task per (batch, KV head, stack of task_heads query heads, block of head_rows query rows),
// dynamically scheduled. Within a stack the blocks go last-first: with the causal mask the late
// rows cost the most, so the cheapest tasks come last and fill the gaps at the end of the loop.
void HwyAttention::Attend(float* ctx) {
  const ab_problem& p = s_.p;
  const size_t rows = s_.head_rows;
  const size_t blocks = (p.seq_len + rows - 1) / rows;
  const size_t stacks = p.heads / s_.task_heads;  // per batch
  const long tasks = static_cast<long>(p.batch * stacks * blocks);
#pragma omp parallel num_threads(p.threads)
  {
    FlushDenormals ftz;
    float* scratch = s_.scratch.data() + omp_get_thread_num() * s_.scratch_stride;
#pragma omp for schedule(dynamic)
    for (long t = 0; t < tasks; ++t) {
      const size_t bs = t / blocks, blk = blocks - 1 - t % blocks;
      const size_t b = bs / stacks, h0 = bs % stacks * s_.task_heads;
      HWY_DYNAMIC_DISPATCH(AttendRows)(s_, ctx, b, h0 / s_.group, h0, blk * rows, scratch);
    }
  }
}

void HwyAttention::ProjectOut(float* out) {
  const ab_problem& p = s_.p;
  MatMulArgs m;
  m.a = s_.ctx.data();
  m.lda = p.d_out;
  m.b = s_.w_o.data();
  m.ldb = s_.ld_o;
  m.c = out;
  m.ldc = p.d_out;
  m.rows = static_cast<size_t>(p.batch) * p.seq_len;
  m.k = p.d_out;
  m.cols = p.d_out;
  m.bias = s_.b_o.data();
  ParallelMatMul(m, p.threads);
}

}  // namespace attnbench

#endif  // HWY_ONCE
