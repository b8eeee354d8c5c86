#include "shard.h"

#include <algorithm>
#include <numeric>

#include "../grid.h"
#include "flop_model.h"

namespace attnbench::bench {

namespace {

// A nominal rate per thread, only to rank cells against each other: the split needs relative
// costs, and before anything has run the FLOP model is all there is (the per-backend rates the
// budget learns come from cells this shard has not run).
constexpr double kNominalFlopsPerThread = 10e9;

}  // namespace

ShardSpec ParseShard(const std::string& text) {
  const auto slash = text.find('/');
  auto bad = [&] {
    return InputError("--shard: expected i/N with 0 <= i < N (e.g. 0/4), got '" + text + "'");
  };
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) throw bad();
  const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
  auto digits = [](const std::string& s) {
    return s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(a) || !digits(b)) throw bad();
  ShardSpec s{std::stoi(a), std::stoi(b)};
  if (s.count < 1 || s.count > 4096 || s.index >= s.count) throw bad();
  return s;
}

double PredictedCellSeconds(const Config& c, const TimingPlan& timing, double budget_s) {
  const double rate = kNominalFlopsPerThread * std::max(1, c.problem.threads);
  return std::min(CellSeconds(CountFlops(c.problem).total() / rate, timing), budget_s);
}

std::vector<CellRef> ShardCells(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells,
                                const TimingPlan& timing, double budget_s, ShardSpec s) {
  if (!s.sharded()) return cells;
  std::vector<double> cost(cells.size());
  for (size_t k = 0; k < cells.size(); ++k) cost[k] = PredictedCellSeconds(plan[cells[k].config].config, timing, budget_s);
  std::vector<size_t> order(cells.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  std::vector<double> load(s.count, 0);
  std::vector<int> owner(cells.size());
  for (size_t k : order) {
    const int to = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[k] = to;
    load[to] += cost[k];
  }
  std::vector<CellRef> mine;
  for (size_t k = 0; k < cells.size(); ++k)
    if (owner[k] == s.index) mine.push_back(cells[k]);
  return mine;
}

}  // namespace attnbench::bench
