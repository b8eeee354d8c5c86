#include "grid.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

namespace attnbench {

std::vector<std::string> SplitList(const std::string& flag, const std::string& text) {
  std::vector<std::string> items;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    if (a == std::string::npos) throw InputError(flag + ": empty item in list '" + text + "'");
    items.push_back(item.substr(a, b - a + 1));
  }
  if (items.empty() || text.back() == ',') throw InputError(flag + ": empty list '" + text + "'");
  std::set<std::string> seen;
  for (const auto& i : items)
    if (!seen.insert(i).second) throw InputError(flag + ": duplicate value '" + i + "' in '" + text + "'");
  return items;
}

std::vector<int64_t> ParseIntList(const std::string& flag, const std::string& text, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  for (const auto& item : SplitList(flag, text)) {
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && ptr == item.data() + item.size() && (v < lo || v > hi)))
      throw InputError(flag + ": " + item + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    if (ec != std::errc() || ptr != item.data() + item.size())
      throw InputError(flag + ": '" + item + "' is not an integer");
    out.push_back(v);
  }
  return out;
}

std::vector<double> ParseRealList(const std::string& flag, const std::string& text) {
  std::vector<double> out;
  for (const auto& item : SplitList(flag, text)) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || ptr != item.data() + item.size() || !std::isfinite(v))
      throw InputError(flag + ": '" + item + "' is not a number");
    out.push_back(v);
  }
  return out;
}

GridSpec RunDefaults() {
  GridSpec g;
  g.variants = "mha";
  g.batch = "1";
  g.seq_len = "64";
  g.heads = "auto";
  g.dropout = "0";
  g.qkv_bias = "0";
  return g;
}

std::string Config::Describe() const {
  return std::string(VariantName(variant)) + " " + attnbench::Describe(problem);
}

std::vector<Config> ExpandGrid(const GridSpec& s, std::vector<SkippedConfig>* skipped) {
  std::vector<Variant> variants;
  for (const auto& name : SplitList("--variant", s.variants)) {
    auto v = ParseVariant(name);
    if (!v) throw InputError("--variant: unknown variant '" + name + "' (known: simplified, self, causal, mha)");
    variants.push_back(*v);
  }
  const auto batch = ParseIntList("--batch", s.batch, 1, kMaxDim);
  const auto seq = ParseIntList("--seq-len", s.seq_len, 1, kMaxDim);
  // 0 stands for "auto" until the variant is known.
  const auto heads = s.heads == "auto" ? std::vector<int64_t>{0} : ParseIntList("--heads", s.heads, 1, kMaxDim);
  const auto d_in = ParseIntList("--d-in", s.d_in, 1, kMaxDim);
  const auto d_out = ParseIntList("--d-out", s.d_out, 1, kMaxDim);
  const auto bias = ParseIntList("--qkv-bias", s.qkv_bias, 0, 1);
  // 0 stands for "heads" (kv_heads = the config's head count, i.e. plain multi-head attention).
  const auto kv_heads =
      s.kv_heads == "heads" ? std::vector<int64_t>{0} : ParseIntList("--kv-heads", s.kv_heads, 1, kMaxDim);
  const auto window = ParseIntList("--window", s.window, 0, kMaxDim);
  const auto past_len = ParseIntList("--past-len", s.past_len, 0, kMaxDim);
  const auto dropout = ParseRealList("--dropout", s.dropout);
  for (double p : dropout)
    if (!(p >= 0.0 && p < 1.0)) throw InputError("--dropout: " + std::to_string(p) + " is outside [0, 1)");
  if (s.causal != "default" && s.causal != "on" && s.causal != "off")
    throw InputError("causal must be default, on or off, got '" + s.causal + "'");
  if (s.threads < 1) throw InputError("--threads: must be >= 1, got " + std::to_string(s.threads));

  // A grid is a cartesian product: refuse one too large to run before building it.
  const double cells = static_cast<double>(variants.size()) * batch.size() * seq.size() * heads.size() *
                       d_in.size() * d_out.size() * dropout.size() * bias.size() * kv_heads.size() *
                       window.size() * past_len.size();
  if (cells > kMaxGridConfigs)
    throw InputError("the grid has " + std::to_string(static_cast<long long>(cells)) + " configs, more than " +
                     std::to_string(kMaxGridConfigs) + "; use shorter lists");

  std::vector<Config> out;
  std::vector<SkippedConfig> invalid;
  std::set<std::tuple<int, int, int, int, int, int, int, int, int, float, int, int, int>> seen;
  for (Variant v : variants)
    for (int64_t b : batch)
      for (int64_t t : seq)
        for (int64_t h : heads)
          for (int64_t di : d_in)
            for (int64_t dout : d_out)
              for (double p : dropout)
                for (int64_t qb : bias)
                  for (int64_t kvh : kv_heads)
                    for (int64_t w : window)
                      for (int64_t past : past_len) {
                        const int64_t heads_v = h ? h : (v == Variant::kMha ? kAutoHeadsMha : 1);
                        Config c{v, MakeProblem(v, static_cast<int32_t>(b), static_cast<int32_t>(t), static_cast<int32_t>(di),
                                                static_cast<int32_t>(dout), static_cast<int32_t>(heads_v))};
                        ab_problem& pr = c.problem;
                        if (pr.qkv_proj) pr.qkv_bias = static_cast<int32_t>(qb);
                        if (s.causal != "default") pr.causal = s.causal == "on";
                        pr.dropout_p = static_cast<float>(p);
                        pr.dropout_seed = s.seed;
                        pr.threads = s.threads;
                        if (kvh) pr.kv_heads = static_cast<int32_t>(kvh);
                        pr.window = static_cast<int32_t>(w);
                        pr.past_len = static_cast<int32_t>(past);
                        if (!seen.insert({static_cast<int>(v), pr.batch, pr.seq_len, pr.d_in, pr.d_out, pr.heads,
                                          pr.causal, pr.qkv_bias, pr.out_proj, pr.dropout_p, pr.kv_heads, pr.window,
                                          pr.past_len}).second)
                          continue;
                        if (std::string why = CheckProblem(pr); !why.empty()) {
                          if (!skipped) throw InputError("invalid config " + c.Describe() + ": " + why);
                          invalid.push_back({c, why});
                          continue;
                        }
                        out.push_back(c);
                      }
  if (skipped) skipped->insert(skipped->end(), invalid.begin(), invalid.end());
  return out;
}

