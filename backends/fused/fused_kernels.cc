// fused: flash-style attention. Per-target micro-kernels (compiled once per instruction set by
// foreach_target.h, dispatched with HWY_DYNAMIC_DISPATCH) and the target-independent driver.
//
// Run = one OpenMP parallel region with three phases (docs/fused.md):
//   1. QKV = X . [W_q | W_k | W_v] (+ b): row panels, each a Gemm (kernels/gemm-inl.h) over the
//      weights packed once in the constructor, and the same thread packs its panel's K
//      (transposed) and V per KV head while it is in cache, behind the KV cache's rows (copied
//      into the same layout once, in the constructor);
//   2. attention: tasks of br query rows (positions x the query heads sharing one KV head) of
//      one (batch, KV head), dynamically scheduled, most expensive (latest causal) blocks
//      first; per task an online softmax over the key blocks its rows see (causal mask and
//      sliding window: whole blocks skipped), never materialising the T x T scores. When the
//      query tasks are too few for the threads (decoding), each one's keys are also split into
//      chunks whose partial results are merged afterwards (flash-decoding);
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

// Columns of this target's GEMM register tile (its packed-B group: GemmGroupFor).
size_t GemmTileColumns() { return kGemmColVecs * hn::Lanes(hn::ScalableTag<float>()); }

