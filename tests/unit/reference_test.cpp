// The float64 reference: the seed's worked example by hand, the causal property, dropout.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "reference.h"
#include "test_util.h"

using namespace attnbench;

namespace {

// The worked example of ../shared/seeds (004_*.txt): "The" [1,0,1], "cat" [0,1,1], "sat" [1,1,0].
ProblemData TheCatSat(double wq_factor) {
  ab_problem p = MakeProblem(Variant::kSelf, 1, 3, 3, 2, 1);
  ProblemData d = AllocateProblemData(p);
  const float x[] = {1, 0, 1, 0, 1, 1, 1, 1, 0};
  const float wq[] = {1, 0, 0, 1, 1, 1}, wk[] = {0, 1, 1, 0, 1, 1}, wv[] = {1, 1, 0, 1, 1, 0};
  d.x.CopyFrom(x);
  d.w_k.CopyFrom(wk);
  d.w_v.CopyFrom(wv);
  for (int i = 0; i < 6; ++i) d.w_q[i] = static_cast<float>(wq[i] * wq_factor);
  return d;
}

}  // namespace

// Worked by hand: Q = X.W_Q = [[2,1],[1,2],[1,1]], K = X.W_K = [[1,2],[2,1],[1,1]],
// V = X.W_V = [[2,1],[1,1],[1,2]], so the raw scores Q.K^T are [[4,5,3],[5,4,3],[3,3,2]].
// The seed writes K_sat = [0,1] and Score(The, sat) = 1; in fact sat = [1,1,0], so K_sat is
// the sum of W_K's first two rows, [0,1] + [1,0] = [1,1], and Score(The, sat) = [2,1].[1,1] = 3. Its weights [0.27, 0.72, 0.01]
// and context [1.27, 1.01] follow from the wrong score; the true (unscaled, as in the seed)
// values are softmax([4,5,3]) = [0.2447, 0.6652, 0.0900] and context [1.2447, 1.0900].
TEST_CASE("seed example The/cat/sat: raw scores and the seed's unscaled softmax") {
  // The seed does not scale the scores. Scaling W_Q by sqrt(2) = sqrt(head_dim) cancels the
  // reference's 1/sqrt(head_dim), so the reference computes exactly the seed's pipeline.
  const ProblemData d = TheCatSat(std::sqrt(2.0));
  const ReferenceResult r = ComputeReference(d, AllRows(3), /*keep_weights=*/true);
  const double scores[3][3] = {{4, 5, 3}, {5, 4, 3}, {3, 3, 2}};
  // softmax of each row, e.g. row 0: e^4, e^5, e^3 over their sum 223.07.
  const double weights[3][3] = {{0.2447284711, 0.6652409558, 0.0900305732},
                                {0.6652409558, 0.2447284711, 0.0900305732},
                                {0.4223187983, 0.4223187983, 0.1553624035}};
  const double context[3][2] = {{1.2447284711, 1.0900305732}, {1.6652409558, 1.0900305732}, {1.4223187983, 1.1553624035}};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      CHECK(r.scores[i * 3 + j] == Approx(scores[i][j]).epsilon(1e-6));
      // 1e-7: W_Q * sqrt(2) is rounded to float32.
      CHECK(r.weights[i * 3 + j] == Approx(weights[i][j]).epsilon(1e-7));
    }
    for (int c = 0; c < 2; ++c) CHECK(r.out[i * 2 + c] == Approx(context[i][c]).epsilon(1e-7));
  }
  // The seed's printed values are not what this arithmetic gives (its Score(The, sat) = 1 slip).
  CHECK(r.scores[2] != Approx(1.0));
  CHECK(r.weights[2] != Approx(0.01).margin(0.005));
  CHECK(r.out[0] != Approx(1.27).margin(0.005));
  CHECK(r.out[1] != Approx(1.01).margin(0.005));
}

