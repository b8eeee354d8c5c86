// fused: flash-style attention. Per-target micro-kernels (compiled once per instruction set by
// foreach_target.h, dispatched with HWY_DYNAMIC_DISPATCH) and the target-independent driver.
//
// Run = one OpenMP parallel region with three phases (docs/fused.md):
//   1. QKV = X . [W_q | W_k | W_v] (+ b): row panels, each a Gemm (kernels/gemm-inl.h) over the
//      weights packed once in the constructor, and the same thread packs its panel's K
//      (transposed) and V per head while it is in cache;
//   2. attention: tasks of br query rows of one (batch, head), dynamically scheduled, most
//      expensive (latest causal) blocks first; per task an online softmax over key blocks of bc
//      keys, never materialising the T x T scores;
//   3. out = ctx . W_o + b_o: row panels, each a Gemm over the packed W_o.
// No BLAS: every product is this library's own Highway code, so the speed does not depend on
// which kernel the system BLAS picks (OPENBLAS_CORETYPE) and no second thread pool exists.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "fused_kernels.cc"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"

#include "fused-inl.h"
#include "fused_attention.h"
#include "kernels/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

int64_t FusedCurrentTarget() { return HWY_TARGET; }

// One projection task: the block `blk` of the product `m`.
void GemmTask(const GemmArgs& m, const GemmBlock& blk) { Gemm(hn::ScalableTag<float>(), m, blk); }

