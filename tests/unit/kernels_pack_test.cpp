// kernels/pack.h: every layout element by element against its formula, and nothing written
// outside it (the padding stays what the caller put there), on odd sizes: d_out and head_dim
// not multiples of 16, key ranges that start and end inside a 16-key tile and a key block.
#include <catch2/catch.hpp>

#include <vector>

#include "kernels/pack.h"

using namespace attnbench;

namespace {

constexpr float kSentinel = -777.0f;

// Distinct values, so a misplaced copy cannot match by accident: matrix m, element i.
std::vector<float> Numbered(size_t n, int m) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(m * 1000000 + static_cast<int>(i));
  return v;
}

}  // namespace

TEST_CASE("RoundUp and Zeroed") {
  CHECK(RoundUp(0, 16) == 0);
  CHECK(RoundUp(1, 16) == 16);
  CHECK(RoundUp(16, 16) == 16);
  CHECK(RoundUp(17, 16) == 32);
  CHECK(RoundUp(7, 1) == 7);
  CHECK(RoundUp(65, 64) == 128);
  const AlignedBuffer<float> z = Zeroed(37);
  REQUIRE(z.size() == 37);
  for (size_t i = 0; i < z.size(); ++i) CHECK(z[i] == 0.0f);
}

TEST_CASE("CopyRows copies each row to the destination stride and leaves the padding alone") {
  const size_t rows = 5, cols = 7, ld_src = 9, ld_dst = 16;
  const std::vector<float> src = Numbered(rows * ld_src, 1);
  std::vector<float> dst(rows * ld_dst, kSentinel);
  CopyRows(src.data(), ld_src, rows, cols, dst.data(), ld_dst);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < ld_dst; ++c) {
      INFO("row " << r << " col " << c);
      CHECK(dst[r * ld_dst + c] == (c < cols ? src[r * ld_src + c] : kSentinel));
    }
}

TEST_CASE("PackQkvWeights puts W_q, W_k, W_v side by side in each row") {
  for (const size_t ld_extra : {0, 5}) {  // the unpadded [d_in, 3 d_out] and a padded stride
    const size_t d_in = 3, d_out = 5, ld = 3 * d_out + ld_extra;
    const std::vector<float> wq = Numbered(d_in * d_out, 1), wk = Numbered(d_in * d_out, 2),
                             wv = Numbered(d_in * d_out, 3);
    ab_weights w{};
    w.w_q = wq.data(), w.w_k = wk.data(), w.w_v = wv.data();
    std::vector<float> dst(d_in * ld, kSentinel);
    PackQkvWeights(w, d_in, d_out, dst.data(), ld);
    const std::vector<float>* src[3] = {&wq, &wk, &wv};
    for (size_t k = 0; k < d_in; ++k)
      for (size_t c = 0; c < ld; ++c) {
        INFO("ld " << ld << " row " << k << " col " << c);
        const float want = c < 3 * d_out ? (*src[c / d_out])[k * d_out + c % d_out] : kSentinel;
        CHECK(dst[k * ld + c] == want);
      }
  }
}

TEST_CASE("PackQkvBias concatenates the biases, zeros for missing ones") {
  const size_t d_out = 5;
  const std::vector<float> bq = Numbered(d_out, 1), bk = Numbered(d_out, 2), bv = Numbered(d_out, 3);
  ab_weights w{};
  std::vector<float> dst(3 * d_out + 1, kSentinel);
  SECTION("with bias") {
    w.b_q = bq.data(), w.b_k = bk.data(), w.b_v = bv.data();
    PackQkvBias(w, d_out, dst.data());
    for (size_t c = 0; c < d_out; ++c) {
      CHECK(dst[c] == bq[c]);
      CHECK(dst[d_out + c] == bk[c]);
      CHECK(dst[2 * d_out + c] == bv[c]);
    }
  }
  SECTION("without bias") {
    PackQkvBias(w, d_out, dst.data());
    for (size_t c = 0; c < 3 * d_out; ++c) CHECK(dst[c] == 0.0f);
  }
  CHECK(dst[3 * d_out] == kSentinel);
}

TEST_CASE("TransposeKBlocks writes K^T block-major for exactly the keys asked for") {
  const size_t T = 70, ldk = 100;  // K rows of a head inside a wider QKV row
  for (const size_t hd : {1, 7, 16, 17, 65})
    for (const size_t bc : {16, 64, 80})  // 80 >= T: the plain transpose (the highway backend's use)
      for (const auto& [j_begin, j_end] : std::vector<std::pair<size_t, size_t>>{{0, 70}, {5, 37}, {64, 65}, {3, 3}}) {
        const size_t t_pad = RoundUp(T, bc);
        const std::vector<float> k = Numbered(T * ldk, 1);
        std::vector<float> kt(hd * t_pad, kSentinel);
        TransposeKBlocks(k.data(), ldk, j_begin, j_end, hd, kt.data(), bc);
        std::vector<float> want(hd * t_pad, kSentinel);
        for (size_t j = j_begin; j < j_end; ++j)
          for (size_t d = 0; d < hd; ++d) want[j / bc * hd * bc + d * bc + j % bc] = k[j * ldk + d];
        size_t wrong = 0;
        for (size_t i = 0; i < want.size(); ++i) wrong += kt[i] != want[i];
        INFO("hd " << hd << " bc " << bc << " keys [" << j_begin << ", " << j_end << ")");
        CHECK(wrong == 0);
      }
}
