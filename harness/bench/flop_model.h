// The one FLOP model every backend is measured with (docs/benchmarking.md). A FLOP is one
// float add or multiply; a multiply-add counts 2. Counted: the Q/K/V projections, Q.K^T, P.V
// and the output projection -- the matrix products, which are the work. Not counted (they are
// O(T^2) or O(T d) with small constants and every backend must do them anyway): the score
// scale, the mask, the softmax (exp, max, sum, divide), dropout, the biases. Causal attention
// counts only the T(T+1)/2 query-key pairs a query actually sees, so a backend that computes
// the masked half and throws it away is not credited for it.
#pragma once

#include <attnbench/problem.hpp>

namespace attnbench::bench {

struct FlopCount {
  double projections = 0;  // Q, K, V = X W: 3 * 2 B T d_in d_out (0 for simplified)
  double scores = 0;       // Q K^T: 2 B H pairs head_dim
  double weighted_sum = 0; // P V:   2 B H pairs head_dim
  double out_projection = 0;  // ctx W_o: 2 B T d_out d_out (mha only)
  double total() const { return projections + scores + weighted_sum + out_projection; }
};

// Query-key pairs per (batch, head): T^2, or T(T+1)/2 with the causal mask.
double QueryKeyPairs(const ab_problem& p);

FlopCount CountFlops(const ab_problem& p);

}  // namespace attnbench::bench
