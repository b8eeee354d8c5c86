// The argument block of MatMul (matmul-inl.h). Plain data, outside the per-target namespaces, so
// that target-independent code can fill it and pass it through dynamic dispatch.
#ifndef ATTNBENCH_KERNELS_MATMUL_ARGS_H_
#define ATTNBENCH_KERNELS_MATMUL_ARGS_H_

#include <cstddef>

namespace attnbench {

// C[rows, cols] = A[rows, k] . B[k, cols], row-major with strides in floats; then row r is
// multiplied by row_scale[r] (if given) and bias (if given) is added.
struct MatMulArgs {
  const float* a = nullptr;
  size_t lda = 0;
  const float* b = nullptr;
  size_t ldb = 0;
  float* c = nullptr;
  size_t ldc = 0;
  size_t rows = 0, k = 0, cols = 0;
  const float* row_scale = nullptr;  // [rows]
  const float* bias = nullptr;       // [cols], padded like a B row
};

}  // namespace attnbench

#endif  // ATTNBENCH_KERNELS_MATMUL_ARGS_H_
