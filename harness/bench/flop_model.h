// The one FLOP model every backend is measured with (docs/benchmarking.md). A FLOP is one
// float add or multiply; a multiply-add counts 2. Counted: the Q/K/V projections, Q.K^T, P.V
// and the output projection -- the matrix products, which are the work. Not counted (they are
// O(T^2) or O(T d) with small constants and every backend must do them anyway): the score
// scale, the mask, the softmax (exp, max, sum, divide), dropout, the biases. Causal attention
// counts only the T(T+1)/2 query-key pairs a query actually sees, so a backend that computes
// the masked half and throws it away is not credited for it. Likewise a sliding window counts only
// the keys inside it and decoding (past_len P) the P cached keys plus the new ones a query sees:
// every count follows KeyBegin / KeyEnd (problem.hpp), so all forms share one definition.
#pragma once

#include <attnbench/problem.hpp>

namespace attnbench::bench {

struct FlopCount {
  double projections = 0;  // Q, K, V = X W: 2 B T d_in (d_out + 2 KvDim) (0 for simplified)
  double scores = 0;       // Q K^T: 2 B H pairs head_dim
  double weighted_sum = 0; // P V:   2 B H pairs head_dim
  double out_projection = 0;  // ctx W_o: 2 B T d_out d_out (mha only)
  double total() const { return projections + scores + weighted_sum + out_projection; }
};

// Query-key pairs per (batch, query head): the sum over the T queries of the keys each sees
// (KeyEnd - KeyBegin): T (P + T) without the mask, T P + T(T+1)/2 with it, each row capped at W
// with a window.
double QueryKeyPairs(const ab_problem& p);

FlopCount CountFlops(const ab_problem& p);

// The byte model beside it: the fewest bytes any kernel must move between memory and the core
// for one run() -- read the input, every weight and bias and the KV cache once, write the output
// once (float32, 4 bytes each). Decoding (T small, P large) is the cache read: counting it once is
// what makes its intensity (0.5 FLOP/B per query head sharing a K/V head) and its GB/s right. A kernel that keeps everything else in cache (a fused / flash kernel) can reach
// it; one that writes the T x T score and weight matrices to memory moves score_matrices more.
// Arithmetic intensity = FLOPs / minimum bytes: the x axis of the roofline.
struct ByteCount {
  double input = 0;    // x: B T d_in
  double weights = 0;  // W_q (d_in d_out), W_k, W_v (d_in KvDim each), W_o (d_out^2), the biases used
  double cache = 0;    // k_cache and v_cache: 2 B kv_heads P head_dim
  double output = 0;   // out: B T d_out
  // What materialising the attention matrices costs, for the backends that do: the scores
  // written and read back, then the weights written and read back (B H pairs, 4 passes).
  double score_matrices = 0;
  double minimum() const { return input + weights + output + cache; }
};

ByteCount CountBytes(const ab_problem& p);

// FLOPs per byte of the minimum traffic (0 when the problem moves no bytes).
double ArithmeticIntensity(const ab_problem& p);

}  // namespace attnbench::bench
