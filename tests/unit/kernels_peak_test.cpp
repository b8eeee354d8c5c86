// kernels/peak.h on every target it measures (AVX3, AVX2, SSE4: those this binary compiled and
// this CPU runs): the FMA kernel really runs `iters` steps of every chain on every lane (its
// accumulators come out at the analytically expected values, exact in float), so the FLOPs the
// machine module counts (2 x lanes x chains x iters) are the FLOPs done; the memory kernels
// compute the triad and the sum, tails included. No timing here (tests/cli/machine_likwid_test.sh
// checks the figures against likwid-bench).
#include <catch2/catch.hpp>
#include <hwy/targets.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/peak.h"

using attnbench::kernels::kFmaChains;
using attnbench::kernels::PeakTarget;
using attnbench::kernels::PeakTargets;
using attnbench::kernels::RunFmaChains;

namespace {

// out[k] after RunFmaChains: chain k starts at k in every lane; sums of small integers and
// powers of two are exact in float.
std::vector<float> Chains(int64_t target, uint64_t iters, float mul, float add) {
  std::vector<float> out(kFmaChains, -1.0f);
  RunFmaChains(target, iters, mul, add, out.data());
  return out;
}

}  // namespace

TEST_CASE("PeakTargets lists every FMA-capable ISA the CPU has, widest first, with its lanes") {
  const std::vector<PeakTarget> targets = PeakTargets();
  REQUIRE(!targets.empty());
  const int64_t cpu = hwy::SupportedTargets();
  std::vector<std::string> names;
  for (const PeakTarget& t : targets) names.push_back(t.name);
  const auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  // HWY_ENABLED: the sanitized build disables SSE4 on purpose (CMakeLists.txt).
  if ((cpu & HWY_AVX3) && HWY_ENABLED(HWY_AVX3)) CHECK(has("AVX3"));
  if ((cpu & HWY_AVX2) && HWY_ENABLED(HWY_AVX2)) CHECK(has("AVX2"));
  if ((cpu & HWY_SSE4) && HWY_ENABLED(HWY_SSE4)) CHECK(has("SSE4"));
  for (size_t i = 1; i < targets.size(); ++i) CHECK(targets[i - 1].lanes > targets[i].lanes);
  for (const PeakTarget& t : targets) {
    INFO(t.name);
    const std::string n = t.name;
    if (n == "AVX3") CHECK((t.lanes == 16 && t.native_fma));
    if (n == "AVX2") CHECK((t.lanes == 8 && t.native_fma));
    if (n == "SSE4") CHECK((t.lanes == 4 && !t.native_fma));  // a multiply and an add
  }
}

TEST_CASE("RunFmaChains runs every step of every chain on every lane, on every target") {
  for (const PeakTarget& t : PeakTargets()) {
    DYNAMIC_SECTION(t.name) {
      const float lanes = static_cast<float>(t.lanes);
      // acc = acc * 1 + 1, 1000 steps: chain k ends at k + 1000 in each lane.
      const std::vector<float> plus = Chains(t.target, 1000, 1.0f, 1.0f);
      // acc = acc * 2 + 0, 10 steps: chain k ends at k * 1024: the multiply ran every step too.
      const std::vector<float> times = Chains(t.target, 10, 2.0f, 0.0f);
      // No step: the starting values.
      const std::vector<float> none = Chains(t.target, 0, 2.0f, 1.0f);
      for (size_t k = 0; k < kFmaChains; ++k) {
        INFO("chain " << k);
        CHECK(plus[k] == lanes * static_cast<float>(k + 1000));
        CHECK(times[k] == lanes * static_cast<float>(k * 1024));
        CHECK(none[k] == lanes * static_cast<float>(k));
      }
    }
  }
}

TEST_CASE("RunFmaChains refuses a target it does not measure") {
  CHECK_THROWS_AS(RunFmaChains(HWY_SCALAR, 1, 1.0f, 1.0f, std::vector<float>(kFmaChains).data()),
                  std::invalid_argument);
}

TEST_CASE("Triad and SumRead compute a = b + s c and the sum, tails included") {
  for (const size_t n : {size_t{0}, size_t{1}, size_t{31}, size_t{1000}, size_t{1027}}) {
    INFO("n = " << n << " on " << attnbench::kernels::StreamTargetName());
    std::vector<float> a(n + 1, -7.0f), b(n), c(n);
    float expect_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      b[i] = static_cast<float>(i % 17);
      c[i] = static_cast<float>(i % 5);
    }
    attnbench::kernels::Triad(a.data(), b.data(), c.data(), 3.0f, n);
    for (size_t i = 0; i < n; ++i) {
      CHECK(a[i] == b[i] + 3.0f * c[i]);
      expect_sum += a[i];
    }
    CHECK(a[n] == -7.0f);  // nothing written past the end
    // Integers below 2^24: every order of summation gives the same float.
    CHECK(attnbench::kernels::SumRead(a.data(), n) == expect_sum);
  }
}
