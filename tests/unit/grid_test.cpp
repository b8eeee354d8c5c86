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