// Query positions [i0, i0 + task_rows) of every query head of KV head g in batch b (the task's
// virtual rows, fused_attention.h) against the key blocks [kb0, kb1). scratch is this thread's.
void AttendTask(const FusedState& st, size_t b, size_t g, size_t i0, size_t kb0, size_t kb1,
                const TaskOutput& out, float* scratch) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const ab_problem& p = st.p;
  const size_t T = p.seq_len, hd = st.head_dim, bc = st.bc, G = st.group;
  const size_t positions = HWY_MIN(st.task_rows, T - i0);
  const size_t rows = positions * G;  // virtual rows: v -> position i0 + v / G, head g*G + v % G
  const FusedState::ScratchLayout at = st.Scratch();
  float* q = scratch + at.q;
  float* o = scratch + at.o;
  float* s = scratch + at.s;
  float* m = scratch + at.m;
  float* l = scratch + at.l;  // kPad lane sums per row
  float* alpha = scratch + at.alpha;
  float* bmax = scratch + at.bmax;

  // Pack (and pre-scale by scale * log2(e): scores in log2 units for Exp2SubSum) the task's
  // query rows: contiguous, so the broadcasts of the score tile never conflict in L1 the way
  // rows d_out + 2 kv_dim apart would.
  for (size_t v = 0; v < rows; ++v) {
    const float* src = st.q_src + (b * T + i0 + v / G) * st.ld_q + (g * G + v % G) * hd;
    for (size_t k = 0; k < hd; ++k) q[v * hd + k] = src[k] * st.q_scale;
    m[v] = -std::numeric_limits<float>::infinity();
  }
  for (size_t k = 0; k < rows * FusedState::kPad; ++k) l[k] = 0.0f;
  for (size_t k = 0; k < rows * st.hd_pad; ++k) o[k] = 0.0f;

  const size_t bg = b * p.kv_heads + g;
  const float* kt = st.kt.data() + bg * hd * st.t_pad;
  const float* vp = st.vp.data() + bg * st.t_pad * st.hd_pad;
  for (size_t kb = kb0; kb < kb1; ++kb) {
    const size_t key0 = kb * bc;
    for (size_t v0 = 0; v0 < rows; v0 += FusedState::kGroup) {
      const size_t gr = HWY_MIN(FusedState::kGroup, rows - v0);
      // The group's keys: from its first row's window start to its last row's diagonal.
      const size_t first = static_cast<size_t>(KeyBegin(p, i0 + v0 / G));
      const size_t end = static_cast<size_t>(KeyEnd(p, i0 + (v0 + gr - 1) / G));
      if (end <= key0 || first >= key0 + bc) continue;  // the whole group misses this block
      GroupArgs a;
      a.q = q + v0 * hd;
      a.kt = kt + key0 * hd;  // block-major K^T: [t_pad / bc][hd][bc]
      a.ldkt = bc;
      a.v = vp + key0 * st.hd_pad;
      a.o = o + v0 * st.hd_pad;
      a.s = s;
      a.m = m + v0;
      a.l = l + v0 * FusedState::kPad;
      a.alpha = alpha;
      a.bmax = bmax;
      a.width = HWY_MIN(bc, end - key0);
      a.skip = first > key0 ? (first - key0) / N * N : 0;
      const size_t wpad = hwy::RoundUpTo(a.width, N);
      a.mask = false;
      for (size_t r = 0; r < gr; ++r) {
        const size_t t = i0 + (v0 + r) / G;
        const int64_t lo = KeyBegin(p, t) - static_cast<int64_t>(key0);
        const int64_t lim = KeyEnd(p, t) - static_cast<int64_t>(key0);
        a.lo[r] = static_cast<float>(lo);
        a.lim[r] = static_cast<float>(lim);
        if (lo > static_cast<int64_t>(a.skip) || lim < static_cast<int64_t>(wpad)) a.mask = true;
        if (st.dropout_threshold != 0)
          a.row_key[r] = ab_dropout_row_key(p.dropout_seed, b, g * G + (v0 + r) % G, p.past_len + t);
      }
      a.key0 = key0;
      switch (gr) {
        case 6: GroupBlock<6>(d, st, a); break;
        case 5: GroupBlock<5>(d, st, a); break;
        case 4: GroupBlock<4>(d, st, a); break;
        case 3: GroupBlock<3>(d, st, a); break;
        case 2: GroupBlock<2>(d, st, a); break;
        default: GroupBlock<1>(d, st, a); break;
      }
    }
  }

  for (size_t v = 0; v < rows; ++v)  // the row sums: lane sums of every block, reduced once
    l[v] = hn::GetLane(hn::SumOfLanes(d, hn::Load(d, l + v * FusedState::kPad)));
  if (!out.ctx) {  // one chunk of several: CombineChunks normalises
    for (size_t k = 0; k < rows * st.hd_pad; ++k) out.o[k] = o[k];
    for (size_t v = 0; v < rows; ++v) out.m[v] = m[v], out.l[v] = l[v];
    return;
  }
  // ctx = O * keep_scale / l; exact stores (the neighbouring columns are another head's).
  for (size_t v = 0; v < rows; ++v) {
    const auto f = hn::Set(d, st.keep_scale / l[v]);
    float* dst = out.ctx + (b * T + i0 + v / G) * out.ldc + (g * G + v % G) * hd;
    for (size_t c = 0; c < hd; c += N) StoreColumns(d, hn::Mul(hn::LoadU(d, o + v * st.hd_pad + c), f), c, hd, dst);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "kernels/flush_denormals.h"
#include "kernels/pack.h"

namespace attnbench {

HWY_EXPORT(FusedCurrentTarget);
HWY_EXPORT(AttendTask);
HWY_EXPORT(GemmTask);
HWY_EXPORT(GemmTileColumns);

namespace {

constexpr size_t kPad = FusedState::kPad;
constexpr size_t kGemmRows = 6;  // the register tile's height on every target (gemm-inl.h)

// The flash-decoding split (docs/fused.md, "Decoding"): the keys of a query task are cut into
// chunks only when there are fewer than kTasksPerThread query tasks per thread (decoding a few
// tokens with few KV heads: B * kv_heads tasks), so that dynamic scheduling has enough tasks to
// balance; and a chunk keeps at least kMinChunkBlocks key blocks (256 keys), next to which
// packing the task's queries and merging its partial result cost little -- fewer for heads wider
// than 64, at least kMinChunkWork keys x head dimensions (one block for head_dim >= 256): the
// book's single-head variants (d = 768) at T = 256 have 4 query tasks of 4 key blocks each,
// which 2 threads could not balance (FusedPhases: 10 % of the attention's time at its barrier).
constexpr size_t kTasksPerThread = 4;
constexpr size_t kMinChunkBlocks = 4;
constexpr size_t kMinChunkWork = 256 * 64;

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

// w [k, n] (row stride ldw) packed for Gemm in groups of `group` columns (at least one float: k
// or n may be 0).
AlignedBuffer<float> PackedWeights(const float* w, size_t ldw, size_t k, size_t n, size_t group) {
  AlignedBuffer<float> packed(std::max<size_t>(1, PackedGemmFloats(k, n)));
  PackGemmB(w, ldw, k, n, packed.data(), group);
  return packed;
}
// A bias of n floats padded with zeros to whole Gemm panels.
AlignedBuffer<float> PaddedBias(const float* bias, size_t n) {
  AlignedBuffer<float> padded(GemmPanels(n) * kGemmPanel);
  PackGemmBias(bias, n, padded.data());
  return padded;
}

// [b_q | b_k | b_v] (d_out + 2 kv_dim floats).
void PlaceQkvBias(const ab_weights& w, size_t d_out, size_t kv_dim, float* dst) {
  std::memcpy(dst, w.b_q, d_out * sizeof(float));
  std::memcpy(dst + d_out, w.b_k, kv_dim * sizeof(float));
  std::memcpy(dst + d_out + kv_dim, w.b_v, kv_dim * sizeof(float));
}

// Rows [t0, t1) of k (row stride ldk) as keys first_key + t of the block-major K^T of one KV
// head (pack.h, TransposeKBlocks: key j, dimension d at kt[(j / bc) * hd * bc + d * bc + j % bc]).
// The new tokens' keys sit behind the cache's past_len ones, so unlike TransposeKBlocks the key
// index is offset from the source row. 16 x 16 tiles: both sides move along cache lines.
void TransposeNewKeys(const float* k, size_t ldk, size_t t0, size_t t1, size_t first_key, size_t hd, float* kt,
                      size_t bc) {
  constexpr size_t kTile = 16;
  float* dst[kTile];
  for (size_t j0 = t0; j0 < t1; j0 += kTile) {
    const size_t j1 = std::min(j0 + kTile, t1);
    for (size_t j = j0; j < j1; ++j) {
      const size_t key = first_key + j;
      dst[j - j0] = kt + key / bc * hd * bc + key % bc;
    }
    for (size_t d0 = 0; d0 < hd; d0 += kTile) {
      const size_t d1 = std::min(d0 + kTile, hd);
      for (size_t j = j0; j < j1; ++j) {
        const float* src = k + j * ldk;
        float* out = dst[j - j0];
        for (size_t d = d0; d < d1; ++d) out[d * bc] = src[d];
      }
    }
  }
}

// Key blocks [first, end) that query positions [t0, t1) see.
std::pair<size_t, size_t> KeyBlocksOf(const ab_problem& p, size_t t0, size_t t1, size_t bc) {
  const size_t first = static_cast<size_t>(KeyBegin(p, t0)), end = static_cast<size_t>(KeyEnd(p, t1 - 1));
  return {first / bc, (end + bc - 1) / bc};
}

}  // namespace

FusedAttention::FusedAttention(const ab_problem& p, const ab_weights& w, const FusedBlocks& blocks) {
  if (blocks.gemm_rows == 0) throw std::invalid_argument("fused: the GEMM's row block must be positive");
  FusedState& s = s_;
  s.p = p;
  s.head_dim = HeadDim(p);
  const size_t B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, KVH = p.kv_heads;
  const size_t hd = s.head_dim, kv_dim = KvDim(p);
  s.hd_pad = RoundUp(hd, kPad);
  s.q_scale = static_cast<float>(ScoreScale(p) * 1.4426950408889634);  // * log2(e)
  s.keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p.dropout_p)));
  s.dropout_threshold = ab_dropout_threshold(p.dropout_p);
  // A head of 64 takes a 16 KiB K^T block and a 16 KiB V block per 64 keys: both in L1, reused by
  // the 64 rows of a task. A wide one's blocks outgrow L1 (768 wide: 192 KiB each) and come from
  // L2 for every row group: more rows per task reuse each block more, and a block as narrow as the
  // register tile (AVX2: 16 keys; AVX-512's is 64 anyway) keeps both blocks in L2 beside the rows.
  // fused_microbench 'FusedAttention/.*/H:1' (one head of 768, T = 1024, one thread, Zen 3 AVX2):
  // 64 x 64 35.5-45.9 ms, 128 x 64 32.3, 128 x 16 26.9, 256 x 16 25.6 (docs/fused.md).
  // The longer tasks only where there are enough of them for the threads without splitting the
  // keys (the split's merge costs more than the reuse gains: 1.10x slower at T = 256, H = 1).
  const size_t tile_columns = HWY_DYNAMIC_DISPATCH(GemmTileColumns)();
  const bool wide_head = hd >= 256;
  const size_t long_tasks = static_cast<size_t>(p.batch) * static_cast<size_t>(p.kv_heads) * ((T + 127) / 128);
  s.br = blocks.query_rows ? blocks.query_rows
                           : wide_head && long_tasks >= kTasksPerThread * static_cast<size_t>(p.threads) ? 128 : 64;
  s.group = static_cast<size_t>(p.heads / p.kv_heads);
  s.task_rows = std::max<size_t>(1, s.br / s.group);
  s.bc = RoundUp(blocks.keys ? blocks.keys : wide_head ? std::min<size_t>(64, tile_columns) : 64, kPad);
  s.keys = static_cast<size_t>(p.past_len) + T;
  s.t_pad = RoundUp(s.keys, s.bc);

  // The weights' layout suits the target Run dispatches to now (the register tile's width); any
  // other target reads it too, a little slower (tests switch targets after construction).
  gemm_group_ = GemmGroupFor(tile_columns);
  if (p.qkv_proj) {
    qkv_cols_ = dout + 2 * kv_dim;
    // [W_q | W_k | W_v] packed as one GEMM of width d_out + 2 kv_dim, straight from the three
    // (no side-by-side copy: prepare's peak memory is what WorkspaceBytes claims).
    w_qkv_ = AlignedBuffer<float>(std::max<size_t>(1, PackedGemmFloats(din, qkv_cols_)));
    PackGemmBConcat({{w.w_q, dout, dout}, {w.w_k, kv_dim, kv_dim}, {w.w_v, kv_dim, kv_dim}}, din, w_qkv_.data(),
                    gemm_group_);
    if (p.qkv_bias) {
      AlignedBuffer<float> bias(qkv_cols_);
      PlaceQkvBias(w, dout, kv_dim, bias.data());
      b_qkv_ = PaddedBias(bias.data(), qkv_cols_);
    }
    qkv_ = AlignedBuffer<float>(B * T * qkv_cols_);
    s.q_src = qkv_.data();
    s.ld_q = qkv_cols_;
  } else {
    s.ld_q = din;  // q_src = x, set per Run
  }
  if (p.out_proj) {
    w_o_ = PackedWeights(w.w_o, dout, dout, dout, gemm_group_);
    if (w.b_o) b_o_ = PaddedBias(w.b_o, dout);
    ctx_ = AlignedBuffer<float>(B * T * dout);
  }
  s.kt = Zeroed(B * KVH * hd * s.t_pad);
  s.vp = Zeroed(B * KVH * s.t_pad * s.hd_pad);
  if (p.past_len > 0) CopyCache(w);

  s.scratch_stride = s.Scratch().floats;
  scratch_ = Zeroed(static_cast<size_t>(p.threads) * s.scratch_stride);
  const size_t threads = static_cast<size_t>(p.threads);
  // Short T with several batches: one GEMM over all B*T rows reads the weights once for every
  // batch (decoding B = 8 tokens: 8 rows per weight read, not 8 reads of one row each).
  qkv_rows_span_batches_ = B > 1 && T < blocks.gemm_rows;
  qkv_split_ = qkv_rows_span_batches_ ? ProjectionSplit::For(1, B * T, threads, blocks.gemm_rows)
                                      : ProjectionSplit::For(B, T, threads, blocks.gemm_rows);
  out_split_ = ProjectionSplit::For(1, B * T, threads, blocks.gemm_rows);

  query_blocks_ = (T + s.task_rows - 1) / s.task_rows;
  const size_t query_tasks = B * KVH * query_blocks_;
  if (blocks.key_chunks > 0) {
    s.chunks = blocks.key_chunks;
  } else if (threads > 1 && query_tasks < kTasksPerThread * threads) {
    size_t widest = 0;  // key blocks of the task that sees the most
    for (size_t t0 = 0; t0 < T; t0 += s.task_rows) {
      const auto [first, end] = KeyBlocksOf(p, t0, std::min(T, t0 + s.task_rows), s.bc);
      widest = std::max(widest, end - first);
    }
    const size_t wanted = (kTasksPerThread * threads + query_tasks - 1) / query_tasks;
    const size_t min_blocks =
        std::clamp<size_t>((kMinChunkWork / std::max<size_t>(1, s.head_dim) + s.bc - 1) / s.bc, 1, kMinChunkBlocks);
    s.chunks = std::max<size_t>(1, std::min(wanted, widest / min_blocks));
  }
  if (s.chunks > 1) {
    const size_t rv = s.TaskVirtualRows(), slots = query_tasks * s.chunks;
    s.part_o = AlignedBuffer<float>(slots * rv * s.hd_pad);
    s.part_m = AlignedBuffer<float>(slots * rv);
    s.part_l = AlignedBuffer<float>(slots * rv);
  }
}

