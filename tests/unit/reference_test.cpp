// The float64 reference: the seed's worked example by hand, the causal property, dropout.
#include <catch2/catch.hpp>

#include <algorithm>
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

// ---- the version-2 forms (issue 14), each checked against an independent formulation ----

namespace {

// Values on a grid of 1/4 (x) and 1/8 (weights): every product and every sum of a projection
// is exact in float32, so a K/V row the test computes and stores as float equals the
// reference's own double projection bit for bit.
ProblemData ExactProblemData(const ab_problem& p, uint64_t seed) {
  ProblemData d = AllocateProblemData(p);
  Rng rng(seed);
  auto fill = [&rng](AlignedBuffer<float>& b, double step) {
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(static_cast<int>(rng.Next() % 7) - 3) * static_cast<float>(step);
  };
  fill(d.x, 0.25);
  for (AlignedBuffer<float>* b : {&d.w_q, &d.w_k, &d.w_v, &d.b_q, &d.b_k, &d.b_v, &d.w_o, &d.b_o}) fill(*b, 0.125);
  return d;
}

// The rows [first, first + count) of x . w (+ bias) of batch b, [count, n], as float (exact here).
std::vector<float> ProjectRows(const ProblemData& d, const AlignedBuffer<float>& w, const AlignedBuffer<float>& bias,
                               int b, int first, int count, int n) {
  const ab_problem& p = d.problem;
  std::vector<float> y(static_cast<size_t>(count) * n);
  for (int t = 0; t < count; ++t)
    for (int c = 0; c < n; ++c) {
      double acc = bias.empty() ? 0.0 : bias[c];
      for (int i = 0; i < p.d_in; ++i)
        acc += static_cast<double>(d.x[(static_cast<size_t>(b) * p.seq_len + first + t) * p.d_in + i]) * w[static_cast<size_t>(i) * n + c];
      y[static_cast<size_t>(t) * n + c] = static_cast<float>(acc);
    }
  return y;
}

// Output row t of batch b.
double OutAt(const ReferenceResult& r, const ab_problem& p, int b, int t, int c) {
  return r.out[(static_cast<size_t>(b) * r.rows.size() + t) * p.d_out + c];
}

}  // namespace

// The multi-head twin of a grouped-query problem: W_k / W_v (and biases) columns of query head h
// copied from those of KV head kv_of(h).
template <class KvOf>
ProblemData MhaTwin(const ProblemData& dg, KvOf kv_of) {
  const ab_problem& g = dg.problem;
  ab_problem m = g;
  m.kv_heads = m.heads;
  ProblemData dm = AllocateProblemData(m);
  dm.x.CopyFrom(dg.x.data());
  dm.w_q.CopyFrom(dg.w_q.data());
  dm.b_q.CopyFrom(dg.b_q.data());
  dm.w_o.CopyFrom(dg.w_o.data());
  dm.b_o.CopyFrom(dg.b_o.data());
  const int hd = HeadDim(g), kv = KvDim(g);
  for (int h = 0; h < g.heads; ++h)
    for (int d = 0; d < hd; ++d) {
      const int from = kv_of(h) * hd + d, to = h * hd + d;
      for (int i = 0; i < g.d_in; ++i) {
        dm.w_k[static_cast<size_t>(i) * g.d_out + to] = dg.w_k[static_cast<size_t>(i) * kv + from];
        dm.w_v[static_cast<size_t>(i) * g.d_out + to] = dg.w_v[static_cast<size_t>(i) * kv + from];
      }
      dm.b_k[to] = dg.b_k[from];
      dm.b_v[to] = dg.b_v[from];
    }
  return dm;
}

