/* attnbench plugin ABI, version 2. Pure C: the only thing that crosses a dlopen boundary.
 *
 * A backend is a shared library exporting one symbol,
 *
 *     const ab_backend_i* attnbench_backend_entry(void);
 *
 * returning a static table whose first field is the ABI version it was built against. The host
 * loads versions AB_ABI_MIN_VERSION .. AB_ABI_VERSION and refuses any other (and says so) rather
 * than guessing at a layout. C++ authors do not write this table by hand: see backend.hpp and
 * ATTNBENCH_REGISTER_BACKEND.
 *
 * Versions. A version only ever appends fields to ab_problem and ab_weights, so a plugin built
 * for version N reads the prefix it knows from a newer host's structs unchanged.
 *   1: the chapter-3 problems (B, T, d_in, d_out, heads, projections, causal, dropout, bias).
 *   2: ab_problem.struct_size, kv_heads (grouped-query / multi-query heads), window (sliding
 *      window), past_len (KV-cache decoding); ab_weights.k_cache, v_cache. A version-1 plugin
 *      is still loaded; the host reports the problems it cannot express (kv_heads != heads,
 *      window != 0, past_len != 0) as UNSUPPORTED for it without calling it.
 *
 * Data layout: every tensor is row-major float32; buffers the host passes are 64-byte aligned.
 *   x    [B, T, d_in]          input
 *   w_q  [d_in, d_out]            book convention Q = X . W_q (+ b_q)
 *   w_k, w_v  [d_in, kv_dim]      kv_dim = kv_heads * head_dim (== d_out when kv_heads == heads)
 *   b_q [d_out], b_k, b_v [kv_dim]  only when problem.qkv_bias
 *   w_o  [d_out, d_out], b_o [d_out]  only when problem.out_proj: out = ctx . W_o + b_o
 *   k_cache, v_cache  [B, kv_heads, past_len, head_dim]  only when past_len > 0 (version 2)
 *   out  [B, T, d_out]
 * Query head h owns columns [h*head_dim, (h+1)*head_dim) of Q and of the context. It reads KV
 * head g = h / (heads / kv_heads) (consecutive query heads share a KV head, as Llama's
 * repeat_interleave does), which owns columns [g*head_dim, (g+1)*head_dim) of K and V.
 *
 * Positions (version 2). The T new tokens of x sit at absolute positions past_len .. past_len+T-1
 * after the past_len cached ones; keys are the cache's past_len rows followed by the T rows of
 * X . W_k (+ b_k), values likewise. Query t (absolute position i = past_len + t) sees key j when
 *   causal == 0: always (window must be 0);
 *   causal == 1: j <= i, and with window W > 0 also j > i - W (it sees at most W keys).
 * run() reads the cache every call and must not change it (every call sees the same cache; the
 * new tokens' K/V are not appended). The dropout mask is keyed by absolute positions (i, j).
 */
#ifndef ATTNBENCH_BACKEND_ABI_H_
#define ATTNBENCH_BACKEND_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AB_ABI_VERSION 2
/* The oldest version this host still loads. */
#define AB_ABI_MIN_VERSION 1

#if defined(_WIN32)
#define AB_EXPORT __declspec(dllexport)
#else
#define AB_EXPORT __attribute__((visibility("default")))
#endif

/* The name of the one exported symbol, for dlsym. */
#define AB_ENTRY_SYMBOL "attnbench_backend_entry"

/* One attention problem. Every field is set by the host; see problem.hpp for the presets. */
typedef struct ab_problem {
  int32_t batch;     /* B >= 1 */
  int32_t seq_len;   /* T >= 1 */
  int32_t d_in;      /* >= 1 */
  int32_t d_out;     /* >= 1; == d_in when qkv_proj == 0 */
  int32_t heads;     /* H >= 1, divides d_out; head_dim = d_out / H */
  int32_t qkv_proj;  /* 1: Q,K,V = X.W (+b), scores scaled by 1/sqrt(head_dim).
                        0: "simplified" attention: Q = K = V = X, scores not scaled. */
  int32_t qkv_bias;  /* 1: add b_q, b_k, b_v (only with qkv_proj) */
  int32_t out_proj;  /* 1: out = ctx . W_o + b_o */
  int32_t causal;    /* 1: query i sees keys j <= i only (masked before the softmax) */
  int32_t threads;   /* threads the backend may use (>= 1); the host has already set OpenMP and
                        BLAS to this count */
  float dropout_p;   /* in [0, 1): inverted dropout on the attention weights, see dropout.h */
  uint64_t dropout_seed;
  /* ---- version 2; a version-1 plugin never reads past this line ---- */
  uint32_t struct_size; /* sizeof(ab_problem) of the host that filled it in: a later version
                           appends fields after past_len and raises this */
  int32_t kv_heads;  /* >= 1, divides heads: K and V have kv_heads heads (== heads: MHA,
                        1: multi-query). != heads only with qkv_proj */
  int32_t window;    /* >= 0: 0 = unlimited; W > 0 = sliding window of W keys (needs causal) */
  int32_t past_len;  /* >= 0: P cached keys and values before the T new tokens */
} ab_problem;

/* Weights for prepare(). Pointers the problem does not use are NULL. The host keeps them alive
 * until destroy(), but a backend may also copy / pack them in prepare(). */
typedef struct ab_weights {
  const float* w_q;
  const float* w_k;
  const float* w_v;
  const float* b_q;
  const float* b_k;
  const float* b_v;
  const float* w_o;
  const float* b_o;
  /* ---- version 2 ---- */
  const float* k_cache; /* [B, kv_heads, past_len, head_dim]; NULL when past_len == 0. The host
                           keeps it alive and unchanged until destroy(); a backend may copy it
                           into its own layout in prepare(), but reading it is run()'s work */
  const float* v_cache;
} ab_weights;

/* Status codes: 0 is success; anything else is an error with a message in err. */
#define AB_OK 0
#define AB_ERROR 1

/* The versioned table. Functions taking (char* err, size_t err_len) write a NUL-terminated
 * message there on failure (truncated to err_len). */
typedef struct ab_backend_i {
  int32_t api_version;      /* AB_ABI_VERSION of the headers the plugin was built with */
  const char* name;         /* short, unique, [a-z0-9-]: "naive", "blas", ... */
  const char* description;  /* one line */

  /* 1 if the backend can run this problem; otherwise 0 and the reason in why. */
  int (*supports)(const ab_problem* problem, char* why, size_t why_len);

  /* Not timed: pack weights, allocate every buffer run() needs. On success *state is an opaque
   * handle owned by the backend. */
  int (*prepare)(const ab_problem* problem, const ab_weights* weights, void** state, char* err,
                 size_t err_len);

  /* Timed: compute out [B,T,d_out] from x [B,T,d_in]. Must not allocate; may be called many
   * times on one state, with different x. */
  int (*run)(void* state, const float* x, float* out, char* err, size_t err_len);

  /* Bytes of workspace the state holds beyond its inputs and outputs (packed weights count). */
  size_t (*workspace_bytes)(const void* state);

  /* Frees the state. Never fails. */
  void (*destroy)(void* state);

  /* Optional (may be NULL): a line about what the backend runs on this machine, e.g. the SIMD
   * target or the BLAS kernel. Shown by `attnbench list` and recorded with results. */
  const char* (*runtime_info)(void);
} ab_backend_i;

typedef const ab_backend_i* (*ab_backend_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTNBENCH_BACKEND_ABI_H_ */
