// The problem grid: parsing lists, expanding the cartesian product, refusing bad problems.
#include <catch2/catch.hpp>

#include "grid.h"

using namespace attnbench;

namespace {
std::string ErrorOf(const GridSpec& s) {
  try {
    ExpandGrid(s);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("lists: malformed, empty, duplicate and out-of-range values are named") {
  CHECK_THROWS_WITH(ParseIntList("--seq-len", "1,x,3", 1, 10), Catch::Contains("'x' is not an integer"));
  CHECK_THROWS_WITH(ParseIntList("--seq-len", "", 1, 10), Catch::Contains("empty list"));
  CHECK_THROWS_WITH(ParseIntList("--seq-len", "1,,2", 1, 10), Catch::Contains("empty item"));
  CHECK_THROWS_WITH(ParseIntList("--seq-len", "1,2,", 1, 10), Catch::Contains("empty"));
  CHECK_THROWS_WITH(ParseIntList("--heads", "2,2", 1, 10), Catch::Contains("duplicate value '2'"));
  CHECK_THROWS_WITH(ParseIntList("--batch", "0", 1, 10), Catch::Contains("0 is out of range [1, 10]"));
  CHECK_THROWS_WITH(ParseIntList("--batch", "-4", 1, 10), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(ParseIntList("--batch", "99999999999999999999999", 1, 10), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(ParseIntList("--batch", "1.5", 1, 10), Catch::Contains("not an integer"));
  CHECK(ParseIntList("--seq-len", " 1, 3 ,17", 1, 100) == std::vector<int64_t>{1, 3, 17});
  CHECK_THROWS_WITH(ParseRealList("--dropout", "0.1,nan"), Catch::Contains("not a number"));
}

TEST_CASE("grid: bad problems are refused before anything is allocated") {
  GridSpec s;
  s.heads = "5";
  CHECK_THAT(ErrorOf(s), Catch::Contains("d-out 48 is not divisible by heads 5"));
  s = GridSpec{};
  s.dropout = "1";
  CHECK_THAT(ErrorOf(s), Catch::Contains("outside [0, 1)"));
  s.dropout = "-0.1";
  CHECK_THAT(ErrorOf(s), Catch::Contains("outside [0, 1)"));
  s = GridSpec{};
  s.variants = "mha,flash";
  CHECK_THAT(ErrorOf(s), Catch::Contains("unknown variant 'flash'"));
  s = GridSpec{};
  s.seq_len = "0";
  CHECK_THAT(ErrorOf(s), Catch::Contains("--seq-len: 0 is out of range"));
  s = GridSpec{};
  s.seq_len = s.d_in = s.d_out = s.batch = "1,2,3,4,5,6,7,8,9,10,11,12";
  CHECK_THAT(ErrorOf(s), Catch::Contains("configs, more than 100000"));
  s = GridSpec{};
  s.threads = 0;
  CHECK_THAT(ErrorOf(s), Catch::Contains("--threads"));
}

TEST_CASE("grid: cartesian product with the variants' own rules, no duplicates") {
  GridSpec s;
  s.variants = "simplified,mha";
  s.batch = "1";
  s.seq_len = "3,17";
  s.heads = "1,4";
  s.d_in = "16";
  s.d_out = "8,16";
  s.dropout = "0";
  s.qkv_bias = "0,1";
  const auto configs = ExpandGrid(s);
  // simplified: d_out = d_in and no bias -> 2 T x 2 H; mha: 2 T x 2 H x 2 d_out x 2 bias.
  REQUIRE(configs.size() == 4 + 16);
  for (const auto& c : configs) {
    if (c.variant == Variant::kSimplified) {
      CHECK(c.problem.d_out == 16);
      CHECK(c.problem.qkv_bias == 0);
      CHECK(c.problem.causal == 0);
    } else {
      CHECK(c.problem.causal == 1);
      CHECK(c.problem.out_proj == 1);
    }
  }
  s.causal = "off";
  for (const auto& c : ExpandGrid(s)) CHECK(c.problem.causal == 0);
}

TEST_CASE("memory: a problem whose buffers cannot fit is refused with the bytes it needs") {
  Config c{Variant::kMha, MakeProblem(Variant::kMha, 1024, 1 << 20, 4096, 4096, 1)};
  CHECK(HostBytes(c.problem) > (size_t{1} << 44));
  CHECK_THROWS_WITH(CheckMemory(c), Catch::Contains("bytes") && Catch::Contains("MiB available"));
  Config huge{Variant::kMha, MakeProblem(Variant::kMha, kMaxDim, kMaxDim, kMaxDim, kMaxDim, 1)};
  CHECK(HostBytes(huge.problem) > (size_t{1} << 62));  // no wrap-around at the largest sizes
  CHECK_THROWS_WITH(CheckMemory(huge), Catch::Contains("needs"));
}

TEST_CASE("grid: kv-heads, window and past-len are axes, a kv-heads not dividing heads is skipped like a bad head count") {
  GridSpec s;
  s.variants = "self,mha";
  s.batch = "1";
  s.seq_len = "3";
  s.heads = "4,6";
  s.d_in = "24";
  s.d_out = "24";
  s.dropout = "0";
  s.qkv_bias = "0";
  s.kv_heads = "1,2,3";
  s.window = "0,2";
  s.past_len = "0,5";
  std::vector<SkippedConfig> skipped;
  const auto configs = ExpandGrid(s, &skipped);
  // Valid: heads 4 -> kv 1, 2; heads 6 -> kv 1, 2, 3; windows only with the causal mask (mha).
  // self: 5 (H, kv) x 1 window x 2 P; mha: 5 x 2 x 2.
  CHECK(configs.size() == 10 + 20);
  size_t not_dividing = 0, window_without_mask = 0;
  for (const auto& k : skipped) {
    not_dividing += k.reason.find("kv-heads 3 does not divide heads 4") != std::string::npos;
    window_without_mask += k.reason.find("needs the causal mask") != std::string::npos;
  }
  CHECK(not_dividing == 8);          // (H 4, kv 3) x 2 windows x 2 P, in both variants
  CHECK(window_without_mask == 10);  // self: 5 valid (H, kv) x 2 P at window 2
  for (const auto& c : configs) CHECK(CheckProblem(c.problem).empty());
  // "heads" follows each config's head count.
  s.kv_heads = "heads";
  for (const auto& c : ExpandGrid(s, &skipped)) CHECK(c.problem.kv_heads == c.problem.heads);
  // Without a skip list, the first invalid combination is an error naming it.
  s.kv_heads = "4";
  s.heads = "6";
  CHECK_THROWS_WITH(ExpandGrid(s), Catch::Contains("kv-heads 4 does not divide heads 6"));
}

TEST_CASE("grid: bad kv-heads, window and past-len values are named") {
  GridSpec s;
  s.kv_heads = "0";
  CHECK_THAT(ErrorOf(s), Catch::Contains("--kv-heads: 0 is out of range"));
  s = GridSpec{};
  s.kv_heads = "two";
  CHECK_THAT(ErrorOf(s), Catch::Contains("--kv-heads: 'two' is not an integer"));
  s = GridSpec{};
  s.window = "-1";
  CHECK_THAT(ErrorOf(s), Catch::Contains("--window: -1 is out of range"));
  s = GridSpec{};
  s.past_len = "-3";
  CHECK_THAT(ErrorOf(s), Catch::Contains("--past-len: -3 is out of range"));
  s = GridSpec{};
  s.variants = "simplified";
  s.kv_heads = "1";
  s.heads = "4";
  CHECK_THAT(ErrorOf(s), Catch::Contains("simplified attention has no K/V projections"));
}

TEST_CASE("memory: the KV cache counts, so a past-len too large for the machine is refused") {
  Config c{Variant::kMha, MakeProblem(Variant::kMha, 1, 1, 4096, 4096, 32)};
  const size_t base = HostBytes(c.problem);
  c.problem.past_len = 1000;
  // k_cache and v_cache, float32, [1, 32, 1000, 128]; and the reference's K and V in double.
  CHECK(HostBytes(c.problem) - base == 2 * 4096 * 1000 * 4 + 2 * 1000 * 4096 * 8);
  const size_t mha = HostBytes(c.problem);
  c.problem.kv_heads = 8;  // a quarter of the cache and of W_k / W_v
  CHECK(mha - HostBytes(c.problem) == 3 * (2 * 4096 * 1000 * 4 + 2 * 1000 * 4096 * 8) / 4 + 3 * 2 * 4096 * 4096 * 4 / 4 +
                                          3 * 2 * 4096 * 4 / 4 + 3 * 2 * 4096 * 8 / 4);
  Config big{Variant::kMha, MakeProblem(Variant::kMha, 1024, 1, 65536, 65536, 64)};
  big.problem.past_len = kMaxDim;
  CHECK_THROWS_WITH(CheckMemory(big), Catch::Contains("needs") && Catch::Contains("MiB available"));
}