TEST_CASE("grouped-query heads equal multi-head attention with each KV head repeated (repeat_interleave)") {
  for (int kv_heads : {1, 2, 3}) {
    ab_problem g = MakeProblem(Variant::kMha, 2, 9, 12, 18, 6);
    g.kv_heads = kv_heads;
    g.qkv_bias = 1;
    g.dropout_p = 0.25f;
    g.dropout_seed = 3;
    REQUIRE(CheckProblem(g).empty());
    const ProblemData dg = MakeRandomProblemData(g, 21);
    CHECK(dg.w_k.size() == static_cast<size_t>(g.d_in) * kv_heads * 3);
    const int group = g.heads / kv_heads;
    const ProblemData right = MhaTwin(dg, [group](int h) { return h / group; });
    const ReferenceResult rg = ComputeReference(dg, AllRows(g.seq_len));
    const ReferenceResult rm = ComputeReference(right, AllRows(g.seq_len));
    INFO("kv_heads " << kv_heads);
    REQUIRE(rg.out.size() == rm.out.size());
    for (size_t i = 0; i < rg.out.size(); ++i) REQUIRE(rg.out[i] == Approx(rm.out[i]).epsilon(1e-12).margin(1e-12));
    // The mapping matters: query head h on KV head h % kv_heads is another problem.
    if (kv_heads > 1) {
      const ReferenceResult rw = ComputeReference(MhaTwin(dg, [kv_heads](int h) { return h % kv_heads; }), AllRows(g.seq_len));
      double diff = 0.0;
      for (size_t i = 0; i < rg.out.size(); ++i) diff = std::max(diff, std::abs(rg.out[i] - rw.out[i]));
      CHECK(diff > 1e-3);
    }
  }
}

TEST_CASE("KV cache: P cached rows + T new tokens equal the last T rows of the whole P + T sequence") {
  // With dropout too: the mask is keyed by absolute positions, so it is the same mask.
  for (Variant v : {Variant::kSimplified, Variant::kSelf, Variant::kCausal, Variant::kMha})
    for (int kv_heads : {1, 3})
      for (auto [P, T] : {std::pair{1, 1}, std::pair{5, 3}, std::pair{16, 1}}) {
        ab_problem full = MakeProblem(v, 2, P + T, 12, 12, 3);
        if (v == Variant::kSimplified && kv_heads != full.heads) continue;
        full.kv_heads = v == Variant::kSimplified ? full.heads : kv_heads;
        full.qkv_bias = full.qkv_proj;
        full.dropout_p = 0.3f;
        full.dropout_seed = 9;
        const ProblemData df = ExactProblemData(full, 5);
        ab_problem part = full;
        part.seq_len = T;
        part.past_len = P;
        REQUIRE(CheckProblem(part).empty());
        ProblemData dp = AllocateProblemData(part);
        for (auto [dst, src] : {std::pair{&dp.w_q, &df.w_q}, {&dp.w_k, &df.w_k}, {&dp.w_v, &df.w_v}, {&dp.b_q, &df.b_q},
                                {&dp.b_k, &df.b_k}, {&dp.b_v, &df.b_v}, {&dp.w_o, &df.w_o}, {&dp.b_o, &df.b_o}})
          if (!src->empty()) dst->CopyFrom(src->data());
        const int hd = HeadDim(full), kv = KvDim(full);
        for (int b = 0; b < full.batch; ++b) {
          for (int t = 0; t < T; ++t)
            for (int i = 0; i < full.d_in; ++i)
              dp.x[(static_cast<size_t>(b) * T + t) * full.d_in + i] = df.x[(static_cast<size_t>(b) * (P + T) + P + t) * full.d_in + i];
          // The cache: K and V of the first P tokens, in [B, kv_heads, P, head_dim].
          std::vector<float> k(static_cast<size_t>(P) * kv), val(k.size());
          if (full.qkv_proj) {
            k = ProjectRows(df, df.w_k, df.b_k, b, 0, P, kv);
            val = ProjectRows(df, df.w_v, df.b_v, b, 0, P, kv);
          } else {
            std::copy(df.x.data() + static_cast<size_t>(b) * (P + T) * full.d_in,
                      df.x.data() + (static_cast<size_t>(b) * (P + T) + P) * full.d_in, k.begin());
            val = k;
          }
          for (int g = 0; g < full.kv_heads; ++g)
            for (int j = 0; j < P; ++j)
              for (int d = 0; d < hd; ++d) {
                const size_t at = ((static_cast<size_t>(b) * full.kv_heads + g) * P + j) * hd + d;
                dp.k_cache[at] = k[static_cast<size_t>(j) * kv + g * hd + d];
                dp.v_cache[at] = val[static_cast<size_t>(j) * kv + g * hd + d];
              }
        }
        const ReferenceResult rf = ComputeReference(df, AllRows(P + T)), rp = ComputeReference(dp, AllRows(T));
        INFO(VariantName(v) << " kv_heads " << full.kv_heads << " P " << P << " T " << T);
        for (int b = 0; b < full.batch; ++b)
          for (int t = 0; t < T; ++t)
            for (int c = 0; c < full.d_out; ++c)
              REQUIRE(OutAt(rp, part, b, t, c) == Approx(OutAt(rf, full, b, P + t, c)).epsilon(1e-12).margin(1e-12));
      }
}