// The cache [B, kv_heads, past_len, head_dim] into the front of K^T and V (keys 0 .. past_len-1),
// once: Run only reads it there (it never changes, backend_abi.h) and packs the new rows behind.
void FusedAttention::CopyCache(const ab_weights& w) {
  const ab_problem& p = s_.p;
  const size_t P = p.past_len, hd = s_.head_dim;
  const long heads = static_cast<long>(p.batch) * p.kv_heads;
#pragma omp parallel for num_threads(p.threads) schedule(static)
  for (long bg = 0; bg < heads; ++bg) {
    TransposeKBlocks(w.k_cache + bg * P * hd, hd, 0, P, hd, s_.kt.data() + bg * hd * s_.t_pad, s_.bc);
    CopyRows(w.v_cache + bg * P * hd, hd, P, hd, s_.vp.data() + bg * s_.t_pad * s_.hd_pad, s_.hd_pad);
  }
}

size_t FusedAttention::WorkspaceBytes() const {
  return w_qkv_.bytes() + b_qkv_.bytes() + w_o_.bytes() + b_o_.bytes() + qkv_.bytes() + ctx_.bytes() +
         s_.kt.bytes() + s_.vp.bytes() + scratch_.bytes() + s_.part_o.bytes() + s_.part_m.bytes() +
         s_.part_l.bytes();
}