TEST_CASE("seed example The/cat/sat: scaled dot-product attention (the book's self-attention)") {
  const ProblemData d = TheCatSat(1.0);
  const ReferenceResult r = ComputeReference(d, AllRows(3), true);
  // Scores / sqrt(2): row 0 = [2.8284, 3.5355, 2.1213]; softmax = [0.2840, 0.5760, 0.1400].
  CHECK(r.scores[0] == Approx(4 / std::sqrt(2.0)));
  CHECK(r.weights[0] == Approx(0.2839954097).epsilon(1e-8));
  CHECK(r.weights[1] == Approx(0.5759753452).epsilon(1e-8));
  CHECK(r.weights[2] == Approx(0.1400292450).epsilon(1e-8));
  CHECK(r.out[0] == Approx(1.2839954097).epsilon(1e-8));
  CHECK(r.out[1] == Approx(1.1400292450).epsilon(1e-8));
  // And the naive backend agrees in float32.
  PluginRegistry reg;
  const auto out = test::RunBackend(test::LoadNaive(reg), d);
  const double want[] = {1.2839954097, 1.1400292450, 1.5759753452, 1.1400292450, 1.4011120927, 1.1977758146};
  for (int i = 0; i < 6; ++i) CHECK(out[i] == Approx(want[i]).epsilon(1e-6));
}

TEST_CASE("causal: changing inputs after position i leaves output rows <= i unchanged") {
  PluginRegistry reg;
  const LoadedBackend& naive = test::LoadNaive(reg);
  for (Variant v : {Variant::kCausal, Variant::kMha}) {
    ab_problem p = MakeProblem(v, 2, 17, 24, 24, 3);
    p.dropout_p = 0.2f;
    p.dropout_seed = 11;
    ProblemData a = MakeRandomProblemData(p, 1234);
    ProblemData b = MakeRandomProblemData(p, 1234);
    const int cut = 6;
    Rng rng(99);
    for (int bb = 0; bb < p.batch; ++bb)
      for (int t = cut + 1; t < p.seq_len; ++t)
        for (int c = 0; c < p.d_in; ++c) b.x[(static_cast<size_t>(bb) * p.seq_len + t) * p.d_in + c] = static_cast<float>(rng.Normal());
    const ReferenceResult ra = ComputeReference(a, AllRows(p.seq_len));
    const ReferenceResult rb = ComputeReference(b, AllRows(p.seq_len));
    const auto oa = test::RunBackend(naive, a), ob = test::RunBackend(naive, b);
    bool later_rows_changed = false;
    for (int bb = 0; bb < p.batch; ++bb)
      for (int t = 0; t < p.seq_len; ++t)
        for (int c = 0; c < p.d_out; ++c) {
          const size_t k = (static_cast<size_t>(bb) * p.seq_len + t) * p.d_out + c;
          if (t <= cut) {
            REQUIRE(ra.out[k] == rb.out[k]);  // bit-identical: the same arithmetic on the same data
            REQUIRE(oa[k] == ob[k]);
          } else if (ra.out[k] != rb.out[k]) {
            later_rows_changed = true;
          }
        }
    CHECK(later_rows_changed);  // the perturbation is real
  }
}

TEST_CASE("dropout: p = 0 keeps everything, whatever the seed") {
  for (uint64_t key : {0ull, 1ull, 0xFFFFFFFFFFFFFFFFull, 123456789ull})
    for (uint64_t j = 0; j < 1000; ++j) REQUIRE(ab_dropout_keep(key, j, ab_dropout_threshold(0.0f)));
  PluginRegistry reg;
  const LoadedBackend& naive = test::LoadNaive(reg);
  ab_problem p = MakeProblem(Variant::kMha, 1, 33, 16, 16, 2);
  ProblemData a = MakeRandomProblemData(p, 5);
  const auto without = test::RunBackend(naive, a);
  a.problem.dropout_seed = 987654321;  // p stays 0
  const auto with_seed = test::RunBackend(naive, a);
  REQUIRE(std::memcmp(without.data(), with_seed.data(), without.bytes()) == 0);
}