TEST_CASE("window: row i of a window-W problem is the last row of causal attention over tokens i-W+1 .. i") {
  ab_problem w = MakeProblem(Variant::kCausal, 1, 17, 12, 12, 1);
  const ProblemData dw = MakeRandomProblemData(w, 8);
  for (int W : {1, 2, 4, 16, 17, 40}) {
    ab_problem pw = w;
    pw.window = W;
    ProblemData d = AllocateProblemData(pw);
    for (auto [dst, src] : {std::pair{&d.x, &dw.x}, {&d.w_q, &dw.w_q}, {&d.w_k, &dw.w_k}, {&d.w_v, &dw.w_v}})
      dst->CopyFrom(src->data());
    const ReferenceResult r = ComputeReference(d, AllRows(w.seq_len), true);
    for (int i = 0; i < w.seq_len; ++i) {
      const int first = std::max(0, i - W + 1), n = i - first + 1;
      ab_problem pc = w;
      pc.seq_len = n;
      ProblemData c = AllocateProblemData(pc);
      std::copy(dw.x.data() + static_cast<size_t>(first) * w.d_in, dw.x.data() + static_cast<size_t>(i + 1) * w.d_in, c.x.data());
      for (auto [dst, src] : {std::pair{&c.w_q, &dw.w_q}, {&c.w_k, &dw.w_k}, {&c.w_v, &dw.w_v}}) dst->CopyFrom(src->data());
      const ReferenceResult rc = ComputeReference(c, {n - 1});
      INFO("W " << W << " row " << i);
      for (int col = 0; col < w.d_out; ++col)
        REQUIRE(OutAt(r, pw, 0, i, col) == Approx(rc.out[col]).epsilon(1e-12).margin(1e-12));
      // The kept weights: zero outside (i - W, i], and exactly W of them (or i + 1) visible.
      int visible = 0;
      for (int j = 0; j < w.seq_len; ++j) {
        const double wt = r.weights[static_cast<size_t>(i) * w.seq_len + j];
        if (j <= i - W || j > i) REQUIRE(wt == 0.0);
        else visible += wt > 0.0;
      }
      CHECK(visible == n);
    }
  }
}

TEST_CASE("KV cache: the drawn cache scores like the new keys (a spread, not uniform or one-hot)") {
  for (bool bias : {false, true}) {
    ab_problem p = MakeProblem(Variant::kMha, 1, 1, 48, 48, 4);
    p.kv_heads = 2;
    p.past_len = 300;
    p.qkv_bias = bias;
    const ProblemData d = MakeRandomProblemData(p, 77);
    REQUIRE(d.k_cache.size() == CacheElems(p));
    const ReferenceResult r = ComputeReference(d, AllRows(1));
    INFO("bias " << bias << " entropy " << r.median_entropy << " max weight " << r.median_max_weight);
    CHECK(r.median_entropy > 0.05);
    CHECK(r.median_entropy < 0.95);
    CHECK(r.median_max_weight < 0.95);
  }
  // Drawing the cache last leaves every other buffer as a problem without a cache draws it.
  ab_problem p = MakeProblem(Variant::kMha, 2, 5, 24, 24, 3);
  ab_problem q = p;
  q.past_len = 7;
  const ProblemData a = MakeRandomProblemData(p, 4), b = MakeRandomProblemData(q, 4);
  CHECK(std::memcmp(a.x.data(), b.x.data(), a.x.bytes()) == 0);
  CHECK(std::memcmp(a.b_o.data(), b.b_o.data(), a.b_o.bytes()) == 0);
}