void RequireValidConfig(const std::vector<Config>& configs, const std::vector<SkippedConfig>& skipped) {
  if (!configs.empty() || skipped.empty()) return;
  throw InputError("no valid config in the grid; " + skipped[0].config.Describe() + ": " + skipped[0].reason +
                   (skipped.size() > 1 ? " (and " + std::to_string(skipped.size() - 1) + " more)" : ""));
}

size_t HostBytes(const ab_problem& p) {
  // In 128 bits: B*T*d with every dimension up to 2^20 overflows 64 bits once multiplied
  // by the element size; saturate instead.
  using u128 = unsigned __int128;
  const u128 B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, P = p.past_len;
  // K/V width; a config that failed CheckProblem (kv_heads 0) is sized as MHA.
  const u128 kv = p.kv_heads >= 1 && p.heads >= 1 ? static_cast<u128>(p.kv_heads) * (p.d_out / p.heads) : dout;
  u128 elems = B * T * din + 2 * B * T * dout + din * dout + 2 * din * kv + dout + 2 * kv + dout * dout + dout +
               2 * B * P * kv;  // + k_cache and v_cache
  u128 bytes = elems * sizeof(float) + 2 * (P + T) * kv * sizeof(double);  // + the reference's K and V
  return bytes > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(bytes);
}

void CheckMemory(const Config& c) {
  size_t avail = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kb;
  std::string unit;
  while (meminfo >> key >> kb >> unit)
    if (key == "MemAvailable:") {
      avail = kb * 1024;
      break;
    }
  const size_t need = HostBytes(c.problem);
  if (avail && need > avail)
    throw InputError("config " + c.Describe() + " needs " + std::to_string(need) + " bytes (" +
                     std::to_string(need >> 20) + " MiB) of buffers, only " + std::to_string(avail >> 20) +
                     " MiB available");
}

}  // namespace attnbench