const char* FusedAttention::TargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(FusedCurrentTarget)());
}

void FusedAttention::Run(const float* x, float* out) { Run(x, out, nullptr); }

namespace {

// Time stamps of one thread's phases in Run, kept only when there is a FusedPhaseTimes to fill
// (a null `times` costs a branch per phase).
class PhaseClock {
 public:
  PhaseClock(FusedPhaseTimes* times, int thread)
      : t_(times ? &times->threads[static_cast<size_t>(thread)] : nullptr), last_(t_ ? omp_get_wtime() : 0) {}
  void Worked(int phase) { Add(t_ ? t_->work : nullptr, phase); }
  void Waited(int phase) { Add(t_ ? t_->wait : nullptr, phase); }

 private:
  void Add(double* sums, int phase) {
    if (!sums) return;
    const double now = omp_get_wtime();
    sums[phase] += now - last_;
    last_ = now;
  }
  FusedPhaseTimes::Thread* t_;
  double last_;
};

}  // namespace

// The phases' loops are nowait and the barriers between them explicit, so that the profiled
// run can time the waits apart from the work; without `times` the barriers are the same ones
// the loops would end with.
void FusedAttention::Run(const float* x, float* out, FusedPhaseTimes* times) {
  const ab_problem& p = s_.p;
  if (!p.qkv_proj) s_.q_src = x;
  float* ctx = p.out_proj ? ctx_.data() : out;
  if (times) {
    times->threads.resize(std::max<size_t>(times->threads.size(), static_cast<size_t>(p.threads)));
    ++times->runs;
  }
#pragma omp parallel num_threads(p.threads)
  {
    FlushDenormals ftz;
    const int thread = omp_get_thread_num();
    PhaseClock clock(times, thread);
    ProjectAndPack(x);
    clock.Worked(0);
#pragma omp barrier
    clock.Waited(0);
    Attend(ctx, scratch_.data() + thread * s_.scratch_stride);
    if (s_.chunks > 1) {
#pragma omp barrier
      CombineChunks(ctx);
    }
    clock.Worked(1);
#pragma omp barrier
    clock.Waited(1);
    // No barrier of ours after the output projection (ProjectOut says why); the profiled run
    // adds one to time the wait.
    if (p.out_proj) ProjectOut(out);
    clock.Worked(2);
    if (times) {
#pragma omp barrier
      clock.Waited(2);
    }
  }
}

