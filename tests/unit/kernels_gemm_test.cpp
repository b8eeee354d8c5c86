// kernels/gemm-inl.h (with PackGemmB / PackGemmBias of kernels/pack.h) on every Highway target
// this binary compiled and this CPU runs: Gemm against a float64 product on odd shapes (rows, k,
// n in 1, 3, 17, 65, 300, and k past kGemmMaxKc so that C is accumulated over k blocks), with and
// without the bias, from B packed in groups of 64 and of 16 columns (either layout on every
// target), computed as several GemmBlock tasks (rows and panels cut at odd places, as
// the fused backend's threads cut them), and its promise that stores into C are exact: no
// column at or beyond n is written. This file is its own foreach_target unit
// (HWY_TARGET_INCLUDE), so the forced target reaches its dispatch table.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/kernels_gemm_test.cpp"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"
#include "kernels/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

int64_t GemmTestTarget() { return HWY_TARGET; }

void GemmOnTarget(const GemmArgs& m, const GemmBlock& blk) { Gemm(hn::ScalableTag<float>(), m, blk); }

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <catch2/catch.hpp>

#include <stdexcept>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "hwy_targets.h"
#include "kernels/pack.h"

namespace attnbench {
HWY_EXPORT(GemmTestTarget);
HWY_EXPORT(GemmOnTarget);
}  // namespace attnbench

using namespace attnbench;

namespace {

constexpr float kSentinel = 12345.0f;

std::vector<float> Uniform(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// One product, its operands and its float64 reference (computed once, checked on every target).
struct Product {
  size_t rows, k, n;
  bool bias;
  size_t lda, ldb, ldc;
  std::vector<float> a, b, bias_values;
  AlignedBuffer<float> packed, packed16, packed_bias;  // B in groups of 64 and of 16 columns
  std::vector<double> ref, tol;

  Product(size_t rows_, size_t k_, size_t n_, bool bias_, std::mt19937& rng)
      : rows(rows_), k(k_), n(n_), bias(bias_), lda(k_ + 3), ldb(n_ + 5), ldc(n_ + 7) {
    a = Uniform(rows * lda, rng);
    b = Uniform(k * ldb, rng);
    bias_values = Uniform(n, rng);
    packed = AlignedBuffer<float>(PackedGemmFloats(k, n) + 1);  // + 1: a k = 0 product still has a buffer
    PackGemmB(b.data(), ldb, k, n, packed.data());
    packed16 = AlignedBuffer<float>(packed.size());
    PackGemmB(b.data(), ldb, k, n, packed16.data(), 16);
    packed_bias = AlignedBuffer<float>(GemmPanels(n) * kGemmPanel);
    PackGemmBias(bias ? bias_values.data() : nullptr, n, packed_bias.data());
    // A float FMA chain of k steps plus the bias: at most about (k + 1) roundings of 2^-24
    // relative to the magnitudes involved; twice that (and twice again for targets that round
    // the multiply and the add separately) still fails any wrong index or a lost k block by
    // orders of magnitude.
    const double eps = std::ldexp(1.0, -23);
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = 0; j < n; ++j) {
        double sum = bias ? bias_values[j] : 0.0, magnitude = std::fabs(sum);
        for (size_t kk = 0; kk < k; ++kk) {
          const double t = static_cast<double>(a[r * lda + kk]) * b[kk * ldb + j];
          sum += t;
          magnitude += std::fabs(t);
        }
        ref.push_back(sum);
        tol.push_back(2.0 * (k + 2) * eps * magnitude);
      }
  }

  // C computed as tasks: rows cut at row_cut, panels at panel_cut (0 = not cut), from B packed
  // in groups of `group` columns.
  void CheckOnCurrentTarget(size_t row_cut, size_t panel_cut, size_t group) const {
    std::vector<float> c(rows * ldc, kSentinel);
    GemmArgs m;
    m.a = a.data(), m.lda = lda;
    m.b = group == 16 ? packed16.data() : packed.data(), m.group = group;
    m.bias = bias ? packed_bias.data() : nullptr;
    m.c = c.data(), m.ldc = ldc;
    m.k = k, m.n = n;
    const size_t panels = GemmPanels(n);
    for (const auto& [r0, r1] : {std::pair{size_t{0}, row_cut}, std::pair{row_cut, rows}})
      for (const auto& [p0, p1] : {std::pair{size_t{0}, panel_cut}, std::pair{panel_cut, panels}})
        if (r0 < r1 && p0 < p1) HWY_DYNAMIC_DISPATCH(GemmOnTarget)(m, GemmBlock{r0, r1, p0, p1});

    size_t bad = 0, touched = 0;
    double worst = 0.0;
    for (size_t r = 0; r < rows; ++r) {
      for (size_t j = 0; j < n; ++j) {
        const double err = std::fabs(c[r * ldc + j] - ref[r * n + j]);
        const double t = tol[r * n + j];
        if (!(err <= t)) ++bad;  // also counts NaN and a sentinel left unwritten
        worst = std::max(worst, err / (t > 0 ? t : 1.0));
      }
      for (size_t j = n; j < ldc; ++j)
        if (c[r * ldc + j] != kSentinel) ++touched;
    }
    INFO("rows " << rows << " k " << k << " n " << n << " bias " << bias << " group " << group << " cut at row "
                 << row_cut << ", panel " << panel_cut << ": worst error / tolerance " << worst);
    CHECK(bad == 0);
    CHECK(touched == 0);
  }
};

}  // namespace

