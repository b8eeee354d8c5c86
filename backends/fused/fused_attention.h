// Flash-style fused attention on the CPU (docs/fused.md). Plain C++ interface shared by the
// plugin (fused_backend.cpp) and the per-target unit test (tests/unit/fused_test.cpp), which
// links the attnbench_fused_kernels library directly so hwy::SetSupportedTargetsForTest reaches
// its dispatch tables.
#ifndef ATTNBENCH_FUSED_FUSED_ATTENTION_H_
#define ATTNBENCH_FUSED_FUSED_ATTENTION_H_

#include <attnbench/attnbench.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace attnbench {

// Everything a kernel task reads. Filled by the FusedAttention constructor; the per-target code
// only reads the fields (and writes the buffers it is handed).
//
// Keys are numbered by absolute position (backend_abi.h, "Positions"): the cache's past_len rows
// first, then the T new tokens' rows, so K^T and V hold keys = past_len + T rows per KV head and
// query t (absolute position past_len + t) sees [KeyBegin(p, t), KeyEnd(p, t)). The cache part
// is copied into these buffers once, in the constructor; Run packs the new rows behind it.
//
// Grouped-query heads: the `group` query heads that share KV head g (g*group ..) are one task's
// rows, so each K^T / V block is read once for all of them. A task's "virtual" rows are
// (position, head) pairs, position-major: virtual row v is query position i0 + v / group of head
// g*group + v % group, and the register tile runs over virtual rows as over plain rows.
struct FusedState {
  ab_problem p{};
  size_t head_dim = 0;
  size_t hd_pad = 0;     // head_dim rounded up to kPad: row stride of packed V and of O
  size_t keys = 0;       // past_len + T: the keys of one KV head
  size_t t_pad = 0;      // keys rounded up to the key block: row stride of packed K^T
  size_t br = 0;         // virtual rows per task (FusedBlocks::query_rows)
  size_t group = 1;      // query heads per KV head (heads / kv_heads)
  size_t task_rows = 1;  // query positions per task: br / group, at least 1
  size_t bc = 0;         // keys per block, a multiple of kPad (FusedBlocks::keys rounded up)
  size_t chunks = 1;     // key chunks per query task (flash-decoding split; 1 = none)
  float q_scale = 1.0f;  // the score scale (1/sqrt(head_dim), or 1 for simplified attention)
                         // times log2(e): the kernel works in log2 units (exp2)
  float keep_scale = 1.0f;
  uint64_t dropout_threshold = 0;

  // Q source: position t of batch b, head h starts at q_src + (b*T + t)*ld_q + h*head_dim.
  const float* q_src = nullptr;
  size_t ld_q = 0;
  AlignedBuffer<float> kt;  // [B*kv_heads, t_pad/bc, head_dim, bc]: K^T per KV head and key block, zero padded
  AlignedBuffer<float> vp;  // [B*kv_heads, t_pad, hd_pad]: V per KV head, zero padded

  // Per-thread scratch, scratch_stride floats each (Scratch(): where each part starts).
  size_t scratch_stride = 0;

  // When chunks > 1, a task of one key chunk leaves its unnormalised output, max and sum here,
  // at slot (query task * chunks + chunk), and CombineChunks merges the chunks of a query task
  // (the log-sum-exp rule). [slots, R, hd_pad] and [slots, R] twice.
  AlignedBuffer<float> part_o, part_m, part_l;

  size_t TaskVirtualRows() const { return task_rows * group; }

  static constexpr size_t kPad = 16;    // widest x86 vector in floats
  static constexpr size_t kGroup = 6;   // rows of one register tile (micro-kernel height)

  // One thread's scratch (R = TaskVirtualRows()), offsets in floats, each part starting on a
  // whole vector (the lane sums are loaded aligned):
  //   q   [R, head_dim]    the task's query rows, pre-multiplied by scale
  //   o   [R, hd_pad]      unnormalised output accumulator
  //   s   [kGroup, bc]     scores / probabilities of one row group and one key block
  //   m   [R]              running max per row
  //   l   [R, kPad]        running sum per row, as lane sums (reduced at the task's end into l[0, R))
  //   alpha, bmax [kGroup] per-row rescale factor and block max for the current group
  struct ScratchLayout {
    size_t q, o, s, m, l, alpha, bmax, floats;
  };
  ScratchLayout Scratch() const {
    const size_t rv = TaskVirtualRows();
    const auto whole = [](size_t n) { return (n + kPad - 1) / kPad * kPad; };
    ScratchLayout at{};
    at.q = 0;
    at.o = at.q + whole(rv * head_dim);
    at.s = at.o + whole(rv * hd_pad);
    at.m = at.s + whole(kGroup * bc);
    at.l = at.m + whole(rv);
    at.alpha = at.l + rv * kPad;
    at.bmax = at.alpha + kPad;
    at.floats = at.bmax + kPad;
    return at;
  }
};

// Where a task's result goes: straight into the context (its only key chunk) or, for one chunk of
// several, into its partial slot (FusedState::part_o / part_m / part_l) for CombineChunks.
struct TaskOutput {
  float* ctx = nullptr;  // [B*T, ldc]; null: write the partial slot
  size_t ldc = 0;
  float* o = nullptr;    // [R, hd_pad]
  float* m = nullptr;    // [R]
  float* l = nullptr;    // [R]
};