// Phase 1 (orphaned worksharing inside Run's region, which puts the barrier after each phase):
// per task of rows of one batch, the QKV GEMM, then K^T and V of those rows packed per KV head
// while they are in cache. When the rows are too few for one task per thread (short T), each
// row task is also cut into column blocks (see ProjectionSplit), and the packing waits for a
// barrier after the GEMMs; likewise when the row tasks span batches (short T, several batches).
void FusedAttention::ProjectAndPack(const float* x) {
  const ab_problem& p = s_.p;
  const size_t T = p.seq_len;
  const bool span = qkv_rows_span_batches_;
  const size_t group_rows = span ? p.batch * T : T;  // rows a row task may not cross
  const size_t tasks_per_group = (group_rows + qkv_split_.rows - 1) / qkv_split_.rows;
  const long row_tasks = static_cast<long>((span ? 1 : p.batch) * tasks_per_group);
  const size_t cols = qkv_split_.col_blocks, panels = GemmPanels(qkv_cols_);
  GemmArgs m;
  m.a = x, m.lda = p.d_in;
  m.b = w_qkv_.data(), m.group = gemm_group_, m.bias = p.qkv_bias ? b_qkv_.data() : nullptr;
  m.c = qkv_.data(), m.ldc = qkv_cols_;
  m.k = p.d_in, m.n = qkv_cols_;
  const auto rows_of = [&](long t) {  // group, first and end row (within the group) of row task t
    const size_t grp = t / tasks_per_group, r0 = t % tasks_per_group * qkv_split_.rows;
    return std::array<size_t, 3>{grp, r0, std::min(group_rows, r0 + qkv_split_.rows)};
  };
  const bool pack_after = span || cols > 1;
#pragma omp for schedule(dynamic) nowait
  for (long t = 0; t < row_tasks * static_cast<long>(cols); ++t) {
    const auto [grp, r0, r1] = rows_of(t / cols);
    const size_t col = t % cols;
    if (p.qkv_proj)
      HWY_DYNAMIC_DISPATCH(GemmTask)(m, GemmBlock{grp * group_rows + r0, grp * group_rows + r1, panels * col / cols,
                                                  panels * (col + 1) / cols});
    if (!pack_after) PackKv(x, grp, r0, r1, 0, p.kv_heads);
  }
  if (pack_after) {  // one task per KV head of each row task (or batch): both threads pack at T = 128
    const long kvh = p.kv_heads;
    const long pack_tasks = static_cast<long>(span ? p.batch : row_tasks) * kvh;
#pragma omp barrier
#pragma omp for schedule(dynamic) nowait
    for (long t = 0; t < pack_tasks; ++t) {
      const size_t g = static_cast<size_t>(t % kvh);
      if (span) {
        PackKv(x, t / kvh, 0, T, g, g + 1);
      } else {
        const auto [b, t0, t1] = rows_of(t / kvh);
        PackKv(x, b, t0, t1, g, g + 1);
      }
    }
  }
}

