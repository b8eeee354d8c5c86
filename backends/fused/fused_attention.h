// Flash-style fused attention on the CPU (docs/fused.md). Plain C++ interface shared by the
// plugin (fused_backend.cpp) and the per-target unit test (tests/unit/fused_test.cpp), which
// links the attnbench_fused_kernels library directly so hwy::SetSupportedTargetsForTest reaches
// its dispatch tables.
#ifndef ATTNBENCH_FUSED_FUSED_ATTENTION_H_
#define ATTNBENCH_FUSED_FUSED_ATTENTION_H_

#include <attnbench/attnbench.h>

#include <cstddef>
#include <cstdint>

namespace attnbench {

// Everything a kernel task reads. Filled by the FusedAttention constructor; the per-target code
// only reads the fields (and writes the buffers it is handed).
struct FusedState {
  ab_problem p{};
  size_t head_dim = 0;
  size_t hd_pad = 0;     // head_dim rounded up to kPad: row stride of packed V and of O
  size_t t_pad = 0;      // T rounded up to the key block: row stride of packed K^T
  size_t br = 0;         // query rows per task (FusedBlocks::query_rows)
  size_t bc = 0;         // keys per block, a multiple of kPad (FusedBlocks::keys rounded up)
  float q_scale = 1.0f;  // the score scale (1/sqrt(head_dim), or 1 for simplified attention)
                         // times log2(e): the kernel works in log2 units (exp2)
  float keep_scale = 1.0f;
  uint64_t dropout_threshold = 0;

  // Q source: row i of batch b, head h starts at q_src + (b*T + i)*ld_q + h*head_dim.
  const float* q_src = nullptr;
  size_t ld_q = 0;
  AlignedBuffer<float> kt;  // [B*H, t_pad/bc, head_dim, bc]: K^T per head and key block, zero padded
  AlignedBuffer<float> vp;  // [B*H, t_pad, hd_pad]: V per head, zero padded

  // Per-thread scratch, scratch_stride floats each:
  //   q   [br, head_dim]   the task's query rows, pre-multiplied by scale
  //   o   [br, hd_pad]     unnormalised output accumulator
  //   s   [kGroup, bc]     scores / probabilities of one row group and one key block
  //   m, l [br]            running max and running sum per row
  //   alpha, bmax [kGroup] per-row rescale factor and block max for the current group
  size_t scratch_stride = 0;

  static constexpr size_t kPad = 16;    // widest x86 vector in floats
  static constexpr size_t kGroup = 6;   // rows of one register tile (micro-kernel height)
};

// The attention phase's block sizes (docs/fused.md, "Block sizes"). The defaults were measured
// best on this machine; everything from 48 to 128 query rows and 64 to 256 keys was within the
// noise of them. tools/fused_microbench times other choices.
struct FusedBlocks {
  size_t query_rows = 64;  // br: query rows per task (a partial last row group is fine)
  size_t keys = 64;        // bc: keys per block, rounded up to a multiple of FusedState::kPad
  // Most rows of one projection task (QKV or output GEMM): the task's rows of A (192 x 768
  // floats = 576 KiB) stay in L2 while every packed panel of the weights streams past them.
  // Fewer rows when that gives each thread a share (T = 128, 2 threads: 2 tasks of 66 and 62).
  size_t gemm_rows = 192;
};

// How one projection GEMM is cut into OpenMP tasks (FusedAttention's constructor, For): row tasks
// of `rows` rows, each cut into `col_blocks` blocks of whole weight panels.
struct ProjectionSplit {
  size_t rows = 1;
  size_t col_blocks = 1;
  static ProjectionSplit For(size_t groups, size_t rows, size_t threads, size_t max_rows);
};

class FusedAttention {
 public:
  // Throws std::invalid_argument when a block size is 0.
  FusedAttention(const ab_problem& p, const ab_weights& w, const FusedBlocks& blocks = {});
  void Run(const float* x, float* out);  // no allocation
  size_t WorkspaceBytes() const;
  static const char* TargetName();  // the Highway target Run dispatches to right now

  size_t QueryBlock() const { return s_.br; }
  size_t KeyBlock() const { return s_.bc; }

 private:
  void ProjectAndPack(const float* x);  // inside the parallel region
  void PackKv(const float* x, size_t b, size_t t0, size_t t1);
  void Attend(float* ctx, float* scratch);
  void ProjectOut(float* out);

  FusedState s_;
  // The projections' B operands, packed once for the kernels library's Gemm (kernels/gemm-inl.h,
  // panel-major, 64 columns per panel) with their biases padded to whole panels.
  AlignedBuffer<float> w_qkv_, b_qkv_;  // [d_in, 3 d_out] = W_q | W_k | W_v, [3 d_out] (qkv_proj only)
  AlignedBuffer<float> w_o_, b_o_;      // [d_out, d_out], [d_out] (out_proj only)
  AlignedBuffer<float> qkv_;        // [B*T, 3 d_out] (qkv_proj only)
  AlignedBuffer<float> ctx_;            // [B*T, d_out] (out_proj only)
  AlignedBuffer<float> scratch_;        // threads * scratch_stride
  ProjectionSplit qkv_split_;           // QKV tasks (rows within one batch)
  ProjectionSplit out_split_;           // output projection tasks (rows of B*T)
};

}  // namespace attnbench

#endif  // ATTNBENCH_FUSED_FUSED_ATTENTION_H_
