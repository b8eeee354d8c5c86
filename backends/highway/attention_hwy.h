// Multi-head attention on Highway SIMD kernels, dispatched at run time to the best instruction
// set of the CPU (AVX-512, AVX2, SSE4, ... or the scalar fallback). Plain C++ interface: the
// plugin (highway_backend.cpp) and the per-target test both use this class directly.
#ifndef ATTNBENCH_HIGHWAY_ATTENTION_HWY_H_
#define ATTNBENCH_HIGHWAY_ATTENTION_HWY_H_

#include <attnbench/attnbench.h>

#include <cstddef>
#include <cstdint>

namespace attnbench {

// Everything a kernel task reads or writes: sizes, packed weights, buffers. Filled by the
// HwyAttention constructor; the per-target code only reads the fields.
struct HwyAttentionState {
  ab_problem p{};
  size_t head_dim = 0;
  size_t ld_qkv = 0;  // row stride of qkv: 3 d_out (or d_in) rounded up to kPad
  size_t q_off = 0, k_off = 0, v_off = 0;  // column of Q, K, V inside a qkv row
  size_t t_pad = 0;   // T rounded up to kPad: row stride of K^T and of the score rows
  float scale = 1.0f;       // 1/sqrt(head_dim), or 1 for simplified attention
  float keep_scale = 1.0f;  // 1/(1-p) for the kept dropout weights
  uint64_t dropout_threshold = 0;

  AlignedBuffer<float> w_qkv, b_qkv;  // [d_in, ld_qkv], [ld_qkv]: W_q | W_k | W_v, zero padded
  AlignedBuffer<float> w_o, b_o;      // [d_out, ld_o], [ld_o], zero padded
  size_t ld_o = 0;
  AlignedBuffer<float> qkv;      // [B*T, ld_qkv] (+ kPad): Q | K | V per row, or X (simplified)
  AlignedBuffer<float> kt;       // [B, H, head_dim, t_pad]: K transposed per head
  AlignedBuffer<float> ctx;      // [B*T, d_out], only with out_proj (otherwise out is the ctx)
  AlignedBuffer<float> scratch;  // per thread: kTaskRows score rows [t_pad] + kTaskRows scales
  size_t scratch_stride = 0;     // floats per thread

  // Widest vector of any x86 target, in floats: every padded size is a multiple of it, so a
  // full-vector load at any padded offset stays inside the buffer.
  static constexpr size_t kPad = 16;
  // Query rows per attention task: a multiple of the MatMul row block (6).
  static constexpr size_t kTaskRows = 24;
};

class HwyAttention {
 public:
  HwyAttention(const ab_problem& p, const ab_weights& w);
  void Run(const float* x, float* out);  // no allocation
  size_t WorkspaceBytes() const;
  // The Highway target Run dispatches to right now, e.g. "AVX3".
  static const char* TargetName();

 private:
  void ProjectQkv(const float* x);
  void TransposeK();
  void Attend(float* ctx);
  void ProjectOut(float* out);

  HwyAttentionState s_;
};

}  // namespace attnbench

#endif  // ATTNBENCH_HIGHWAY_ATTENTION_HWY_H_