// K^T (block-major [t_pad/bc][hd][bc]) and V (rows padded to hd_pad) of new rows [t0, t1) of
// batch b (keys past_len + t), KV heads [g0, g1), from the QKV product (or from x: simplified
// attention).
void FusedAttention::PackKv(const float* x, size_t b, size_t t0, size_t t1, size_t g0, size_t g1) {
  const ab_problem& p = s_.p;
  const size_t T = p.seq_len, KVH = p.kv_heads, hd = s_.head_dim, P = p.past_len;
  const float* kv;  // row t of batch b: K at kv + (b*T + t)*ld + k_off, V at + v_off
  size_t ld, k_off, v_off;
  if (p.qkv_proj) {
    kv = qkv_.data(), ld = qkv_cols_, k_off = p.d_out, v_off = p.d_out + KvDim(p);
  } else {
    kv = x, ld = p.d_in, k_off = 0, v_off = 0;
  }
  const float* rows = kv + b * T * ld;  // row 0 of batch b
  for (size_t g = g0; g < g1; ++g) {
    const size_t bg = b * KVH + g;
    TransposeNewKeys(rows + k_off + g * hd, ld, t0, t1, P, hd, s_.kt.data() + bg * hd * s_.t_pad, s_.bc);
    CopyRows(rows + t0 * ld + v_off + g * hd, ld, t1 - t0, hd, s_.vp.data() + (bg * s_.t_pad + P + t0) * s_.hd_pad,
             s_.hd_pad);
  }
}

