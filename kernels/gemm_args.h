// The argument block of Gemm (gemm-inl.h) and the packed-B layout it reads. Plain data, outside
// the per-target namespaces, so that target-independent code (the packing in pack.h, a
// backend's driver) can fill it and pass it through dynamic dispatch.
#ifndef ATTNBENCH_KERNELS_GEMM_ARGS_H_
#define ATTNBENCH_KERNELS_GEMM_ARGS_H_

#include <cstddef>

namespace attnbench {

// Columns of one packed B panel. The same on every target (64 = 4 AVX-512 vectors = the widest
// register tile): the weights are packed once, in prepare, whatever target Run dispatches to
// later; narrower targets walk a panel in several column tiles.
constexpr size_t kGemmPanel = 64;

// C[rows, n] = A[rows, k] . B[k, n] (+ bias), A and C row-major with strides in floats, B packed
// by PackGemmB (pack.h) with `group`: panel p (columns 64 p .. 64 p + 63) is a contiguous slab
// of k x 64 floats at b + p * k * 64, the columns past n zero, made of 64 / group [k][group]
// blocks. Any target reads either layout; the fast one is the register tile's width
// (GemmGroupFor). The bias, when given, is readable up to n rounded up to 64 (PackGemmBias).
// Stores into C are exact: no column at or beyond n is written.
struct GemmArgs {
  const float* a = nullptr;
  size_t lda = 0;
  const float* b = nullptr;  // packed
  size_t group = kGemmPanel;  // PackGemmB's group: 16 or 64
  const float* bias = nullptr;
  float* c = nullptr;
  size_t ldc = 0;
  size_t k = 0, n = 0;
};

// The packed-B group that suits a register tile of `tile_columns` (kGemmColVecs x lanes): one
// group per tile, at least 16 columns (so that any target's vectors stay inside a group).
constexpr size_t GemmGroupFor(size_t tile_columns) { return tile_columns <= 16 ? 16 : kGemmPanel; }

// The part of the product one task computes: rows [row0, row1) of C, panels [panel0, panel1).
struct GemmBlock {
  size_t row0 = 0, row1 = 0;
  size_t panel0 = 0, panel1 = 0;
};

// Panels of a product with n columns.
constexpr size_t GemmPanels(size_t n) { return (n + kGemmPanel - 1) / kGemmPanel; }

}  // namespace attnbench

#endif  // ATTNBENCH_KERNELS_GEMM_ARGS_H_