// Context rows [i0, i0 + br) of head h in batch b into ctx (row stride ldc). scratch is this
// thread's.
void AttendTask(const FusedState& st, float* ctx, size_t ldc, size_t b, size_t h, size_t i0,
                float* scratch) {
  const hn::ScalableTag<float> d;
  const ab_problem& p = st.p;
  const size_t T = p.seq_len, hd = st.head_dim, H = p.heads, bc = st.bc;
  const size_t rows = HWY_MIN(st.br, T - i0);
  float* q = scratch;
  float* o = q + st.br * hd;
  float* s = o + st.br * st.hd_pad;
  float* m = s + FusedState::kGroup * bc;
  float* l = m + st.br;
  float* alpha = l + st.br;
  float* bmax = alpha + FusedState::kGroup;

  // Pack (and pre-scale by scale * log2(e): scores in log2 units for Exp2SubSum) the task's query rows: contiguous, so the broadcasts of the score
  // tile never conflict in L1 the way rows 3 d_out apart would.
  for (size_t r = 0; r < rows; ++r) {
    const float* src = st.q_src + (b * T + i0 + r) * st.ld_q + h * hd;
    for (size_t k = 0; k < hd; ++k) q[r * hd + k] = src[k] * st.q_scale;
    m[r] = -std::numeric_limits<float>::infinity();
    l[r] = 0.0f;
  }
  for (size_t k = 0; k < rows * st.hd_pad; ++k) o[k] = 0.0f;

  const size_t bh = b * H + h;
  const float* kt = st.kt.data() + bh * hd * st.t_pad;
  const float* vp = st.vp.data() + bh * st.t_pad * st.hd_pad;
  const size_t key_end = p.causal ? i0 + rows : T;  // keys any row of the task sees
  for (size_t key0 = 0; key0 < key_end; key0 += bc) {
    for (size_t g0 = 0; g0 < rows; g0 += FusedState::kGroup) {
      const size_t gr = HWY_MIN(FusedState::kGroup, rows - g0);
      const size_t last_visible = p.causal ? i0 + g0 + gr : T;  // keys the group's last row sees
      if (last_visible <= key0) continue;  // the whole group is above the diagonal: skip
      GroupArgs g;
      g.q = q + g0 * hd;
      g.kt = kt + key0 * hd;  // block-major K^T: [t_pad / bc][hd][bc]
      g.ldkt = bc;
      g.v = vp + key0 * st.hd_pad;
      g.o = o + g0 * st.hd_pad;
      g.s = s;
      g.m = m + g0;
      g.l = l + g0;
      g.alpha = alpha;
      g.bmax = bmax;
      g.width = HWY_MIN(bc, last_visible - key0);
      const size_t wpad = hwy::RoundUpTo(g.width, hn::Lanes(d));
      g.mask = false;
      for (size_t r = 0; r < gr; ++r) {
        const size_t visible = p.causal ? i0 + g0 + r + 1 : T;
        g.lim[r] = static_cast<float>(static_cast<double>(visible) - static_cast<double>(key0));
        if (key0 + wpad > visible) g.mask = true;
      }
      g.key0 = key0;
      g.row0 = i0 + g0;
      g.b = b;
      g.h = h;
      switch (gr) {
        case 6: GroupBlock<6>(d, st, g); break;
        case 5: GroupBlock<5>(d, st, g); break;
        case 4: GroupBlock<4>(d, st, g); break;
        case 3: GroupBlock<3>(d, st, g); break;
        case 2: GroupBlock<2>(d, st, g); break;
        default: GroupBlock<1>(d, st, g); break;
      }
    }
  }

  // ctx = O * keep_scale / l; exact stores (the neighbouring columns are another head's).
  const size_t N = hn::Lanes(d);
  for (size_t r = 0; r < rows; ++r) {
    const auto f = hn::Set(d, st.keep_scale / l[r]);
    float* dst = ctx + (b * T + i0 + r) * ldc + h * hd;
    for (size_t c = 0; c < hd; c += N) StoreColumns(d, hn::Mul(hn::LoadU(d, o + r * st.hd_pad + c), f), c, hd, dst);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <omp.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "kernels/flush_denormals.h"
#include "kernels/pack.h"

namespace attnbench {

HWY_EXPORT(FusedCurrentTarget);
HWY_EXPORT(AttendTask);
HWY_EXPORT(GemmTask);

namespace {

constexpr size_t kPad = FusedState::kPad;
constexpr size_t kGemmRows = 6;  // the register tile's height on every target (gemm-inl.h)

}  // namespace

// How a projection of `groups` x `rows` rows (tasks never span two groups: QKV tasks stay
// within one batch, whose K and V rows they pack) is cut into tasks for `threads` threads: row
// tasks of at most max_rows (rounded down to whole register tiles), equal within a group, for
// one group their count a multiple of the threads so that equal tasks end together. When that
// gives fewer row tasks than threads (short T), every row task is also cut into one column
// block per thread: each thread then streams only its share of the packed weights past all the
// rows (T = 128: 128 rows per weight panel read, where two row tasks of 64 would each read every
// panel for half the reuse).
ProjectionSplit ProjectionSplit::For(size_t groups, size_t rows, size_t threads, size_t max_rows) {
  const size_t most = std::max(kGemmRows, max_rows / kGemmRows * kGemmRows);
  size_t tasks = (rows + most - 1) / most;
  const bool split_columns = groups * tasks < threads;
  if (groups == 1 && !split_columns) tasks = RoundUp(tasks, threads);
  const size_t task_rows = std::min(rows, RoundUp((rows + tasks - 1) / tasks, kGemmRows));
  return {std::max<size_t>(task_rows, 1), split_columns ? threads : 1};
}

namespace {

// w [k, n] (row stride ldw) packed for Gemm (at least one float: k or n may be 0).
AlignedBuffer<float> PackedWeights(const float* w, size_t ldw, size_t k, size_t n) {
  AlignedBuffer<float> packed(std::max<size_t>(1, PackedGemmFloats(k, n)));
  PackGemmB(w, ldw, k, n, packed.data());
  return packed;
}
// A bias of n floats padded with zeros to whole Gemm panels.
AlignedBuffer<float> PaddedBias(const float* bias, size_t n) {
  AlignedBuffer<float> padded(GemmPanels(n) * kGemmPanel);
  PackGemmBias(bias, n, padded.data());
  return padded;
}

}  // namespace

FusedAttention::FusedAttention(const ab_problem& p, const ab_weights& w, const FusedBlocks& blocks) {
  if (blocks.query_rows == 0 || blocks.keys == 0 || blocks.gemm_rows == 0)
    throw std::invalid_argument("fused: block sizes must be positive");
  FusedState& s = s_;
  s.p = p;
  s.head_dim = HeadDim(p);
  const size_t B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads;
  const size_t hd = s.head_dim;
  s.hd_pad = RoundUp(hd, kPad);
  s.q_scale = static_cast<float>(ScoreScale(p) * 1.4426950408889634);  // * log2(e)
  s.keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p.dropout_p)));
  s.dropout_threshold = ab_dropout_threshold(p.dropout_p);
  s.br = blocks.query_rows;
  s.bc = RoundUp(blocks.keys, kPad);
  s.t_pad = RoundUp(T, s.bc);

  if (p.qkv_proj) {
    const size_t n3 = 3 * dout;
    {  // [W_q | W_k | W_v] side by side, then packed: one GEMM of width 3 d_out
      AlignedBuffer<float> side_by_side(din * n3);
      PackQkvWeights(w, din, dout, side_by_side.data(), n3);
      w_qkv_ = PackedWeights(side_by_side.data(), n3, din, n3);
    }
    if (p.qkv_bias) {
      AlignedBuffer<float> bias(n3);
      PackQkvBias(w, dout, bias.data());
      b_qkv_ = PaddedBias(bias.data(), n3);
    }
    qkv_ = AlignedBuffer<float>(B * T * n3);
    s.q_src = qkv_.data();
    s.ld_q = n3;
  } else {
    s.ld_q = din;  // q_src = x, set per Run
  }
  if (p.out_proj) {
    w_o_ = PackedWeights(w.w_o, dout, dout, dout);
    if (w.b_o) b_o_ = PaddedBias(w.b_o, dout);
    ctx_ = AlignedBuffer<float>(B * T * dout);
  }
  s.kt = Zeroed(B * H * hd * s.t_pad);
  s.vp = Zeroed(B * H * s.t_pad * s.hd_pad);
  s.scratch_stride = RoundUp(s.br * hd + s.br * s.hd_pad + FusedState::kGroup * s.bc + 2 * s.br +
                                 2 * FusedState::kGroup,
                             kPad) + kPad;
  scratch_ = Zeroed(static_cast<size_t>(p.threads) * s.scratch_stride);
  const size_t threads = static_cast<size_t>(p.threads);
  qkv_split_ = ProjectionSplit::For(B, T, threads, blocks.gemm_rows);
  out_split_ = ProjectionSplit::For(1, B * T, threads, blocks.gemm_rows);
}

