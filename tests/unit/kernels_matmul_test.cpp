// kernels/matmul-inl.h on every Highway target this binary compiled and this CPU runs: MatMul
// (and through it MulAddTile, the FMA loop the fused tiles share) against a float64 product on
// odd shapes, with and without its row-scale and bias epilogue, and its promise that stores
// into C are exact: no column at or beyond `cols` is written. This file is its own
// foreach_target unit (HWY_TARGET_INCLUDE), so the forced target reaches its dispatch table.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/kernels_matmul_test.cpp"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"
#include "kernels/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

int64_t MatMulTestTarget() { return HWY_TARGET; }

void MatMulOnTarget(const MatMulArgs& m) { MatMul(hn::ScalableTag<float>(), m); }

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "hwy_targets.h"
#include "kernels/pack.h"

namespace attnbench {
HWY_EXPORT(MatMulTestTarget);
HWY_EXPORT(MatMulOnTarget);
}  // namespace attnbench

using namespace attnbench;

namespace {

constexpr size_t kPad = 16;  // the padding contract: B rows and the bias readable to a multiple of 16
constexpr float kSentinel = 12345.0f;

std::vector<float> Uniform(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

struct Shape {
  size_t rows, k, cols;
  bool row_scale, bias;
};

// Runs one product on the current target and CHECKs every element of C against float64, and
// that the columns past `cols` (sentinels) are untouched. The padding of B and of the bias is
// NaN: a padded lane may be computed, but none may reach a stored column.
void CheckProduct(const Shape& s, std::mt19937& rng) {
  const size_t lda = s.k + 3, ldb = RoundUp(s.cols, kPad), ldc = s.cols + 5;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a = Uniform(s.rows * lda, rng);
  std::vector<float> b = Uniform(s.k * ldb, rng);
  for (size_t kk = 0; kk < s.k; ++kk)
    for (size_t c = s.cols; c < ldb; ++c) b[kk * ldb + c] = nan;
  std::vector<float> bias = Uniform(ldb, rng);
  for (size_t c = s.cols; c < ldb; ++c) bias[c] = nan;
  const std::vector<float> scale = Uniform(s.rows, rng);
  std::vector<float> c(s.rows * ldc, kSentinel);

  MatMulArgs m;
  m.a = a.data(), m.lda = lda;
  m.b = b.data(), m.ldb = ldb;
  m.c = c.data(), m.ldc = ldc;
  m.rows = s.rows, m.k = s.k, m.cols = s.cols;
  if (s.row_scale) m.row_scale = scale.data();
  if (s.bias) m.bias = bias.data();
  HWY_DYNAMIC_DISPATCH(MatMulOnTarget)(m);

  // A float FMA chain of k steps, then a multiply and an add: at most about (k + 2) roundings
  // of 2^-24 relative to the magnitudes involved; twice that (and twice again for targets that
  // round the multiply and the add separately) still fails any wrong index by orders of magnitude.
  const double eps = std::ldexp(1.0, -23);
  size_t bad = 0, touched = 0;
  double worst = 0.0;
  for (size_t r = 0; r < s.rows; ++r) {
    for (size_t j = 0; j < s.cols; ++j) {
      double sum = 0.0, magnitude = 0.0;
      for (size_t kk = 0; kk < s.k; ++kk) {
        sum += static_cast<double>(a[r * lda + kk]) * b[kk * ldb + j];
        magnitude += std::fabs(static_cast<double>(a[r * lda + kk]) * b[kk * ldb + j]);
      }
      const double f = s.row_scale ? scale[r] : 1.0;
      const double add = s.bias ? bias[j] : 0.0;
      const double ref = sum * f + add;
      const double tol = 2.0 * (s.k + 2) * eps * (magnitude * std::fabs(f) + std::fabs(add));
      const double err = std::fabs(c[r * ldc + j] - ref);
      if (!(err <= tol)) ++bad;  // also counts NaN
      worst = std::max(worst, err / (tol > 0 ? tol : 1.0));
    }
    for (size_t j = s.cols; j < ldc; ++j)
      if (c[r * ldc + j] != kSentinel) ++touched;
  }
  INFO("rows " << s.rows << " k " << s.k << " cols " << s.cols << " row_scale " << s.row_scale << " bias "
               << s.bias << ": worst error / tolerance " << worst);
  CHECK(bad == 0);
  CHECK(touched == 0);
}

}  // namespace

TEST_CASE("MatMul matches a float64 product on odd shapes on every target, storing only C's columns") {
  test::ForEachTarget([](const std::string& name) {
    CHECK(hwy::TargetName(HWY_DYNAMIC_DISPATCH(MatMulTestTarget)()) == name);  // the override reached dispatch
    std::mt19937 rng(42);
    // rows around the 6-row block, cols around every vector width (4, 8, 16) and the 2- and
    // 4-vector tiles, k from 1 to a length that needs many FMA steps.
    for (size_t rows : {1, 2, 5, 6, 7, 13})
      for (size_t k : {1, 3, 16, 17, 64})
        for (size_t cols : {1, 3, 4, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100})
          for (int epilogue = 0; epilogue < 4; ++epilogue)
            CheckProduct({rows, k, cols, (epilogue & 1) != 0, (epilogue & 2) != 0}, rng);
  });
}

TEST_CASE("the matmul kernels compile the scalar fallback and every x86 target the CPU supports") {
  test::CheckEveryTargetCompiled();
}

#endif  // HWY_ONCE
