// Each fused micro-kernel alone on every compiled Highway target (docs/fused.md, "Profile").
//   g++ -O2 -std=c++20 -fopenmp -DHWY_COMPILE_ALL_ATTAINABLE -Iinclude -Ibackends/fused \
//     backends/fused/tools/microbench_main.cpp -o /tmp/fused_micro build-fused/backends/fused/libattnbench_fused_kernels.a -lhwy
//   /tmp/fused_micro [bc=64] [TARGET]
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <string>
#include <vector>
#include <hwy/targets.h>
#include "fused_microbench.h"
int main(int argc, char** argv) {
  size_t hd = 64, bc = argc > 1 ? atoi(argv[1]) : 64, reps = 200000;
  const char* names[] = {"score tile (QK^T + max)", "exp + sum", "P.V tile (+ rescale)", "GroupBlock (all)", "hn::Exp + sum (rejected)"};
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
    if (argc > 2 && std::string(hwy::TargetName(t)) != argv[2]) continue;
    hwy::SetSupportedTargetsForTest(t);
    for (int w = 0; w < 5; ++w) {
      std::vector<double> v;
      for (int r = 0; r < 5; ++r) v.push_back(attnbench::FusedMicroBench(w, hd, bc, reps));
      std::sort(v.begin(), v.end());
      double s = v[2];
      double flops = (w == 0 || w == 2) ? 2.0 * 6 * bc * hd : w == 3 ? 4.0 * 6 * bc * hd : 6.0 * bc;
      printf("%-6s bc=%zu %-26s %8.1f ns/call  %7.1f %s\n", hwy::TargetName(t), bc, names[w], s / reps * 1e9,
             flops * reps / s / 1e9, (w == 1 || w == 4) ? "Gexp/s" : "GFLOP/s");
    }
  }
}
