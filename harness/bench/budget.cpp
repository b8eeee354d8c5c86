#include "budget.h"

#include <algorithm>

#include "flop_model.h"

namespace attnbench::bench {

double CellSeconds(double t, const TimingPlan& plan) {
  return 2 * t + std::max(t, plan.min_time) * (plan.repetitions + 1.5);
}

void BudgetPredictor::Record(const std::string& backend, const ab_problem& p, double seconds) {
  if (seconds > 0) samples_.push_back({backend, p, CountFlops(p).total(), seconds});
}

double BudgetPredictor::Predict(const std::string& backend, const ab_problem& p, std::string* basis) const {
  const double flops = CountFlops(p).total();
  // Prefer the same thread count; among those the largest config not above this one (rates grow
  // with size for good kernels, so extrapolating upward from it is conservative); failing that
  // the smallest larger one.
  const Sample* best = nullptr;
  auto better = [&](const Sample& s) {
    if (!best) return true;
    const bool same_t = s.problem.threads == p.threads, best_same_t = best->problem.threads == p.threads;
    if (same_t != best_same_t) return same_t;
    const bool below = s.flops <= flops, best_below = best->flops <= flops;
    if (below != best_below) return below;
    return below ? s.flops >= best->flops : s.flops < best->flops;
  };
  for (const auto& s : samples_)
    if (s.backend == backend && better(s)) best = &s;
  if (!best) return 0.0;
  if (basis) *basis = Describe(best->problem) + " threads=" + std::to_string(best->problem.threads);
  return best->seconds * flops / best->flops;
}

}  // namespace attnbench::bench
