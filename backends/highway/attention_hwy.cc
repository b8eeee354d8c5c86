// Highway attention: per-target kernels (compiled once per instruction set by foreach_target.h)
// and the target-independent driver that packs weights, splits the work into OpenMP tasks and
// dispatches every task to the best target (HWY_DYNAMIC_DISPATCH).
//
// Per batch the work is: QKV = X . [W_q | W_k | W_v] (+ b) as one MatMul; K transposed per head
// so the score MatMul reads keys contiguously; then per task of kTaskRows query rows of one head:
// S = Q . K^T, one fused pass for scale + causal mask + max, one for exp + sum, dropout, and
// ctx = P . V with the 1/sum and 1/(1-p) factors folded into the MatMul epilogue (head_dim
// multiplies per row instead of T); finally out = ctx . W_o + b_o.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention_hwy.cc"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"

#include "attention_hwy.h"
#include "kernels/matmul-inl.h"
#include "kernels/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

int64_t CurrentTarget() { return HWY_TARGET; }

void MatMulTask(const MatMulArgs& m) { MatMul(hn::ScalableTag<float>(), m); }

// Zeroes the weights dropout removes from one row of unnormalised softmax numerators. Scalar:
// the mask is a 64-bit hash per element and Highway 1.0.3 lacks 64-bit multiplies on some
// targets; it only runs with dropout > 0.
void Dropout(const HwyAttentionState& s, size_t b, size_t h, size_t i, float* row, size_t n) {
  const uint64_t key = ab_dropout_row_key(s.p.dropout_seed, b, h, i);
  for (size_t j = 0; j < n; ++j)
    if (!ab_dropout_keep(key, j, s.dropout_threshold)) row[j] = 0.0f;
}

// Context rows [i0, i0 + kTaskRows) of head h in batch b. `scratch` is this thread's.
// ctx is [B*T, d_out].
void AttendRows(const HwyAttentionState& s, float* ctx, size_t b, size_t h, size_t i0,
                float* scratch) {
  const hn::ScalableTag<float> d;
  const ab_problem& p = s.p;
  const size_t T = p.seq_len, hd = s.head_dim;
  const size_t rows = HWY_MIN(HwyAttentionState::kTaskRows, T - i0);
  const size_t keys = p.causal ? i0 + rows : T;  // keys any row of the task sees
  const size_t padded = hwy::RoundUpTo(keys, hn::Lanes(d));
  float* scores = scratch;
  float* row_scale = scratch + HwyAttentionState::kTaskRows * s.t_pad;
  const float* qkv_b = s.qkv.data() + b * T * s.ld_qkv;

  MatMulArgs qk;  // scores = Q_rows . K_h^T
  qk.a = qkv_b + i0 * s.ld_qkv + s.q_off + h * hd;
  qk.lda = s.ld_qkv;
  qk.b = s.kt.data() + (b * p.heads + h) * hd * s.t_pad;
  qk.ldb = s.t_pad;
  qk.c = scores;
  qk.ldc = s.t_pad;
  qk.rows = rows;
  qk.k = hd;
  qk.cols = keys;
  MatMul(d, qk);

  for (size_t r = 0; r < rows; ++r) {
    const size_t i = i0 + r;
    const size_t visible = p.causal ? i + 1 : T;
    float* row = scores + r * s.t_pad;
    const float max = ScaleMaskMax(d, row, padded, visible, s.scale);
    const float sum = ExpSubSum(d, row, padded, max);
    if (p.dropout_p > 0.0f) Dropout(s, b, h, i, row, visible);
    row_scale[r] = s.keep_scale / sum;
  }

  MatMulArgs pv;  // ctx rows = (P . V_h) * keep_scale / sum
  pv.a = scores;
  pv.lda = s.t_pad;
  pv.b = qkv_b + s.v_off + h * hd;
  pv.ldb = s.ld_qkv;
  pv.c = ctx + (b * T + i0) * p.d_out + h * hd;
  pv.ldc = p.d_out;
  pv.rows = rows;
  pv.k = keys;
  pv.cols = hd;
  pv.row_scale = row_scale;
  MatMul(d, pv);
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

HwyAttention::HwyAttention(const ab_problem& p, const ab_weights& w) {
  HwyAttentionState& s = s_;
  s.p = p;
  s.head_dim = HeadDim(p);
  const size_t B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads;
  s.scale = static_cast<float>(ScoreScale(p));
  s.keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p.dropout_p)));
  s.dropout_threshold = ab_dropout_threshold(p.dropout_p);
  s.t_pad = RoundUp(T, kPad);

  if (p.qkv_proj) {
    s.ld_qkv = RoundUp(3 * dout, kPad);
    s.q_off = 0, s.k_off = dout, s.v_off = 2 * dout;
    s.w_qkv = Zeroed(din * s.ld_qkv + kPad);
    s.b_qkv = Zeroed(s.ld_qkv + kPad);
    PackQkvWeights(w, din, dout, s.w_qkv.data(), s.ld_qkv);
    PackQkvBias(w, dout, s.b_qkv.data());
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
  s.kt = Zeroed(B * H * s.head_dim * s.t_pad);
  s.scratch_stride = RoundUp(HwyAttentionState::kTaskRows * (s.t_pad + 1), kPad);
  s.scratch = Zeroed(static_cast<size_t>(p.threads) * s.scratch_stride);
}

