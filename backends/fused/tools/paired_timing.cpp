// Paired, interleaved timing of plugins through the C ABI (docs/fused.md, "Results"): every round runs
// each listed backend once, so slow drifts of a shared machine cancel in the per-round ratios.
//   paired_timing VARIANT T CAUSAL THREADS ROUNDS BACKEND[:nc|:c][:tT2]...   e.g. fused fused:nc fused:t8192 blas
// Build (from the repo root, after building build-fused):
//   g++ -O2 -std=c++20 -fopenmp -Iharness -Iinclude -I/usr/include/x86_64-linux-gnu/openblas-pthread \
//     backends/fused/tools/paired_timing.cpp -o /tmp/paired_timing build-fused/harness/libattnbench_harness.a -ldl -lopenblas
// Plugins are loaded from /work/main/build-fused/bin/plugins (edit kPluginDir).
// Interleaved A/B timing through the plugin ABI: every round runs each backend once.
#include <dlfcn.h>
#include <omp.h>
#include <cblas.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <algorithm>
#include "attnbench/attnbench.h"
#include "problem_data.h"
using namespace attnbench;
static const char* kPluginDir = "/work/main/build-fused/bin/plugins";
int main(int argc, char** argv) {
  // abcmp variant T causal threads rounds backend...
  std::string var = argv[1];
  int T = atoi(argv[2]), causal = atoi(argv[3]), threads = atoi(argv[4]), rounds = atoi(argv[5]);
  Variant v = var == "mha" ? Variant::kMha : var == "simplified" ? Variant::kSimplified : Variant::kSelf;
  ab_problem p = MakeProblem(v, 1, T, 768, 768, 12);
  p.causal = causal; p.threads = threads;
  omp_set_num_threads(threads); openblas_set_num_threads(threads);

  std::vector<const ab_backend_i*> be; std::vector<void*> st; std::vector<std::string> names;
  std::vector<ab_problem> probs;
  std::vector<ProblemData> datas;
  std::vector<AlignedBuffer<float>> outs;
  datas.reserve(64); outs.reserve(64);
  for (int i = 6; i < argc; ++i) {
    std::string nm = argv[i];
    ab_problem pi = p;
    if (nm.size() > 3 && nm.substr(nm.size() - 3) == ":nc") { nm = nm.substr(0, nm.size() - 3); pi.causal = 0; }
    if (nm.size() > 2 && nm.substr(nm.size() - 2) == ":c") { nm = nm.substr(0, nm.size() - 2); pi.causal = 1; }
    if (auto k = nm.find(":t"); k != std::string::npos) { pi.seq_len = atoi(nm.c_str() + k + 2); nm = nm.substr(0, k); }
    probs.push_back(pi);
    datas.push_back(MakeRandomProblemData(pi, 1));
    outs.emplace_back(OutputElems(pi));
    std::string path = std::string(kPluginDir) + "/libattnbench-" + nm + ".so";
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("%s\n", dlerror()); return 1; }
    auto e = reinterpret_cast<ab_backend_entry_fn>(dlsym(h, AB_ENTRY_SYMBOL))();
    void* s; char err[256];
    ab_weights w = datas.back().Weights();
    if (e->prepare(&probs.back(), &w, &s, err, sizeof err)) { printf("%s\n", err); return 1; }
    e->run(s, datas.back().x.data(), outs.back().data(), err, sizeof err);
    be.push_back(e); st.push_back(s); names.push_back(argv[i]);
  }
  std::vector<std::vector<double>> ms(be.size());
  char err[256];
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < be.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      be[i]->run(st[i], datas[i].x.data(), outs[i].data(), err, sizeof err);
      ms[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  for (size_t i = 0; i < be.size(); ++i) {
    auto s = ms[i]; std::sort(s.begin(), s.end());
    std::vector<double> pr;
    for (int r = 0; r < rounds; ++r) pr.push_back(ms[i][r] / ms[0][r]);
    std::sort(pr.begin(), pr.end());
    printf("paired ratio (median over rounds) %.2f  ", pr[pr.size() / 2]);
    printf("%s T=%d causal=%d thr=%d %-8s median %7.1f ms  min %7.1f ms  ratio-to-first %.2f\n", var.c_str(), T, causal, threads,
           names[i].c_str(), s[s.size() / 2], s[0], s[s.size() / 2] / [&]{auto f = ms[0]; std::sort(f.begin(), f.end()); return f[f.size()/2];}());
  }
}