TEST_CASE("the naive backend agrees with the reference on the version-2 forms (odd sizes)") {
  PluginRegistry reg;
  const LoadedBackend& naive = test::LoadNaive(reg);
  for (int kv_heads : {1, 2, 3, 6})
    for (int W : {0, 1, 4})
      for (int P : {0, 1, 5})
        for (int T : {1, 3, 17}) {
          ab_problem p = MakeProblem(Variant::kMha, 2, T, 24, 30, 6);
          p.kv_heads = kv_heads;
          p.window = W;
          p.past_len = P;
          p.qkv_bias = 1;
          p.dropout_p = W == 1 ? 0.0f : 0.3f;
          p.dropout_seed = 5;
          const ProblemData d = MakeRandomProblemData(p, 31);
          const ReferenceResult r = ComputeReference(d, AllRows(T));
          const auto out = test::RunBackend(naive, d);
          INFO(Describe(p));
          double err = 0.0, norm = 0.0;
          for (size_t i = 0; i < out.size(); ++i) {
            err = std::max(err, std::abs(out[i] - r.out[i]));
            norm = std::max(norm, std::abs(r.out[i]));
          }
          CHECK(err <= 1e-4 * norm);
        }
}

TEST_CASE("the GEMM form of the reference equals the loops on every row, every form (odd sizes)") {
  struct Case {
    Variant v;
    int B, T, din, dout, H, kv, W, P, bias;
    float drop;
  };
  const Case cases[] = {
      {Variant::kSimplified, 2, 17, 24, 24, 1, 1, 0, 0, 0, 0.0f},
      {Variant::kSelf, 1, 300, 40, 36, 1, 1, 0, 0, 1, 0.0f},
      {Variant::kCausal, 2, 65, 40, 36, 1, 1, 0, 0, 0, 0.3f},
      {Variant::kMha, 1, 1, 24, 30, 6, 2, 0, 0, 1, 0.0f},
      {Variant::kMha, 2, 3, 24, 30, 6, 3, 0, 5, 1, 0.3f},
      {Variant::kMha, 1, 300, 40, 36, 6, 6, 0, 0, 1, 0.1f},
      {Variant::kMha, 2, 300, 24, 30, 6, 1, 4, 0, 0, 0.0f},     // MQA, window W inside a block
      {Variant::kMha, 1, 300, 24, 30, 6, 2, 150, 1000, 1, 0.3f},  // window across block edges, cache
      {Variant::kMha, 1, 17, 24, 36, 6, 3, 0, 1000, 0, 0.0f},
  };
  for (const Case& c : cases) {
    ab_problem p = MakeProblem(c.v, c.B, c.T, c.din, c.dout, c.H);
    p.kv_heads = c.kv;
    p.window = c.W;
    p.past_len = c.P;
    p.qkv_bias = c.bias;
    p.dropout_p = c.drop;
    p.dropout_seed = 9;
    INFO(Describe(p));
    const ProblemData d = MakeRandomProblemData(p, 77);
    const ReferenceResult loops = ComputeReference(d, AllRows(c.T));
    double gemm_max_score = 0.0;
    const std::vector<double> gemm = ComputeAllRowsGemm(d, &gemm_max_score);
    REQUIRE(gemm.size() == loops.out.size());
    double err = 0.0, norm = 0.0;
    for (size_t i = 0; i < gemm.size(); ++i) {
      err = std::max(err, std::abs(gemm[i] - loops.out[i]));
      norm = std::max(norm, std::abs(loops.out[i]));
    }
    CHECK(norm > 0.0);
    CHECK(err <= 1e-12 * norm);  // both float64: only the order of the sums differs
    CHECK(gemm_max_score == Approx(loops.max_abs_score).epsilon(1e-12));
    // The count of scores the all-rows pass computes: B H sum_t (KeyEnd - KeyBegin).
    double visible = 0.0;
    for (int t = 0; t < c.T; ++t) visible += static_cast<double>(KeyEnd(p, t) - KeyBegin(p, t));
    CHECK(VisibleScores(p) == visible * c.B * c.H);
  }
}