TEST_CASE("PackGemmB lays B out panel-major, in groups of 64 or 16 columns, and zero pads the last panel") {
  std::mt19937 rng(3);
  const size_t k = 5, n = 70, ldb = 73;  // two panels, the second 6 columns wide
  const std::vector<float> b = Uniform(k * ldb, rng);
  std::vector<float> packed(PackedGemmFloats(k, n), -1.0f);
  REQUIRE(packed.size() == 2 * kGemmPanel * k);
  PackGemmB(b.data(), ldb, k, n, packed.data());
  for (size_t kk = 0; kk < k; ++kk)
    for (size_t j = 0; j < 2 * kGemmPanel; ++j) {
      const float want = j < n ? b[kk * ldb + j] : 0.0f;
      CHECK(packed[(j / kGemmPanel) * k * kGemmPanel + kk * kGemmPanel + j % kGemmPanel] == want);
    }
  // Groups of 16: each panel four [k][16] blocks one after the other.
  std::vector<float> packed16(packed.size(), -1.0f);
  PackGemmB(b.data(), ldb, k, n, packed16.data(), 16);
  for (size_t kk = 0; kk < k; ++kk)
    for (size_t j = 0; j < 2 * kGemmPanel; ++j) {
      const float want = j < n ? b[kk * ldb + j] : 0.0f;
      CHECK(packed16[(j / kGemmPanel) * k * kGemmPanel + (j % kGemmPanel / 16) * k * 16 + kk * 16 + j % 16] == want);
    }
  for (const size_t group : {0, 8, 32, 128}) CHECK_THROWS_AS(PackGemmB(b.data(), ldb, k, n, packed16.data(), group), std::invalid_argument);
  std::vector<float> bias(kGemmPanel * 2, -1.0f);
  PackGemmBias(b.data(), n, bias.data());
  for (size_t j = 0; j < bias.size(); ++j) CHECK(bias[j] == (j < n ? b[j] : 0.0f));
  PackGemmBias(nullptr, n, bias.data());
  for (const float v : bias) CHECK(v == 0.0f);
}

TEST_CASE("PackGemmBConcat packs side-by-side blocks as PackGemmB packs their copy") {
  std::mt19937 rng(5);
  // Widths that cut panels anywhere (40 + 17 + 17 = 74: the second panel starts inside the
  // second block), a block wider than a panel, and an empty block.
  for (const std::vector<size_t>& widths : std::vector<std::vector<size_t>>{{40, 17, 17}, {1}, {70, 0, 130, 3}}) {
    const size_t k = 7;
    size_t n = 0;
    for (const size_t w : widths) n += w;
    std::vector<std::vector<float>> mats;
    std::vector<GemmBColumns> blocks;
    std::vector<float> side(k * n);
    size_t col = 0;
    for (const size_t w : widths) {
      const size_t ld = w + 3;  // a row stride wider than the block
      mats.push_back(Uniform(k * ld, rng));
      blocks.push_back({mats.back().data(), ld, w});
      for (size_t kk = 0; kk < k; ++kk)
        for (size_t j = 0; j < w; ++j) side[kk * n + col + j] = mats.back()[kk * ld + j];
      col += w;
    }
    for (const size_t group : {size_t{64}, size_t{16}}) {
      std::vector<float> want(PackedGemmFloats(k, n), -1.0f), got(want.size(), -2.0f);
      PackGemmB(side.data(), n, k, n, want.data(), group);
      PackGemmBConcat(blocks, k, got.data(), group);
      INFO("n = " << n << " group " << group);
      CHECK(got == want);
    }
  }
}

TEST_CASE("Gemm matches a float64 product on odd shapes on every target, storing only C's columns") {
  std::mt19937 rng(42);
  std::vector<Product> products;
  for (size_t rows : {1, 3, 17, 65, 300})
    for (size_t k : {1, 3, 17, 65, 300})
      for (size_t n : {1, 3, 17, 65, 300}) products.emplace_back(rows, k, n, (rows + k + n) % 2 == 0, rng);
  // k past kGemmMaxKc (512): equal k blocks accumulated in C; n = 130 has a partial last panel,
  // done in one k block.
  for (size_t k : {513, 1100}) {
    products.emplace_back(17, k, 130, true, rng);
    products.emplace_back(7, k, 64, false, rng);
  }
  // Every remainder of the 6-row tile after whole groups: 7 .. 9 rows go as two short tiles
  // (4 + 3, 4 + 4, 5 + 4), 10 and 11 as 6 + 4 and 6 + 5; 128 = 20 x 6 + 4 + 4 (T = 128).
  for (size_t rows : {6, 7, 8, 9, 10, 11, 128}) products.emplace_back(rows, 65, 130, rows % 2 == 0, rng);
  products.emplace_back(4, 0, 20, true, rng);  // k = 0: C = bias
  test::ForEachTarget([&](const std::string& name) {
    CHECK(hwy::TargetName(HWY_DYNAMIC_DISPATCH(GemmTestTarget)()) == name);  // the override reached dispatch
    // Both layouts on every target: a target reads the one packed for another too.
    for (const Product& p : products)
      for (const size_t group : {size_t{64}, size_t{16}}) {
        p.CheckOnCurrentTarget(0, 0, group);                                                // one task
        p.CheckOnCurrentTarget(p.rows / 3 + (p.rows > 1), GemmPanels(p.n) / 2, group);  // up to four tasks
      }
  });
}

TEST_CASE("the gemm kernels compile the scalar fallback and every x86 target the CPU supports") {
  test::CheckEveryTargetCompiled();
}

#endif  // HWY_ONCE
