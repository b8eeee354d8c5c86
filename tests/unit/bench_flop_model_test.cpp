// The FLOP model against counts worked out by hand (docs/benchmarking.md).
#include <catch2/catch.hpp>

#include "bench/flop_model.h"

using namespace attnbench;
using namespace attnbench::bench;

TEST_CASE("GPT-2 small causal MHA at T = 1024, by hand") {
  const ab_problem p = MakeProblem(Variant::kMha, 1, 1024, 768, 768, 12);
  const FlopCount f = CountFlops(p);
  // Q, K, V: 3 x 2 x 1024 x 768 x 768
  CHECK(f.projections == 3.0 * 2 * 1024 * 768 * 768);
  // causal pairs 1024 * 1025 / 2 = 524800; per head 2 * pairs * 64; 12 heads
  CHECK(QueryKeyPairs(p) == 524800.0);
  CHECK(f.scores == 12.0 * 2 * 524800 * 64);
  CHECK(f.weighted_sum == f.scores);
  CHECK(f.out_projection == 2.0 * 1024 * 768 * 768);
  CHECK(f.total() == Approx(4 * 2.0 * 1024 * 768 * 768 + 4.0 * 12 * 524800 * 64));
  CHECK(f.total() == 4831838208.0 + 1612185600.0);  // 6.44 GFLOP
}

TEST_CASE("simplified attention has no projections and sees every key") {
  const ab_problem p = MakeProblem(Variant::kSimplified, 2, 3, 4, 4, 1);
  const FlopCount f = CountFlops(p);
  CHECK(f.projections == 0);
  CHECK(f.out_projection == 0);
  CHECK(QueryKeyPairs(p) == 9);
  CHECK(f.scores == 2.0 * 1 * 9 * 4 * 2);  // B=2: 2 * pairs * head_dim per batch
  CHECK(f.total() == 288.0);  // Q.K^T 144 + P.V 144
}

TEST_CASE("causal counts T(T+1)/2 pairs, self counts T^2, heads split head_dim") {
  ab_problem self = MakeProblem(Variant::kSelf, 1, 5, 6, 4, 2);
  ab_problem causal = MakeProblem(Variant::kCausal, 1, 5, 6, 4, 2);
  CHECK(QueryKeyPairs(self) == 25);
  CHECK(QueryKeyPairs(causal) == 15);
  // self: proj 3*2*5*6*4 = 720; scores 2 heads * 2 * 25 * 2 = 200; P.V the same; no out proj
  CHECK(CountFlops(self).total() == 720 + 200 + 200);
  CHECK(CountFlops(causal).total() == 720 + 120 + 120);
  // The attention part does not depend on H at fixed d_out: H * head_dim = d_out.
  ab_problem h1 = MakeProblem(Variant::kMha, 1, 64, 48, 48, 1), h4 = MakeProblem(Variant::kMha, 1, 64, 48, 48, 4);
  CHECK(CountFlops(h1).total() == CountFlops(h4).total());
}

TEST_CASE("byte model: GPT-2 small causal MHA at T = 1024, by hand") {
  const ab_problem p = MakeProblem(Variant::kMha, 1, 1024, 768, 768, 12);
  REQUIRE(p.qkv_bias == 0);
  const ByteCount b = CountBytes(p);
  CHECK(b.input == 4.0 * 1024 * 768);                  // x read once
  CHECK(b.weights == 4.0 * (3 * 768 * 768 + 768 * 768 + 768));  // W_q, W_k, W_v, W_o, b_o
  CHECK(b.output == 4.0 * 1024 * 768);
  CHECK(b.minimum() == 3145728.0 + 9440256.0 + 3145728.0);     // 15.7 MB
  // scores written + read, weights written + read: 4 passes over 12 heads x 524800 pairs
  CHECK(b.score_matrices == 4.0 * 4 * 12 * 524800);
  CHECK(ArithmeticIntensity(p) == Approx(6444023808.0 / 15731712.0));  // ~410 FLOP/B
}

TEST_CASE("byte model: simplified attention moves only x and out, biases count when used") {
  const ab_problem s = MakeProblem(Variant::kSimplified, 2, 3, 4, 4, 1);
  CHECK(CountBytes(s).weights == 0);
  CHECK(CountBytes(s).minimum() == 4.0 * (2 * 3 * 4 + 2 * 3 * 4));
  ab_problem biased = MakeProblem(Variant::kSelf, 1, 8, 5, 6, 1);
  const double without = CountBytes(biased).weights;
  biased.qkv_bias = 1;
  CHECK(CountBytes(biased).weights == without + 4.0 * 3 * 6);
  // A batch of 8 moves 8x the activations but the weights once: intensity grows with B.
  const ab_problem b1 = MakeProblem(Variant::kMha, 1, 128, 768, 768, 12);
  const ab_problem b8 = MakeProblem(Variant::kMha, 8, 128, 768, 768, 12);
  CHECK(CountBytes(b8).weights == CountBytes(b1).weights);
  CHECK(ArithmeticIntensity(b8) > ArithmeticIntensity(b1));
}

