// Diagnostic: time one fused micro-kernel alone (fused_microbench.cc). which: 0 score tile,
// 1 exp2 + sum, 2 P . V tile, 3 the whole GroupBlock, 4 hn::Exp + sum (the rejected variant); one row group (6 rows) x one key block of
// bc keys, head_dim hd, repeated reps times on L1-resident data. Returns seconds.
#ifndef ATTNBENCH_FUSED_FUSED_MICROBENCH_H_
#define ATTNBENCH_FUSED_FUSED_MICROBENCH_H_
#include <cstddef>
namespace attnbench {
double FusedMicroBench(int which, size_t hd, size_t bc, size_t reps);
}
#endif
