// The layouts backends build from the weights once (in prepare) and from K once per run: the
// three QKV weights side by side, padded rows, K transposed per key block. Plain C++: copies,
// no arithmetic, so every backend gets bit-identical operands whichever it uses.
#ifndef ATTNBENCH_KERNELS_PACK_H_
#define ATTNBENCH_KERNELS_PACK_H_

#include <attnbench/attnbench.h>

#include <cstddef>
#include <vector>

#include "kernels/gemm_args.h"

namespace attnbench {

// n rounded up to a multiple of m.
constexpr size_t RoundUp(size_t n, size_t m) { return (n + m - 1) / m * m; }

// n floats, all zero: the padding of a packed layout must read as zeros.
AlignedBuffer<float> Zeroed(size_t n);

// dst[r * ld_dst + c] = src[r * ld_src + c] for r < rows, c < cols; what lies between cols and
// ld_dst is not written (zero it first when it is padding).
void CopyRows(const float* src, size_t ld_src, size_t rows, size_t cols, float* dst, size_t ld_dst);

// Row k of dst (row stride ld >= 3 d_out) = [W_q[k] | W_k[k] | W_v[k]]: one QKV projection of
// width 3 d_out instead of three of d_out. Columns from 3 d_out to ld are not written.
void PackQkvWeights(const ab_weights& w, size_t d_in, size_t d_out, float* dst, size_t ld);

// dst[0, 3 d_out) = [b_q | b_k | b_v]; a missing bias (qkv_bias off) is written as zeros.
void PackQkvBias(const ab_weights& w, size_t d_out, float* dst);

// K^T of one head, block-major: key j (row j of k, stride ldk), dimension d < hd goes to
//   kt[(j / bc) * hd * bc + d * bc + j % bc]
// for j in [j_begin, j_end), i.e. [key block][hd][bc]: each block of bc keys is one contiguous
// slab. With bc >= every key index this is the plain transpose [hd][bc] (row stride bc). Copies
// 16 x 16 tiles so that both sides move along cache lines.
void TransposeKBlocks(const float* k, size_t ldk, size_t j_begin, size_t j_end, size_t hd, float* kt,
                      size_t bc);

// Floats of B [k, n] packed for Gemm (gemm-inl.h): whole panels of kGemmPanel columns.
size_t PackedGemmFloats(size_t k, size_t n);

// B [k, n] (row stride ldb) packed panel-major for Gemm, each panel of 64 columns (kGemmPanel)
// one contiguous slab of k x 64 floats, cut into groups of `group` columns (16 or 64,
// GemmArgs::group) stored one after the other: column j of row kk goes to
//   dst[(j / 64) * k * 64 + (j % 64 / group) * k * group + kk * group + j % group]
// i.e. group 64: each panel is [k][64]; group 16: each panel is four [k][16] micro-panels, so
// that a 16-column register tile (AVX2) reads one contiguous stream instead of 64 bytes of every
// 256. The columns of the last panel past n are written as zeros. dst holds
// PackedGemmFloats(k, n) floats. Throws std::invalid_argument for another group.
void PackGemmB(const float* b, size_t ldb, size_t k, size_t n, float* dst, size_t group = kGemmPanel);

// One block of columns of a B that is several matrices side by side: cols columns, row stride ld.
struct GemmBColumns {
  const float* b;
  size_t ld;
  size_t cols;
};
// PackGemmB of [blocks[0] | blocks[1] | ...] (k rows, n = the sum of their cols) without first
// copying them side by side: the fused QKV weights [W_q | W_k | W_v] are packed straight from
// the three, so preparing them needs no second d_in x (d_out + 2 kv_dim) buffer.
void PackGemmBConcat(const std::vector<GemmBColumns>& blocks, size_t k, float* dst, size_t group = kGemmPanel);

// The bias for Gemm: n floats, then zeros up to a whole panel (the last tile reads whole
// vectors). bias == nullptr writes zeros. dst holds GemmPanels(n) * 64 floats.
void PackGemmBias(const float* bias, size_t n, float* dst);

}  // namespace attnbench

#endif  // ATTNBENCH_KERNELS_PACK_H_