TEST_CASE("dropout: the dropped fraction stays within binomial bounds") {
  for (float p : {0.1f, 0.5f, 0.9f}) {
    const uint64_t threshold = ab_dropout_threshold(p);
    size_t dropped = 0, n = 0;
    for (uint64_t b = 0; b < 2; ++b)
      for (uint64_t h = 0; h < 4; ++h)
        for (uint64_t i = 0; i < 256; ++i) {
          const uint64_t key = ab_dropout_row_key(42, b, h, i);
          for (uint64_t j = 0; j < 256; ++j, ++n) dropped += !ab_dropout_keep(key, j, threshold);
        }
    const double sigma = std::sqrt(n * p * (1.0 - p));
    INFO("p = " << p << ", dropped " << dropped << " of " << n);
    CHECK(std::abs(static_cast<double>(dropped) - n * p) < 5.0 * sigma);
  }
  // Through the reference: the zeroed weights of a causal problem (visible ones only).
  ab_problem p = MakeProblem(Variant::kCausal, 1, 200, 16, 16, 1);
  p.dropout_p = 0.3f;
  p.dropout_seed = 7;
  const ProblemData d = MakeRandomProblemData(p, 3);
  const ReferenceResult r = ComputeReference(d, AllRows(p.seq_len), true);
  size_t zero = 0, visible = 0;
  for (int i = 0; i < p.seq_len; ++i)
    for (int j = 0; j <= i; ++j, ++visible) zero += r.weights[static_cast<size_t>(i) * p.seq_len + j] == 0.0;
  const double sigma = std::sqrt(visible * 0.3 * 0.7);
  CHECK(std::abs(static_cast<double>(zero) - visible * 0.3) < 5.0 * sigma);
}

TEST_CASE("dropout: the same seed gives bit-identical outputs run after run, another seed does not") {
  PluginRegistry reg;
  const LoadedBackend& naive = test::LoadNaive(reg);
  ab_problem p = MakeProblem(Variant::kMha, 2, 40, 24, 24, 3);
  p.dropout_p = 0.25f;
  p.dropout_seed = 2024;
  ProblemData d = MakeRandomProblemData(p, 17);
  const auto first = test::RunBackend(naive, d);
  for (int run = 0; run < 3; ++run) {
    const auto again = test::RunBackend(naive, d);
    REQUIRE(std::memcmp(first.data(), again.data(), first.bytes()) == 0);
  }
  d.problem.dropout_seed = 2025;
  const auto other = test::RunBackend(naive, d);
  CHECK(std::memcmp(first.data(), other.data(), first.bytes()) != 0);
}

TEST_CASE("random inputs give attention weights with a real spread on the default grid shapes") {
  for (Variant v : kAllVariants)
    for (int T : {17, 65, 256}) {
      const ab_problem p = MakeProblem(v, 1, T, 48, 48, 4);
      const ReferenceResult r = ComputeReference(MakeRandomProblemData(p, 77), AllRows(T));
      INFO(VariantName(v) << " T=" << T << " entropy " << r.median_entropy << " max weight " << r.median_max_weight);
      CHECK(r.median_entropy > 0.05);
      CHECK(r.median_entropy < 0.95);
      CHECK(r.median_max_weight < 0.95);
    }
}

TEST_CASE("sampled rows: first and last always, sorted, distinct") {
  const auto rows = SampleRows(1000, 32, 5);
  REQUIRE(rows.size() == 32);
  CHECK(rows.front() == 0);
  CHECK(rows.back() == 999);
  for (size_t i = 1; i < rows.size(); ++i) CHECK(rows[i] > rows[i - 1]);
  CHECK(SampleRows(50, 32, 5).size() == 50);  // small T: every row
}