// The attention phase's block sizes (docs/fused.md, "Block sizes"). The defaults were measured
// best on this machine; everything from 48 to 128 query rows and 64 to 256 keys was within the
// noise of them. tools/fused_microbench times other choices.
struct FusedBlocks {
  // 0 = chosen from the head's width (WideHeadBlocks, docs/fused.md "Block sizes"): 64 x 64 for
  // heads up to 128 wide; from 256 on, 128 rows per task and one register tile of keys per block.
  size_t query_rows = 0;   // br: query rows per task (a partial last row group is fine); with
                           // grouped-query heads, (position, head) rows: br / group positions
  size_t keys = 0;         // bc: keys per block, rounded up to a multiple of FusedState::kPad
  // Most rows of one projection task (QKV or output GEMM): the task's rows of A (192 x 768
  // floats = 576 KiB) stay in L2 while every packed panel of the weights streams past them.
  // Fewer rows when that gives each thread a share (T = 128, 2 threads: 2 tasks of 66 and 62).
  size_t gemm_rows = 192;
  // Key chunks per query task (the flash-decoding split, docs/fused.md "Decoding"): 0 = chosen
  // from the task count and the threads (split only when the query tasks are too few to keep
  // every thread busy, e.g. decoding one token); n > 0 = exactly n (tests, micro-benchmarks).
  size_t key_chunks = 0;
};

// How one projection GEMM is cut into OpenMP tasks (FusedAttention's constructor, For): row tasks
// of `rows` rows, each cut into `col_blocks` blocks of whole weight panels.
struct ProjectionSplit {
  size_t rows = 1;
  size_t col_blocks = 1;
  static ProjectionSplit For(size_t groups, size_t rows, size_t threads, size_t max_rows);
};

// Where the time of Run goes, per thread (tools/fused_microbench's FusedPhases, docs/fused.md
// "Where the time goes"): for each phase the seconds spent working and the seconds spent
// waiting at the barrier after it (for the last phase, the end of Run's parallel region),
// summed over the calls that were handed this. Phases: 0 = QKV projection and K/V packing,
// 1 = attention (and the merge of key chunks), 2 = output projection.
struct FusedPhaseTimes {
  static constexpr int kPhases = 3;
  struct Thread {
    double work[kPhases] = {};
    double wait[kPhases] = {};
  };
  std::vector<Thread> threads;  // sized by Run: one per thread of the problem
  long runs = 0;
};

class FusedAttention {
 public:
  // Throws std::invalid_argument when a block size is 0.
  FusedAttention(const ab_problem& p, const ab_weights& w, const FusedBlocks& blocks = {});
  void Run(const float* x, float* out);  // no allocation
  // The same computation, timed phase by phase into *times (which Run sizes on its first use).
  void Run(const float* x, float* out, FusedPhaseTimes* times);
  size_t WorkspaceBytes() const;
  static const char* TargetName();  // the Highway target Run dispatches to right now

  size_t QueryBlock() const { return s_.br; }
  size_t KeyBlock() const { return s_.bc; }
  // Columns of the register tile of the target chosen at construction (AVX2 16, AVX-512 64): the
  // packed weights' group width, and a wide head's keys per block.
  size_t TileColumns() const { return gemm_group_; }
  size_t KeyChunks() const { return s_.chunks; }

 private:
  void CopyCache(const ab_weights& w);
  void ProjectAndPack(const float* x);  // inside the parallel region
  void PackKv(const float* x, size_t b, size_t t0, size_t t1, size_t g0, size_t g1);
  void Attend(float* ctx, float* scratch);
  void CombineChunks(float* ctx);
  void ProjectOut(float* out);

  FusedState s_;
  size_t qkv_cols_ = 0;  // d_out + 2 kv_dim: the width of [Q | K | V]
  // The projections' B operands, packed once for the kernels library's Gemm (kernels/gemm-inl.h,
  // panel-major, 64 columns per panel) with their biases padded to whole panels.
  size_t gemm_group_ = 64;              // their layout: columns per group (kernels/pack.h, GemmGroupFor)
  AlignedBuffer<float> w_qkv_, b_qkv_;  // [d_in, qkv_cols] = W_q | W_k | W_v, [qkv_cols] (qkv_proj only)
  AlignedBuffer<float> w_o_, b_o_;      // [d_out, d_out], [d_out] (out_proj only)
  AlignedBuffer<float> qkv_;            // [B*T, qkv_cols] (qkv_proj only)
  AlignedBuffer<float> ctx_;            // [B*T, d_out] (out_proj only)
  AlignedBuffer<float> scratch_;        // threads * scratch_stride
  // QKV tasks: rows within one batch (their K and V packed by the same thread right after), or,
  // when T is short, rows of all B*T (one weight read for every batch; packing after a barrier).
  bool qkv_rows_span_batches_ = false;
  ProjectionSplit qkv_split_;
  ProjectionSplit out_split_;           // output projection tasks (rows of B*T)
  size_t query_blocks_ = 1;             // query tasks per (batch, KV head): T / task_rows
};

}  // namespace attnbench

#endif  // ATTNBENCH_FUSED_FUSED_ATTENTION_H_
