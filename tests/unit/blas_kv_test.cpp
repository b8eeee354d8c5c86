// The blas backend (and blas-mkl, when built) on grouped-query heads, sliding windows and the KV
// cache (ABI version 2), through the plugin ABI, against the test's own float64 loop
// (kv_reference_loop.h), so the kernels are checked independently of the harness's reference.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "backend_handle.h"
#include "kv_reference_loop.h"
#include "plugin_loader.h"
#include "validate.h"

namespace {

using namespace attnbench;

// out of backend `b` on case c; fails the test with the backend's message.
AlignedBuffer<float> RunCase(const LoadedBackend& b, const test::KvCase& c) {
  const CallResult s = BackendInstance::Supports(b, c.p);
  INFO(Describe(c.p) << ": " << s.message);
  REQUIRE(s.ok);
  const ab_weights w = c.Weights();
  Prepared prepared = BackendInstance::Prepare(b, c.p, w);
  INFO(prepared.error);
  REQUIRE(prepared);
  AlignedBuffer<float> out(OutputElems(c.p));
  Poison(out.data(), out.size());
  const CallResult r = prepared->Run(c.x.data(), out.data());
  INFO(r.message);
  REQUIRE(r.ok);
  return out;
}

void CheckBackend(const std::string& name) {
  const std::string file = std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-" + name + ".so";
  if (!std::filesystem::exists(file)) {
    WARN("skipped: " << name << " was not built");
    return;
  }
  PluginRegistry reg;
  REQUIRE(reg.LoadFile(file));
  const LoadedBackend* b = reg.Find(name);
  REQUIRE(b);
  uint64_t seed = 900;
  for (const ab_problem& p : test::KvProblems()) {
    const test::KvCase c = test::MakeKvCase(p, seed++);
    const AlignedBuffer<float> out = RunCase(*b, c);
    const std::string diff = test::CompareKv(out.data(), test::KvReference(c));
    INFO(name << " " << Describe(p) << ": " << diff);
    CHECK(diff.empty());
  }
}

}  // namespace

TEST_CASE("blas: grouped-query heads, windows and the KV cache match a float64 loop") { CheckBackend("blas"); }

TEST_CASE("blas-mkl: grouped-query heads, windows and the KV cache match a float64 loop") {
  CheckBackend("blas-mkl");
}

// The comparison can fail: the same output against the reference of a problem whose cache, KV
// head mapping or window differs by the least step is rejected.
TEST_CASE("the float64 loop tells a changed cache, KV mapping or window apart") {
  ab_problem p = MakeProblem(Variant::kCausal, 1, 3, 24, 18, 6);
  p.kv_heads = 2, p.past_len = 5, p.window = 4;
  const test::KvCase c = test::MakeKvCase(p, 3);
  const std::vector<double> ref = test::KvReference(c);
  std::vector<float> out(ref.begin(), ref.end());
  CHECK(test::CompareKv(out.data(), ref).empty());

  test::KvCase cache = c;
  cache.k_cache[c.k_cache.size() - 1] += 0.5f;  // the last cached key, inside every row's window
  CHECK_FALSE(test::CompareKv(out.data(), test::KvReference(cache)).empty());

  test::KvCase mapping = c;
  mapping.p.kv_heads = 3;  // W_k / W_v reinterpreted: query heads meet other KV heads
  mapping.w_k.resize(static_cast<size_t>(p.d_in) * KvDim(mapping.p));
  mapping.w_v.resize(mapping.w_k.size());
  mapping.b_k.resize(KvDim(mapping.p)), mapping.b_v.resize(KvDim(mapping.p));
  mapping.k_cache.resize(CacheElems(mapping.p)), mapping.v_cache.resize(CacheElems(mapping.p));
  CHECK_FALSE(test::CompareKv(out.data(), test::KvReference(mapping)).empty());

  test::KvCase window = c;
  window.p.window = 5;
  CHECK_FALSE(test::CompareKv(out.data(), test::KvReference(window)).empty());
}
