// The float64 reference: the oracle every backend is checked against. Plain loops in double,
// straight from the definition (backend_abi.h): query head h reads KV head KvHeadOf(h); query t
// of the T new tokens sits at absolute position past_len + t and sees keys [KeyBegin, KeyEnd)
// (problem.hpp) of the past_len cached rows followed by the T new ones; dropout is keyed by
// those absolute positions. K and V are computed in full; the attention itself only for the
// requested query rows, so even T = 8192 stays cheap to validate.
#pragma once

#include <cstdint>
#include <vector>

#include "problem_data.h"

namespace attnbench {

struct ReferenceResult {
  std::vector<int32_t> rows;  // the query rows computed, ascending, the same in every batch
  // out[(b * rows.size() + r) * d_out + c]: output row rows[r] of batch b.
  std::vector<double> out;
  // Only with keep_weights: [b][h][r][j], j < past_len + T in absolute key positions (the cache's
  // rows first); masked entries are -inf in scores, 0 in weights.
  std::vector<double> scores;   // scaled, masked, before the softmax
  std::vector<double> weights;  // after softmax and dropout
  double max_abs_score = 0.0;   // largest |scaled score| over visible entries
  // Median over the rows that see >= 2 keys of the normalised entropy of the softmax (before
  // dropout): 1 = uniform, 0 = one-hot. -1 when no row sees 2 keys (T = 1).
  double median_entropy = -1.0;
  double median_max_weight = -1.0;  // likewise, the largest weight of a row

  // Only where the loop reference could afford no more than the sampled `rows` (PrepareCase):
  // every row of every batch, all_out[(b * T + t) * d_out + c], from ComputeAllRowsGemm, and
  // the largest |scaled score| over all of them. Empty when `rows` already holds every row.
  std::vector<double> all_out;
  double all_max_abs_score = 0.0;
  // How many query rows (per batch) the output is checked on: T when all_out is there.
  size_t rows_checked() const { return all_out.empty() ? rows.size() : all_rows; }
  size_t all_rows = 0;
};

// All rows 0..T-1.
std::vector<int32_t> AllRows(int32_t seq_len);
// Every row when T <= max(count, 64); otherwise the first, the last and count-2 others drawn
// from seed.
std::vector<int32_t> SampleRows(int32_t seq_len, int32_t count, uint64_t seed);

ReferenceResult ComputeReference(const ProblemData& data, const std::vector<int32_t>& rows,
                                 bool keep_weights = false);

// Every output row in float64, the same definition as ComputeReference computed another way:
// the projections, each head's scores and its weighted sums as double GEMMs (cblas_dgemm) over
// blocks of query rows and only the key range the block can see, softmax and dropout in loops
// between them. Tens of times faster than the loops, so it checks every row where the loop
// reference samples them (T >= 2048 at d_out = 768); reference_test pins it to the loops.
// Returns [B, T, d_out] and sets *max_abs_score to the largest |scaled score| it saw.
std::vector<double> ComputeAllRowsGemm(const ProblemData& data, double* max_abs_score);

// The scores a float64 pass over every row computes: B * H * (sum over t of the keys row t sees).
double VisibleScores(const ab_problem& p);

}  // namespace attnbench
