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
//
// Keys and values (ABI version 2): a KV head g of batch b has L = past_len + T keys, the cache's
// past_len rows first. Its K^T kt[b, g] holds all L of them in absolute key positions, one
// contiguous [head_dim][kKeyBlock] slab per block of kKeyBlock keys (the cache part copied in
// prepare, the new part written by every run): a score tile then reads one slab front to back
// rather than head_dim rows L apart, which matters when few query rows share it (decoding); its values
// are read in place from qkv when there is no cache, otherwise from vcat[b, g] (cache rows copied
// in prepare, the T new rows by every run).
struct HwyAttentionState {
  ab_problem p{};
  size_t head_dim = 0;
  size_t kv_dim = 0;     // kv_heads * head_dim: width of K and of V
  size_t group = 1;      // query heads per KV head
  size_t keys = 0;       // L = past_len + T
  size_t ld_qkv = 0;  // row stride of qkv: d_out + 2 kv_dim (or d_in) rounded up to kPad
  size_t q_off = 0, k_off = 0, v_off = 0;  // column of Q, K, V inside a qkv row
  size_t kt_head = 0;  // floats of one KV head's K^T: whole key blocks of head_dim x kKeyBlock
  size_t ld_v = 0;    // row stride of vcat: head_dim rounded up to kPad
  size_t ld_s = 0;    // row stride of a score row: the widest key range of a task, padded
  size_t head_rows = 0;   // query rows per head in one task
  size_t task_heads = 1;  // query heads of one KV head a task stacks (reads K and V once for all)
  float scale = 1.0f;       // 1/sqrt(head_dim), or 1 for simplified attention
  float keep_scale = 1.0f;  // 1/(1-p) for the kept dropout weights
  uint64_t dropout_threshold = 0;

  AlignedBuffer<float> w_qkv, b_qkv;  // [d_in, ld_qkv], [ld_qkv]: W_q | W_k | W_v, zero padded
  AlignedBuffer<float> w_o, b_o;      // [d_out, ld_o], [ld_o], zero padded
  size_t ld_o = 0;
  AlignedBuffer<float> qkv;      // [B*T, ld_qkv] (+ kPad): Q | K | V per row, or X (simplified)
  AlignedBuffer<float> kt;       // [B, kv_heads, L / kKeyBlock, head_dim, kKeyBlock] (+ kPad): K^T
                                 // per KV head, all L keys; a tile may read a vector past its block
  AlignedBuffer<float> vcat;     // [B, kv_heads, L, ld_v] (+ kPad), only with past_len > 0
  AlignedBuffer<float> ctx;      // [B*T, d_out], only with out_proj (otherwise out is the ctx)
  AlignedBuffer<float> scratch;  // per thread, for task_heads * head_rows stacked rows: score
                                 // rows [ld_s], row scales, Q rows and ctx rows [ld_v]
  size_t scratch_stride = 0;     // floats per thread

  // Widest vector of any x86 target, in floats: every padded size is a multiple of it, so a
  // full-vector load at any padded offset stays inside the buffer.
  static constexpr size_t kPad = 16;
  // Stacked query rows per attention task (all its heads together): a multiple of the MatMul
  // row block (6).
  static constexpr size_t kTaskRows = 24;
  // Keys per K^T slab: a multiple of every target's MatMul column tile (64 floats on AVX-512).
  static constexpr size_t kKeyBlock = 64;
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
  void StoreNewKeys();
  void Attend(float* ctx);
  void ProjectOut(float* out);

  HwyAttentionState s_;
};

}  // namespace attnbench

#endif  // ATTNBENCH_HIGHWAY_ATTENTION_HWY_H_