size_t HwyAttention::WorkspaceBytes() const {
  return s_.w_qkv.bytes() + s_.b_qkv.bytes() + s_.w_o.bytes() + s_.b_o.bytes() + s_.qkv.bytes() +
         s_.kt.bytes() + s_.ctx.bytes() + s_.scratch.bytes();
}

const char* HwyAttention::TargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(CurrentTarget)());
}

void HwyAttention::Run(const float* x, float* out) {
  ProjectQkv(x);
  TransposeK();
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
  m.cols = 3 * static_cast<size_t>(p.d_out);
  m.bias = s_.b_qkv.data();
  ParallelMatMul(m, p.threads);
}

// kt[b, h, d, j] = K[b, j, h*hd + d]: one key block as wide as the padded T.
void HwyAttention::TransposeK() {
  const ab_problem& p = s_.p;
  const size_t T = p.seq_len, hd = s_.head_dim;
  const long heads = static_cast<long>(p.batch) * p.heads;
#pragma omp parallel for schedule(static) num_threads(p.threads)
  for (long bh = 0; bh < heads; ++bh) {
    const size_t b = bh / p.heads, h = bh % p.heads;
    const float* k = s_.qkv.data() + b * T * s_.ld_qkv + s_.k_off + h * hd;
    TransposeKBlocks(k, s_.ld_qkv, 0, T, hd, s_.kt.data() + bh * hd * s_.t_pad, s_.t_pad);
  }
}

// One task per (batch, head, block of kTaskRows query rows), dynamically scheduled. Within a
// head the blocks go last-first: with the causal mask the late rows cost the most, so the
// cheapest tasks come last and fill the gaps at the end of the loop.
void HwyAttention::Attend(float* ctx) {
  const ab_problem& p = s_.p;
  constexpr size_t kRows = HwyAttentionState::kTaskRows;
  const size_t blocks = (p.seq_len + kRows - 1) / kRows;
  const long tasks = static_cast<long>(p.batch) * p.heads * blocks;
#pragma omp parallel num_threads(p.threads)
  {
    FlushDenormals ftz;
    float* scratch = s_.scratch.data() + omp_get_thread_num() * s_.scratch_stride;
#pragma omp for schedule(dynamic)
    for (long t = 0; t < tasks; ++t) {
      const size_t bh = t / blocks, blk = blocks - 1 - t % blocks;
      HWY_DYNAMIC_DISPATCH(AttendRows)(s_, ctx, bh / p.heads, bh % p.heads,
                                       blk * kRows, scratch);
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
