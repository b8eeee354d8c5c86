// A plugin as it was built before ABI version 2: a hand-written table with api_version 1, and
// the version-1 layout of ab_problem / ab_weights, the only fields such a plugin knows. The
// host must still load it, run it on the chapter-3 problems (it computes them correctly) and
// report the version-2 forms as UNSUPPORTED for it without calling it (tests/unit/abi_v1_test).
#include <attnbench/backend_abi.h>
#include <attnbench/dropout.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// ab_problem and ab_weights exactly as version 1 declared them: a prefix of today's structs.
struct ProblemV1 {
  int32_t batch, seq_len, d_in, d_out, heads, qkv_proj, qkv_bias, out_proj, causal, threads;
  float dropout_p;
  uint64_t dropout_seed;
};
struct WeightsV1 {
  const float *w_q, *w_k, *w_v, *b_q, *b_k, *b_v, *w_o, *b_o;
};
static_assert(sizeof(ProblemV1) == offsetof(ab_problem, struct_size), "version 1 is a prefix of ab_problem");
static_assert(sizeof(WeightsV1) == offsetof(ab_weights, k_cache), "version 1 is a prefix of ab_weights");

struct State {
  ProblemV1 p;
  WeightsV1 w;
  std::vector<float> q, k, v, ctx, row;
};

// y[T, n] = x[T, k] . w[k, n] (+ bias), or a copy of x without weights.
void Project(const float* x, const float* w, const float* bias, float* y, int T, int k, int n) {
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < n; ++c) {
      float acc = bias ? bias[c] : 0.0f;
      for (int i = 0; i < k; ++i) acc += x[static_cast<size_t>(t) * k + i] * w[static_cast<size_t>(i) * n + c];
      y[static_cast<size_t>(t) * n + c] = acc;
    }
}

int Supports(const ab_problem*, char*, size_t) { return 1; }  // every problem version 1 could pose

int Prepare(const ab_problem* problem, const ab_weights* weights, void** state, char*, size_t) {
  State* s = new State;
  std::memcpy(&s->p, problem, sizeof s->p);  // the version-1 prefix, and nothing after it
  std::memcpy(&s->w, weights, sizeof s->w);
  const size_t n = static_cast<size_t>(s->p.seq_len) * s->p.d_out;
  s->q.resize(n);
  s->k.resize(n);
  s->v.resize(n);
  s->ctx.resize(n);
  s->row.resize(s->p.seq_len);
  *state = s;
  return AB_OK;
}

int Run(void* state, const float* x, float* out, char*, size_t) {
  State& s = *static_cast<State*>(state);
  const ProblemV1& p = s.p;
  const int T = p.seq_len, din = p.d_in, dout = p.d_out, hd = dout / p.heads;
  const float scale = p.qkv_proj ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f;
  const uint64_t threshold = ab_dropout_threshold(p.dropout_p);
  for (int b = 0; b < p.batch; ++b) {
    const float* xb = x + static_cast<size_t>(b) * T * din;
    if (p.qkv_proj) {
      Project(xb, s.w.w_q, s.w.b_q, s.q.data(), T, din, dout);
      Project(xb, s.w.w_k, s.w.b_k, s.k.data(), T, din, dout);
      Project(xb, s.w.w_v, s.w.b_v, s.v.data(), T, din, dout);
    } else {
      std::memcpy(s.q.data(), xb, s.q.size() * sizeof(float));
      s.k = s.v = s.q;
    }
    for (int h = 0; h < p.heads; ++h)
      for (int i = 0; i < T; ++i) {
        const int visible = p.causal ? i + 1 : T;
        float m = -INFINITY, sum = 0.0f;
        for (int j = 0; j < visible; ++j) {
          float acc = 0.0f;
          for (int d = 0; d < hd; ++d) acc += s.q[i * dout + h * hd + d] * s.k[j * dout + h * hd + d];
          s.row[j] = acc * scale;
          m = std::fmax(m, s.row[j]);
        }
        for (int j = 0; j < visible; ++j) sum += (s.row[j] = std::exp(s.row[j] - m));
        const uint64_t key = ab_dropout_row_key(p.dropout_seed, b, h, i);
        for (int j = 0; j < visible; ++j) {
          s.row[j] /= sum;
          if (p.dropout_p > 0.0f) s.row[j] = ab_dropout_keep(key, j, threshold) ? s.row[j] / (1.0f - p.dropout_p) : 0.0f;
        }
        for (int d = 0; d < hd; ++d) {
          float acc = 0.0f;
          for (int j = 0; j < visible; ++j) acc += s.row[j] * s.v[j * dout + h * hd + d];
          s.ctx[i * dout + h * hd + d] = acc;
        }
      }
    float* ob = out + static_cast<size_t>(b) * T * dout;
    if (p.out_proj) Project(s.ctx.data(), s.w.w_o, s.w.b_o, ob, T, dout, dout);
    else std::memcpy(ob, s.ctx.data(), s.ctx.size() * sizeof(float));
  }
  return AB_OK;
}

size_t WorkspaceBytes(const void* state) {
  const State& s = *static_cast<const State*>(state);
  return (s.q.size() * 4 + s.row.size()) * sizeof(float);
}

void Destroy(void* state) { delete static_cast<State*>(state); }

// Positional, as a version-1 author wrote it (no designated initialisers in C++17 and earlier).
const ab_backend_i kTable = {1, "abi-v1", "a plugin built for ABI version 1 (chapter-3 problems only)",
                             Supports, Prepare, Run, WorkspaceBytes, Destroy, nullptr};

}  // namespace

extern "C" AB_EXPORT const ab_backend_i* attnbench_backend_entry(void) { return &kTable; }