size_t FusedAttention::WorkspaceBytes() const {
  return w_qkv_.bytes() + b_qkv_.bytes() + w_o_.bytes() + b_o_.bytes() + qkv_.bytes() + ctx_.bytes() +
         s_.kt.bytes() + s_.vp.bytes() + scratch_.bytes();
}

const char* FusedAttention::TargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(FusedCurrentTarget)());
}

void FusedAttention::Run(const float* x, float* out) {
  const ab_problem& p = s_.p;
  if (!p.qkv_proj) s_.q_src = x;
  float* ctx = p.out_proj ? ctx_.data() : out;
#pragma omp parallel num_threads(p.threads)
  {
    FlushDenormals ftz;
    const int thread = omp_get_thread_num();
    ProjectAndPack(x);  // ends with a barrier
    Attend(ctx, scratch_.data() + thread * s_.scratch_stride);
    if (p.out_proj) ProjectOut(out);
  }
}

// Phase 1 (orphaned worksharing inside Run's region): per task of rows of one batch, the QKV
// GEMM, then K^T and V of those rows packed per head while they are in cache. When the rows
// are too few for one task per thread (short T), each row task is also cut into column blocks
// (see ProjectionSplit), and the packing waits for the barrier that ends the GEMMs.
void FusedAttention::ProjectAndPack(const float* x) {
  const ab_problem& p = s_.p;
  const size_t T = p.seq_len;
  const size_t tasks_per_batch = (T + qkv_split_.rows - 1) / qkv_split_.rows;
  const long row_tasks = static_cast<long>(p.batch * tasks_per_batch);
  const size_t n3 = 3 * static_cast<size_t>(p.d_out);
  const size_t cols = qkv_split_.col_blocks, panels = GemmPanels(n3);
  GemmArgs m;
  m.a = x, m.lda = p.d_in;
  m.b = w_qkv_.data(), m.bias = p.qkv_bias ? b_qkv_.data() : nullptr;
  m.c = qkv_.data(), m.ldc = n3;
  m.k = p.d_in, m.n = n3;
  const auto rows_of = [&](long t) {  // batch, first and end row (within the batch) of row task t
    const size_t b = t / tasks_per_batch, t0 = t % tasks_per_batch * qkv_split_.rows;
    return std::array<size_t, 3>{b, t0, std::min(T, t0 + qkv_split_.rows)};
  };
#pragma omp for schedule(dynamic)
  for (long t = 0; t < row_tasks * static_cast<long>(cols); ++t) {
    const auto [b, t0, t1] = rows_of(t / cols);
    const size_t col = t % cols;
    if (p.qkv_proj)
      HWY_DYNAMIC_DISPATCH(GemmTask)(m, GemmBlock{b * T + t0, b * T + t1, panels * col / cols, panels * (col + 1) / cols});
    if (cols == 1) PackKv(x, b, t0, t1);
  }
  if (cols > 1) {
#pragma omp for schedule(dynamic)
    for (long t = 0; t < row_tasks; ++t) {
      const auto [b, t0, t1] = rows_of(t);
      PackKv(x, b, t0, t1);
    }
  }
}

