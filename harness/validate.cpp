#include "validate.h"

#include "backend_handle.h"
#include "memory_probe.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <sstream>

namespace attnbench {

const char* StatusName(Status s) {
  switch (s) {
    case Status::kPass: return "PASS";
    case Status::kFail: return "FAIL";
    case Status::kMistrusted: return "MISTRUSTED";
    case Status::kUnsupported: return "UNSUPPORTED";
    case Status::kCrashed: return "CRASHED";
    case Status::kTimeout: return "TIMEOUT";
  }
  return "?";
}

Tolerance ComputeTolerance(const ab_problem& p, const ReferenceResult& ref) {
  constexpr double u = 0x1.0p-24;
  double L = (p.qkv_proj ? p.d_in : 0) + HeadDim(p) + p.seq_len + (p.out_proj ? p.d_out : 0);
  Tolerance t;
  t.rel_l2 = 16.0 * u * std::sqrt(L) * (1.0 + ref.max_abs_score);
  double max_ref = 0.0;
  for (double v : ref.out) max_ref = std::max(max_ref, std::abs(v));
  t.max_abs = 8.0 * t.rel_l2 * max_ref;
  return t;
}

std::string MistrustReason(const ReferenceResult& ref) {
  if (ref.median_entropy < 0.0) return {};  // T = 1: the softmax is exactly 1, nothing to hide
  std::ostringstream os;
  if (ref.median_entropy > 0.995) {
    os << "reference attention weights nearly uniform (median normalised entropy "
       << ref.median_entropy << ")";
  } else if (ref.median_max_weight > 0.995) {
    os << "reference attention weights nearly one-hot (median largest weight "
       << ref.median_max_weight << ")";
  }
  return os.str();
}

ValidationCase PrepareCase(const ab_problem& p, uint64_t seed, int sample_rows) {
  ValidationCase c;
  for (int attempt = 0; attempt < 8; ++attempt) {
    c.data_seed = seed + attempt;
    c.data = MakeRandomProblemData(p, c.data_seed);
    c.rows = SampleRows(p.seq_len, sample_rows, c.data_seed);
    c.ref = ComputeReference(c.data, c.rows);
    if (MistrustReason(c.ref).empty()) break;
  }
  return c;
}

void Poison(float* out, size_t n) {
  const float poison = std::bit_cast<float>(kPoisonBits);
  for (size_t i = 0; i < n; ++i) out[i] = poison;
}

CheckResult CompareOutput(const ab_problem& p, const float* out, const ReferenceResult& ref) {
  CheckResult r;
  r.tol = ComputeTolerance(p, ref);
  const size_t n = OutputElems(p);
  size_t unwritten = 0, nonfinite = 0, first_bad = n;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &out[i], 4);
    if (bits == kPoisonBits) {
      ++unwritten;
      first_bad = std::min(first_bad, i);
    } else if (!std::isfinite(out[i])) {
      ++nonfinite;
      first_bad = std::min(first_bad, i);
    }
  }
  if (unwritten || nonfinite) {
    std::ostringstream os;
    const size_t row = first_bad / p.d_out;
    if (unwritten) os << unwritten << " output elements never written";
    if (unwritten && nonfinite) os << ", ";
    if (nonfinite) os << nonfinite << " NaN/Inf";
    os << " (first at batch " << row / p.seq_len << " row " << row % p.seq_len << " col "
       << first_bad % p.d_out << ")";
    r.status = Status::kFail;
    r.reason = os.str();
    r.max_abs_err = r.rel_l2_err = INFINITY;
    return r;
  }
  const size_t R = ref.rows.size();
  double err2 = 0.0, ref2 = 0.0, max_err = 0.0;
  size_t worst = 0;
  for (int b = 0; b < p.batch; ++b)
    for (size_t k = 0; k < R; ++k)
      for (int c = 0; c < p.d_out; ++c) {
        const double want = ref.out[(b * R + k) * p.d_out + c];
        const double got = out[(static_cast<size_t>(b) * p.seq_len + ref.rows[k]) * p.d_out + c];
        const double e = std::abs(got - want);
        err2 += e * e;
        ref2 += want * want;
        if (e > max_err) {
          max_err = e;
          worst = (b * R + k) * p.d_out + c;
        }
      }
  r.max_abs_err = max_err;
  r.rel_l2_err = ref2 > 0.0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  if (r.rel_l2_err <= r.tol.rel_l2 && r.max_abs_err <= r.tol.max_abs) {
    r.reason = MistrustReason(ref);
    r.status = r.reason.empty() ? Status::kPass : Status::kMistrusted;
  } else {
    const size_t wk = worst / p.d_out;
    std::ostringstream os;
    os << "error above tolerance; worst at batch " << wk / R << " row " << ref.rows[wk % R]
       << " col " << worst % p.d_out;
    r.status = Status::kFail;
    r.reason = os.str();
  }
  return r;
}

CheckResult CheckBackend(const LoadedBackend& backend, const ProblemData& data,
                         const ReferenceResult& ref) {
  const ab_problem& p = data.problem;
  CheckResult r;
  if (CallResult s = BackendInstance::Supports(backend, p); !s) {
    r.status = Status::kUnsupported;
    r.reason = s.message.empty() ? "unsupported (no reason given)" : s.message;
    return r;
  }
  const ab_weights w = data.Weights();  // outlives the instance, as the ABI asks
  // The output is allocated and touched before the probe starts, so what the probe sees
  // between prepare and the end of run is the backend's alone.
  AlignedBuffer<float> out(OutputElems(p));
  Poison(out.data(), out.size());
  const MemoryProbe probe;
  Prepared prepared = BackendInstance::Prepare(backend, p, w);
  if (!prepared) {
    r.status = Status::kFail;
    r.reason = "prepare failed: " + (prepared.error.empty() ? std::string("no message") : prepared.error);
    return r;
  }
  const CallResult run = prepared->Run(data.x.data(), out.data());
  const uint64_t measured = probe.PeakAboveBaseline();
  const size_t ws = prepared->WorkspaceBytes();
  prepared.instance.reset();  // destroy before comparing, as the sequence always did
  if (!run) {
    r.status = Status::kFail;
    r.reason = "run failed: " + (run.message.empty() ? std::string("no message") : run.message);
    return r;
  }
  r = CompareOutput(p, out.data(), ref);
  r.workspace_bytes = ws;
  r.measured_bytes = measured;
  r.memory_measured = probe.measured();
  return r;
}

nlohmann::json CheckJson(const CheckResult& r, uint64_t data_seed, size_t rows_checked) {
  return {{"status", StatusName(r.status)}, {"reason", r.reason}, {"max_abs_err", r.max_abs_err},
          {"rel_l2_err", r.rel_l2_err}, {"tol_rel_l2", r.tol.rel_l2}, {"tol_max_abs", r.tol.max_abs},
          {"rows_checked", rows_checked}, {"workspace_bytes", r.workspace_bytes},
          {"measured_bytes", r.measured_bytes}, {"data_seed", data_seed}};
}

}  // namespace attnbench