namespace {

// The model's pairs counted the slow way: every query's [KeyBegin, KeyEnd) of problem.hpp.
double PairsByLoop(const ab_problem& p) {
  double n = 0;
  for (int64_t t = 0; t < p.seq_len; ++t) n += static_cast<double>(KeyEnd(p, t) - KeyBegin(p, t));
  return n;
}

}  // namespace

TEST_CASE("pairs follow KeyBegin / KeyEnd for every window, past_len and mask") {
  for (int32_t T : {1, 3, 17, 65}) {
    for (int32_t P : {0, 1, 5, 300}) {
      for (int32_t W : {0, 1, 2, 16, 17, 64, 400}) {
        for (int causal : {0, 1}) {
          if (W > 0 && !causal) continue;
          ab_problem p = MakeProblem(Variant::kMha, 1, T, 12, 12, 6);
          p.causal = causal;
          p.window = W;
          p.past_len = P;
          INFO("T=" << T << " P=" << P << " W=" << W << " causal=" << causal);
          CHECK(QueryKeyPairs(p) == PairsByLoop(p));
        }
      }
    }
  }
}

TEST_CASE("window and past_len by hand") {
  ab_problem p = MakeProblem(Variant::kMha, 1, 5, 8, 8, 2);
  p.window = 2;  // rows see 1, 2, 2, 2, 2 keys
  CHECK(QueryKeyPairs(p) == 9);
  p.window = 0;
  p.past_len = 10;  // rows see 11 .. 15 keys
  CHECK(QueryKeyPairs(p) == 11 + 12 + 13 + 14 + 15);
  p.window = 12;  // 11, 12, 12, 12, 12
  CHECK(QueryKeyPairs(p) == 59);
  p.causal = 0;
  p.window = 0;  // every query sees all 15 keys
  CHECK(QueryKeyPairs(p) == 75);
}

TEST_CASE("grouped-query: K/V projections and weights shrink with kv_heads, attention does not") {
  ab_problem mha = MakeProblem(Variant::kMha, 2, 7, 24, 12, 6);  // head_dim 2
  ab_problem gqa = mha;
  gqa.kv_heads = 2;  // KvDim 4
  const FlopCount fm = CountFlops(mha), fg = CountFlops(gqa);
  CHECK(fm.projections == 2.0 * 2 * 7 * 24 * (12 + 2 * 12));
  CHECK(fg.projections == 2.0 * 2 * 7 * 24 * (12 + 2 * 4));
  CHECK(fg.scores == fm.scores);  // every query head still sees its keys
  CHECK(fg.weighted_sum == fm.weighted_sum);
  CHECK(fg.out_projection == fm.out_projection);
  CHECK(CountBytes(gqa).weights == 4.0 * (24 * (12 + 2 * 4) + 12 * 12 + 12));
  gqa.qkv_bias = 1;
  CHECK(CountBytes(gqa).weights == 4.0 * (24 * (12 + 2 * 4) + (12 + 2 * 4) + 12 * 12 + 12));
  // A row read back from an older summary.csv has no kv_heads: it was MHA.
  ab_problem old = mha;
  old.kv_heads = 0;
  CHECK(CountFlops(old).total() == fm.total());
  CHECK(CountBytes(old).minimum() == CountBytes(mha).minimum());
}

TEST_CASE("decode: the cache is read once and dominates the bytes") {
  // Llama-like layout: d = 4096, 32 query heads, 8 KV heads, head_dim 128; one new token, P = 4096.
  ab_problem p = MakeProblem(Variant::kMha, 1, 1, 4096, 4096, 32);
  p.kv_heads = 8;
  p.past_len = 4096;
  const ByteCount b = CountBytes(p);
  CHECK(b.cache == 2.0 * 8 * 4096 * 128 * 4);  // K and V: B kv_heads P head_dim floats each
  CHECK(b.minimum() == b.input + b.weights + b.output + b.cache);
  CHECK(QueryKeyPairs(p) == 4097);
  const FlopCount f = CountFlops(p);
  CHECK(f.scores == 2.0 * 32 * 4097 * 128);
  CHECK(f.projections == 2.0 * 4096 * (4096 + 2 * 1024));
  // The attention part: each cached K (V) element, 4 bytes, meets 4 query heads with a
  // multiply-add (2 FLOPs each): 8 FLOPs per 4 bytes, about 2 FLOP/B.
  CHECK((f.scores + f.weighted_sum) / b.cache == Approx(2.0 * 4097 / 4096));
  // No cache, no cache bytes.
  p.past_len = 0;
  CHECK(CountBytes(p).cache == 0);
}