// K^T (block-major [t_pad/bc][hd][bc]) and V (rows padded to hd_pad) of rows [t0, t1) of batch
// b, every head, from the QKV product (or from x: simplified attention).
void FusedAttention::PackKv(const float* x, size_t b, size_t t0, size_t t1) {
  const ab_problem& p = s_.p;
  const size_t T = p.seq_len, H = p.heads, hd = s_.head_dim;
  const float* kv;  // row t of batch b: K at kv + (b*T + t)*ld + k_off, V at + v_off
  size_t ld, k_off, v_off;
  if (p.qkv_proj) {
    kv = qkv_.data(), ld = 3 * static_cast<size_t>(p.d_out), k_off = p.d_out, v_off = 2 * static_cast<size_t>(p.d_out);
  } else {
    kv = x, ld = p.d_in, k_off = 0, v_off = 0;
  }
  const float* rows = kv + b * T * ld;  // row 0 of batch b
  for (size_t h = 0; h < H; ++h) {
    const size_t bh = b * H + h;
    TransposeKBlocks(rows + k_off + h * hd, ld, t0, t1, hd, s_.kt.data() + bh * hd * s_.t_pad, s_.bc);
    CopyRows(rows + t0 * ld + v_off + h * hd, ld, t1 - t0, hd, s_.vp.data() + (bh * s_.t_pad + t0) * s_.hd_pad,
             s_.hd_pad);
  }
}

// Phase 2: one task per (batch, head, block of br query rows), head by head (two threads on one
// head share its K and V in the cache). Causal: within a head the latest blocks (the most keys)
// first -- longest-processing-time-first with dynamic scheduling, so the cheap first blocks of
// the last head fill the gaps at the end. Non-causal: all tasks cost the same.
void FusedAttention::Attend(float* ctx, float* scratch) {
  const ab_problem& p = s_.p;
  const size_t blocks = (p.seq_len + s_.br - 1) / s_.br;
  const size_t heads = static_cast<size_t>(p.batch) * p.heads;
  const long tasks = static_cast<long>(heads * blocks);
  const size_t ldc = p.d_out;
#pragma omp for schedule(dynamic)
  for (long t = 0; t < tasks; ++t) {
    const size_t bh = t / blocks;
    const size_t blk = p.causal ? blocks - 1 - t % blocks : t % blocks;
    HWY_DYNAMIC_DISPATCH(AttendTask)(s_, ctx, ldc, bh / p.heads, bh % p.heads, blk * s_.br, scratch);
  }
}

// Phase 3: out = ctx . W_o + b_o, row panels.
void FusedAttention::ProjectOut(float* out) {
  const ab_problem& p = s_.p;
  const size_t rows = static_cast<size_t>(p.batch) * p.seq_len;
  const long row_tasks = static_cast<long>((rows + out_split_.rows - 1) / out_split_.rows);
  const size_t cols = out_split_.col_blocks, panels = GemmPanels(p.d_out);
  GemmArgs m;
  m.a = ctx_.data(), m.lda = p.d_out;
  m.b = w_o_.data(), m.bias = b_o_.size() ? b_o_.data() : nullptr;
  m.c = out, m.ldc = p.d_out;
  m.k = p.d_out, m.n = p.d_out;
  // nowait: the end of Run's parallel region is the barrier (a second one right before it
  // would only cost a wake-up round, which at short T and on a busy machine is not free).
#pragma omp for schedule(dynamic) nowait
  for (long t = 0; t < row_tasks * static_cast<long>(cols); ++t) {
    const size_t r0 = t / cols * out_split_.rows, r1 = std::min(rows, r0 + out_split_.rows), col = t % cols;
    HWY_DYNAMIC_DISPATCH(GemmTask)(m, GemmBlock{r0, r1, panels * col / cols, panels * (col + 1) / cols});
  }
}

}  // namespace attnbench

#endif  // HWY_ONCE
