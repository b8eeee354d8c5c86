#include "validate.h"

#include "backend_handle.h"
#include "memory_probe.h"
#include "sysinfo.h"

#include <cblas.h>
#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
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
  // The softmax and the weighted sum reduce over the keys a row sees: the last row sees most.
  const double keys = static_cast<double>(KeyEnd(p, p.seq_len - 1) - KeyBegin(p, p.seq_len - 1));
  double L = (p.qkv_proj ? p.d_in : 0) + HeadDim(p) + keys + (p.out_proj ? p.d_out : 0);
  Tolerance t;
  t.rel_l2 = 16.0 * u * std::sqrt(L) * (1.0 + ref.max_abs_score);
  double max_ref = 0.0;
  for (double v : ref.out) max_ref = std::max(max_ref, std::abs(v));
  t.max_abs = 8.0 * t.rel_l2 * max_ref;
  return t;
}

std::string MistrustReason(const ReferenceResult& ref) {
  if (ref.median_entropy < 0.0) return {};  // every row sees one key: its softmax is exactly 1
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
  // Every row when the float64 attention over all of them is cheap (B T (P+T) d_out multiply-adds
  // for the scores and the weighted sums, up to 2^27: T = 256 at d_out = 768 costs about a
  // tenth of a second): a single wrong row is then seen wherever it is. Sampled rows above.
  constexpr double kAllRowsMacs = 134217728.0;
  const double keys = static_cast<double>(p.past_len) + p.seq_len;  // at most, per row
  if (static_cast<double>(p.batch) * p.seq_len * keys * p.d_out <= kAllRowsMacs) sample_rows = 0;
  ValidationCase c;
  for (int attempt = 0; attempt < 8; ++attempt) {
    c.data_seed = seed + attempt;
    c.data = MakeRandomProblemData(p, c.data_seed);
    c.rows = sample_rows == 0 ? AllRows(p.seq_len) : SampleRows(p.seq_len, sample_rows, c.data_seed);
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
    // E.g. T = 1 with every weight dropped: a backend writing zeros would pass as well.
    if (r.reason.empty() && ref2 == 0.0) r.reason = "reference output is all zeros on the checked rows";
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
  ProblemData mine = CopyProblemData(data);  // a write into it is seen, and seen by no other backend
  const ab_weights w = mine.Weights();        // outlives the instance, as the ABI asks
  const ThreadState before = CaptureThreadState();
  // The output is allocated and touched before the memory probe starts, so what the probe sees
  // between prepare and the end of run is the backend's alone.
  GuardedOutput out(OutputElems(p));
  Poison(out.out(), out.size());
  // The OpenMP pool's threads (their stacks and thread-local storage) are the process's, not a
  // backend's: started before the probe, so the first backend to use them is not charged.
#pragma omp parallel num_threads(p.threads)
  { [[maybe_unused]] volatile int started = omp_get_thread_num(); }
  const MemoryProbe probe;
  Prepared prepared = BackendInstance::Prepare(backend, p, w);
  if (!prepared) {
    SetThreadState(before.omp_threads, before.mxcsr);
    r.status = Status::kFail;
    r.reason = "prepare failed: " + (prepared.error.empty() ? std::string("no message") : prepared.error);
    return r;
  }
  const CallResult run = prepared->Run(mine.x.data(), out.out());
  const uint64_t measured = probe.PeakAboveBaseline();
  const size_t ws = prepared->WorkspaceBytes();
  prepared.instance.reset();  // destroy before comparing, as the sequence always did
  const std::string changed = ChangedInputs(data, mine);
  const std::string guards = out.DamagedGuards();
  const std::string state = DescribeStateChange(before, CaptureThreadState());
  SetThreadState(before.omp_threads, before.mxcsr);
  if (!run) {
    r.status = Status::kFail;
    r.reason = "run failed: " + (run.message.empty() ? std::string("no message") : run.message);
  } else {
    r = CompareOutput(p, out.out(), ref);
    r.workspace_bytes = ws;
    r.measured_bytes = measured;
    r.memory_measured = probe.measured();
  }
  // Named even when the output was right: the next backend would have computed on what was left.
  if (!changed.empty() || !guards.empty() || !state.empty()) {
    std::string why = guards;
    if (!changed.empty()) why += (why.empty() ? "" : "; ") + std::string("wrote into its read-only inputs (") + changed + ")";
    if (!state.empty()) why += (why.empty() ? "" : "; ") + std::string("left the thread state changed (") + state + ")";
    r.reason = why + (r.status == Status::kFail ? "; and " + r.reason : "");
    r.status = Status::kFail;
  }
  return r;
}

namespace {
constexpr uint32_t kGuardBits = 0x7FC0FEEDu;  // another NaN payload no arithmetic produces
}

GuardedOutput::GuardedOutput(size_t n) : n_(n), buf_(n + 2 * kGuard) {
  const float g = std::bit_cast<float>(kGuardBits);
  for (size_t i = 0; i < kGuard; ++i) buf_.data()[i] = buf_.data()[kGuard + n + i] = g;
}

std::string GuardedOutput::DamagedGuards() const {
  auto damaged = [](const float* g) {
    size_t k = 0;
    for (size_t i = 0; i < kGuard; ++i) k += std::bit_cast<uint32_t>(g[i]) != kGuardBits;
    return k;
  };
  const size_t before = damaged(buf_.data()), after = damaged(buf_.data() + kGuard + n_);
  std::string s;
  if (after) s = "wrote " + std::to_string(after) + " float(s) past the end of out";
  if (before) s += (s.empty() ? "" : ", ") + std::string("wrote ") + std::to_string(before) + " float(s) before out";
  return s;
}

ProblemData CopyProblemData(const ProblemData& d) {
  ProblemData c = AllocateProblemData(d.problem);
  auto copy = [](AlignedBuffer<float>& dst, const AlignedBuffer<float>& src) {
    if (!src.empty()) dst.CopyFrom(src.data());
  };
  copy(c.x, d.x);
  copy(c.w_q, d.w_q);
  copy(c.w_k, d.w_k);
  copy(c.w_v, d.w_v);
  copy(c.b_q, d.b_q);
  copy(c.b_k, d.b_k);
  copy(c.b_v, d.b_v);
  copy(c.w_o, d.w_o);
  copy(c.b_o, d.b_o);
  copy(c.k_cache, d.k_cache);
  copy(c.v_cache, d.v_cache);
  return c;
}

std::string ChangedInputs(const ProblemData& a, const ProblemData& b) {
  std::string out;
  auto check = [&](const char* name, const AlignedBuffer<float>& x, const AlignedBuffer<float>& y) {
    if (x.size() != y.size() || (x.size() && std::memcmp(x.data(), y.data(), x.bytes()) != 0))
      out += (out.empty() ? "" : ", ") + std::string(name);
  };
  check("x", a.x, b.x);
  check("w_q", a.w_q, b.w_q);
  check("w_k", a.w_k, b.w_k);
  check("w_v", a.w_v, b.w_v);
  check("b_q", a.b_q, b.b_q);
  check("b_k", a.b_k, b.b_k);
  check("b_v", a.b_v, b.b_v);
  check("w_o", a.w_o, b.w_o);
  check("b_o", a.b_o, b.b_o);
  check("k_cache", a.k_cache, b.k_cache);
  check("v_cache", a.v_cache, b.v_cache);
  return out;
}

// MXCSR without its six sticky exception flags (bits 0-5): any arithmetic sets those.
ThreadState CaptureThreadState() { return {omp_get_max_threads(), openblas_get_num_threads(), _mm_getcsr() & ~0x3Fu}; }

void SetThreadState(int threads, unsigned mxcsr) {
  SetThreads(threads);
  _mm_setcsr(mxcsr);
}

std::string DescribeStateChange(const ThreadState& a, const ThreadState& b) {
  std::ostringstream os;
  auto sep = [&] { return os.tellp() > 0 ? ", " : ""; };
  if (a.omp_threads != b.omp_threads) os << sep() << "OpenMP threads " << a.omp_threads << " -> " << b.omp_threads;
  if (a.blas_threads != b.blas_threads) os << sep() << "BLAS threads " << a.blas_threads << " -> " << b.blas_threads;
  if (a.mxcsr != b.mxcsr) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "MXCSR 0x%04x -> 0x%04x", a.mxcsr, b.mxcsr);
    os << sep() << buf;
    std::string what;
    auto note = [&](unsigned bit, const char* name) {
      if ((a.mxcsr ^ b.mxcsr) & bit) what += (what.empty() ? "" : ", ") + std::string(name);
    };
    note(0x8000, "flush-to-zero");
    note(0x0040, "denormals-are-zero");
    note(0x6000, "rounding mode");
    note(0x1F80, "exception masks");
    if (!what.empty()) os << " (" << what << ")";
  }
  return os.str();
}

nlohmann::json CheckJson(const CheckResult& r, uint64_t data_seed, size_t rows_checked) {
  return {{"status", StatusName(r.status)}, {"reason", r.reason}, {"max_abs_err", r.max_abs_err},
          {"rel_l2_err", r.rel_l2_err}, {"tol_rel_l2", r.tol.rel_l2}, {"tol_max_abs", r.tol.max_abs},
          {"rows_checked", rows_checked}, {"workspace_bytes", r.workspace_bytes},
          {"measured_bytes", r.measured_bytes}, {"data_seed", data_seed}};
}

}  // namespace attnbench
