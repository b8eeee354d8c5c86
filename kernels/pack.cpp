#include "kernels/pack.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace attnbench {

AlignedBuffer<float> Zeroed(size_t n) {
  AlignedBuffer<float> buf(n);
  buf.Fill(0.0f);
  return buf;
}

void CopyRows(const float* src, size_t ld_src, size_t rows, size_t cols, float* dst, size_t ld_dst) {
  for (size_t r = 0; r < rows; ++r) std::memcpy(dst + r * ld_dst, src + r * ld_src, cols * sizeof(float));
}

void PackQkvWeights(const ab_weights& w, size_t d_in, size_t d_out, float* dst, size_t ld) {
  const float* src[3] = {w.w_q, w.w_k, w.w_v};
  for (size_t k = 0; k < d_in; ++k)
    for (size_t m = 0; m < 3; ++m)
      std::memcpy(dst + k * ld + m * d_out, src[m] + k * d_out, d_out * sizeof(float));
}

void PackQkvBias(const ab_weights& w, size_t d_out, float* dst) {
  const float* src[3] = {w.b_q, w.b_k, w.b_v};
  for (size_t m = 0; m < 3; ++m) {
    if (src[m])
      std::memcpy(dst + m * d_out, src[m], d_out * sizeof(float));
    else
      std::fill(dst + m * d_out, dst + (m + 1) * d_out, 0.0f);
  }
}

void TransposeKBlocks(const float* k, size_t ldk, size_t j_begin, size_t j_end, size_t hd, float* kt,
                      size_t bc) {
  constexpr size_t kTile = 16;
  float* dst[kTile];  // where each key of the tile starts: one division per key, not per element
  for (size_t j0 = j_begin; j0 < j_end; j0 += kTile) {
    const size_t j1 = std::min(j0 + kTile, j_end);
    for (size_t j = j0; j < j1; ++j) dst[j - j0] = kt + j / bc * hd * bc + j % bc;
    for (size_t d0 = 0; d0 < hd; d0 += kTile) {
      const size_t d1 = std::min(d0 + kTile, hd);
      for (size_t j = j0; j < j1; ++j) {
        const float* src = k + j * ldk;
        float* out = dst[j - j0];
        for (size_t d = d0; d < d1; ++d) out[d * bc] = src[d];
      }
    }
  }
}

size_t PackedGemmFloats(size_t k, size_t n) { return GemmPanels(n) * kGemmPanel * k; }

void PackGemmB(const float* b, size_t ldb, size_t k, size_t n, float* dst, size_t group) {
  PackGemmBConcat({{b, ldb, n}}, k, dst, group);
}

void PackGemmBConcat(const std::vector<GemmBColumns>& blocks, size_t k, float* dst, size_t group) {
  if (group != 16 && group != kGemmPanel)
    throw std::invalid_argument("PackGemmB: a group is 16 or 64 columns, not " + std::to_string(group));
  size_t n = 0;
  for (const GemmBColumns& blk : blocks) n += blk.cols;
  float row[kGemmPanel];  // one row of a panel, before it is cut into groups
  for (size_t panel = 0; panel < GemmPanels(n); ++panel) {
    const size_t j0 = panel * kGemmPanel, j1 = std::min(n, j0 + kGemmPanel);
    float* slab = dst + panel * k * kGemmPanel;
    for (size_t kk = 0; kk < k; ++kk) {
      size_t first = 0;  // the concatenation's column of this block's column 0
      for (const GemmBColumns& blk : blocks) {
        const size_t lo = std::max(j0, first), hi = std::min(j1, first + blk.cols);
        if (lo < hi) std::memcpy(row + (lo - j0), blk.b + kk * blk.ld + (lo - first), (hi - lo) * sizeof(float));
        first += blk.cols;
      }
      std::fill(row + (j1 - j0), row + kGemmPanel, 0.0f);
      for (size_t g = 0; g < kGemmPanel / group; ++g)
        std::memcpy(slab + g * k * group + kk * group, row + g * group, group * sizeof(float));
    }
  }
}

void PackGemmBias(const float* bias, size_t n, float* dst) {
  const size_t padded = GemmPanels(n) * kGemmPanel;
  if (bias)
    std::memcpy(dst, bias, n * sizeof(float));
  else
    std::fill(dst, dst + n, 0.0f);
  std::fill(dst + n, dst + padded, 0.0f);
}

}  // namespace attnbench