// Phase 2: one task per (batch, KV head, block of task_rows query positions, key chunk), KV head
// by KV head (two threads on one head share its K and V in the cache). Causal: within a head
// the latest blocks (the most keys) first -- longest-processing-time-first with dynamic
// scheduling, so the cheap first blocks of the last head fill the gaps at the end. Non-causal:
// all tasks cost the same. The chunks of one query block are neighbours: they run at the same
// time on different threads, each reading its own range of the cache.
void FusedAttention::Attend(float* ctx, float* scratch) {
  const ab_problem& p = s_.p;
  const size_t blocks = query_blocks_, chunks = s_.chunks, T = p.seq_len;
  const size_t heads = static_cast<size_t>(p.batch) * p.kv_heads;
  const long tasks = static_cast<long>(heads * blocks * chunks);
  const size_t rv = s_.TaskVirtualRows();
#pragma omp for schedule(dynamic) nowait
  for (long t = 0; t < tasks; ++t) {
    const size_t chunk = t % chunks, q = t / chunks;
    const size_t bg = q / blocks;
    const size_t blk = p.causal ? blocks - 1 - q % blocks : q % blocks;
    const size_t i0 = blk * s_.task_rows;
    const auto [first, end] = KeyBlocksOf(p, i0, std::min(T, i0 + s_.task_rows), s_.bc);
    const size_t n = end - first;
    TaskOutput out;
    if (chunks == 1) {
      out.ctx = ctx, out.ldc = p.d_out;
    } else {
      const size_t slot = (bg * blocks + blk) * chunks + chunk;
      out.o = s_.part_o.data() + slot * rv * s_.hd_pad;
      out.m = s_.part_m.data() + slot * rv;
      out.l = s_.part_l.data() + slot * rv;
    }
    HWY_DYNAMIC_DISPATCH(AttendTask)(s_, bg / p.kv_heads, bg % p.kv_heads, i0, first + n * chunk / chunks,
                                     first + n * (chunk + 1) / chunks, out, scratch);
  }
}

// Phase 2b (chunks > 1): the chunks of each query task merged with the log-sum-exp rule. Chunk c
// left O_c = sum_j 2^(s_j - m_c) v_j (dropped weights zero), l_c = sum_j 2^(s_j - m_c) (all
// visible j) and its max m_c; with m = max_c m_c,
//   ctx = keep_scale * sum_c 2^(m_c - m) O_c / sum_c 2^(m_c - m) l_c.
// A chunk that saw no key of a row (m_c = -inf) contributes nothing. Scalar: B*T*d_out*chunks
// multiply-adds, nothing next to the keys the chunks read.
void FusedAttention::CombineChunks(float* ctx) {
  const ab_problem& p = s_.p;
  const size_t blocks = query_blocks_, chunks = s_.chunks, T = p.seq_len, G = s_.group, hd = s_.head_dim;
  const size_t rv = s_.TaskVirtualRows(), hd_pad = s_.hd_pad;
  const long tasks = static_cast<long>(static_cast<size_t>(p.batch) * p.kv_heads * blocks);
#pragma omp for schedule(static) nowait
  for (long q = 0; q < tasks; ++q) {
    const size_t bg = q / blocks, blk = q % blocks, b = bg / p.kv_heads, g = bg % p.kv_heads;
    const size_t i0 = blk * s_.task_rows, rows = std::min(s_.task_rows, T - i0) * G;
    const size_t slot0 = static_cast<size_t>(q) * chunks;
    for (size_t v = 0; v < rows; ++v) {
      float m = -std::numeric_limits<float>::infinity();
      for (size_t c = 0; c < chunks; ++c) m = std::max(m, s_.part_m[(slot0 + c) * rv + v]);
      float* dst = ctx + (b * T + i0 + v / G) * p.d_out + (g * G + v % G) * hd;
      std::fill(dst, dst + hd, 0.0f);
      float l = 0.0f;
      for (size_t c = 0; c < chunks; ++c) {
        const float mc = s_.part_m[(slot0 + c) * rv + v];
        if (mc == -std::numeric_limits<float>::infinity()) continue;
        const float w = std::exp2(mc - m);
        l += w * s_.part_l[(slot0 + c) * rv + v];
        const float* o = s_.part_o.data() + ((slot0 + c) * rv + v) * hd_pad;
        for (size_t k = 0; k < hd; ++k) dst[k] += w * o[k];
      }
      const float f = s_.keep_scale / l;
      for (size_t k = 0; k < hd; ++k) dst[k] *= f;
    }
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
  m.b = w_o_.data(), m.group = gemm_group_, m.bias = b_o_.size() ? b_o_.data() : nullptr;
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
