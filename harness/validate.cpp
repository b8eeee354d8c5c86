#include "validate.h"

#include "backend_handle.h"
#include "memory_probe.h"
#include "sysinfo.h"

#include <cblas.h>
#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <map>
#include <stdexcept>
#include <thread>
#include <type_traits>
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

namespace {

Tolerance ToleranceFor(const ab_problem& p, double max_abs_score, const std::vector<double>& ref_out) {
  constexpr double u = 0x1.0p-24;
  // The softmax and the weighted sum reduce over the keys a row sees: the last row sees most.
  const double keys = static_cast<double>(KeyEnd(p, p.seq_len - 1) - KeyBegin(p, p.seq_len - 1));
  double L = (p.qkv_proj ? p.d_in : 0) + HeadDim(p) + keys + (p.out_proj ? p.d_out : 0);
  Tolerance t;
  t.rel_l2 = 16.0 * u * std::sqrt(L) * (1.0 + max_abs_score);
  double max_ref = 0.0;
  for (double v : ref_out) max_ref = std::max(max_ref, std::abs(v));
  t.max_abs = 8.0 * t.rel_l2 * max_ref;
  return t;
}

}  // namespace

Tolerance ComputeTolerance(const ab_problem& p, const ReferenceResult& ref) {
  return ToleranceFor(p, ref.max_abs_score, ref.out);
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
  // Every row when the float64 attention over all of them is affordable (B T (P+T) d_out
  // multiply-adds for the scores and the weighted sums, up to 2^30: T = 1024 at d_out = 768
  // costs about 2.3 s of CPU once per config, shared by every backend): a single wrong row is
  // then seen wherever it is. Sampled rows above (T = 2048 at d_out = 768 would cost ~10 s).
  constexpr double kAllRowsMacs = 1073741824.0;
  const double keys = static_cast<double>(p.past_len) + p.seq_len;  // at most, per row
  if (static_cast<double>(p.batch) * p.seq_len * keys * p.d_out <= kAllRowsMacs) sample_rows = 0;
  // Above that, the GEMM form of the reference checks every row as well (ComputeAllRowsGemm:
  // T = 4096 at d = 768 costs well under a second), up to 2^31 visible scores: its exp() per
  // score is what it spends most time on (T = 8192, H = 12, causal: 4e8).
  constexpr double kGemmScores = 2147483648.0;
  const bool all_rows_gemm = sample_rows != 0 && VisibleScores(p) <= kGemmScores;
  ValidationCase c;
  for (int attempt = 0; attempt < 8; ++attempt) {
    c.data_seed = seed + attempt;
    c.data = MakeRandomProblemData(p, c.data_seed);
    c.rows = sample_rows == 0 ? AllRows(p.seq_len) : SampleRows(p.seq_len, sample_rows, c.data_seed);
    c.ref = ComputeReference(c.data, c.rows);
    if (MistrustReason(c.ref).empty()) break;
  }
  if (all_rows_gemm && c.rows.size() < static_cast<size_t>(p.seq_len)) {
    c.ref.all_out = ComputeAllRowsGemm(c.data, &c.ref.all_max_abs_score);
    c.ref.all_rows = static_cast<size_t>(p.seq_len);
  }
  return c;
}

void Poison(float* out, size_t n) {
  const float poison = std::bit_cast<float>(kPoisonBits);
  for (size_t i = 0; i < n; ++i) out[i] = poison;
}

namespace {
// 2^-126 (FLT_MIN) times 2^12 reduction steps: the most a float32 computation that flushes or
// rounds denormals can be off by through the reductions of one output element (weights of
// order 1), and far below any error a real bug gives on inputs in the normal range.
constexpr double kBelowFloatNormals = 0x1.0p-114;
}  // namespace

namespace {

// Errors of float32 output against float64 reference values, element by element; `at` names
// the element for the FAIL message.
struct ErrorSum {
  double err2 = 0.0, ref2 = 0.0, max_err = 0.0, max_ref = 0.0;
  size_t worst = 0;
  void Add(double got, double want, size_t at) {
    // Below float32's normal range a value has no relative precision, and a backend that
    // flushes denormals (FTZ / DAZ) makes it zero: an error that small is float32's
    // resolution there, not a fault, whatever the reference's exact double says.
    const double e = std::max(0.0, std::abs(got - want) - kBelowFloatNormals);
    max_ref = std::max(max_ref, std::abs(want));
    err2 += e * e;
    ref2 += want * want;
    if (e > max_err) {
      max_err = e;
      worst = at;
    }
  }
  double RelL2() const { return ref2 > 0.0 ? std::sqrt(err2 / ref2) : std::sqrt(err2); }
};

// out against ref.all_out, every row of every batch: kPass, or kFail naming the worst element.
// The tolerance takes the larger of the two score maxima (a row outside the sample may score
// higher) and the all-rows output's magnitude.
CheckResult CompareAllRows(const ab_problem& p, const float* out, const ReferenceResult& ref) {
  CheckResult r;
  r.tol = ToleranceFor(p, std::max(ref.max_abs_score, ref.all_max_abs_score), ref.all_out);
  ErrorSum sum;
  for (size_t i = 0; i < ref.all_out.size(); ++i) sum.Add(out[i], ref.all_out[i], i);
  const size_t worst = sum.worst;
  r.max_abs_err = sum.max_err;
  r.rel_l2_err = sum.RelL2();
  if (r.rel_l2_err <= r.tol.rel_l2 && r.max_abs_err <= r.tol.max_abs) {
    r.status = Status::kPass;
    return r;
  }
  const size_t row = worst / p.d_out;
  std::ostringstream os;
  os << "error above tolerance (all " << p.seq_len << " rows, float64 GEMM check); worst at batch "
     << row / p.seq_len << " row " << row % p.seq_len << " col " << worst % p.d_out;
  r.status = Status::kFail;
  r.reason = os.str();
  return r;
}

}  // namespace

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
  ErrorSum sum;
  for (int b = 0; b < p.batch; ++b)
    for (size_t k = 0; k < R; ++k)
      for (int c = 0; c < p.d_out; ++c)
        sum.Add(out[(static_cast<size_t>(b) * p.seq_len + ref.rows[k]) * p.d_out + c],
                ref.out[(b * R + k) * p.d_out + c], (b * R + k) * p.d_out + c);
  const double ref2 = sum.ref2, max_ref = sum.max_ref;
  const size_t worst = sum.worst;
  r.max_abs_err = sum.max_err;
  r.rel_l2_err = sum.RelL2();
  if (r.rel_l2_err <= r.tol.rel_l2 && r.max_abs_err <= r.tol.max_abs && !ref.all_out.empty()) {
    // The sampled rows agree: every other row is held to the same bound against the GEMM form.
    const CheckResult all = CompareAllRows(p, out, ref);
    if (all.status == Status::kFail) return all;
  }
  if (r.rel_l2_err <= r.tol.rel_l2 && r.max_abs_err <= r.tol.max_abs) {
    r.reason = MistrustReason(ref);
    // E.g. T = 1 with every weight dropped, or all-denormal inputs: a backend writing zeros
    // would pass as well.
    if (r.reason.empty() && ref2 == 0.0) r.reason = "reference output is all zeros on the checked rows";
    if (r.reason.empty() && max_ref <= kBelowFloatNormals)
      r.reason = "reference output is below float32's normal range on the checked rows (a backend writing zeros would pass)";
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
  // Its own guarded copy: a write into it, or beside it, is seen, and seen by no other backend.
  // The weights in it outlive the instance, as the ABI asks.
  const GuardedInputs mine(data);
  const ThreadState before = CaptureThreadState();
  // The output is allocated and touched before the memory probe starts, so what the probe sees
  // between prepare and the end of run is the backend's alone.
  GuardedOutput out(OutputElems(p));
  Poison(out.out(), out.size());
  // The OpenMP pool's threads (their stacks and thread-local storage) are the process's, not a
  // backend's: started before the probe, so the first backend to use them is not charged.
#pragma omp parallel num_threads(p.threads)
  { [[maybe_unused]] volatile int started = omp_get_thread_num(); }
  // Taken after the host's pools (OpenMP above, the BLAS's when it was set to p.threads) exist:
  // a thread that appears from here on was started by the backend.
  const std::vector<int> threads_before = ProcessThreads();
  const MemoryProbe probe;
  Prepared prepared = BackendInstance::Prepare(backend, p, mine.weights());
  if (!prepared) {
    SetThreadState(before.omp_threads, before.mxcsr);
    r.status = Status::kFail;
    r.reason = "prepare failed: " + (prepared.error.empty() ? std::string("no message") : prepared.error);
    return r;
  }
  const auto run_start = std::chrono::steady_clock::now();
  const CallResult run = prepared->Run(mine.x(), out.out());
  const double run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  const uint64_t measured = probe.PeakAboveBaseline();
  const size_t ws = prepared->WorkspaceBytes();
  prepared.instance.reset();  // destroy before comparing, as the sequence always did
  const std::string changed = mine.ChangedFrom(data);
  std::string guards = out.DamagedGuards();
  if (const std::string g = mine.DamagedGuards(); !g.empty()) guards += (guards.empty() ? "" : ", ") + g;
  const std::string state = DescribeStateChange(before, CaptureThreadState());
  SetThreadState(before.omp_threads, before.mxcsr);
  bool threads_running = false;
  const std::string threads = DescribeLeftThreads(threads_before, &threads_running);
  if (!run) {
    r.status = Status::kFail;
    r.reason = "run failed: " + (run.message.empty() ? std::string("no message") : run.message);
  } else {
    r = CompareOutput(p, out.out(), ref);
    r.run_seconds = run_seconds;
    r.workspace_bytes = ws;
    r.measured_bytes = measured;
    r.memory_measured = probe.measured();
  }
  // Named even when the output was right: the next backend would have computed on what was left,
  // or beside a thread that keeps a core busy.
  std::string why = guards;
  auto add = [&why](const std::string& s) { why += (why.empty() ? "" : "; ") + s; };
  if (!changed.empty()) add("wrote into its read-only inputs (" + changed + ")");
  if (!state.empty()) add("left the thread state changed (" + state + ")");
  if (threads_running) add(threads);
  if (!why.empty()) {
    r.reason = why + (r.status == Status::kFail ? "; and " + r.reason : "");
    r.status = Status::kFail;
  } else if (!threads.empty()) {
    // Idle threads (a pool kept for later calls) cost later cells nothing measurable: said, not failed.
    r.reason += (r.reason.empty() ? "" : "; ") + ("note: " + threads);
  }
  return r;
}

namespace {

constexpr uint32_t kGuardBits = 0x7FC0FEEDu;  // another NaN payload no arithmetic produces

template <class Data, class Buf = std::conditional_t<std::is_const_v<Data>, const AlignedBuffer<float>, AlignedBuffer<float>>>
std::vector<std::pair<const char*, Buf*>> InputList(Data& d) {
  // Every buffer handed to a plugin, the KV cache of ABI v2 included: GuardedInputs refuses a
  // weights pointer that is not in this list (a logic_error, not a silently unguarded buffer).
  return {{"x", &d.x},     {"w_q", &d.w_q}, {"w_k", &d.w_k}, {"w_v", &d.w_v},         {"b_q", &d.b_q},
          {"b_k", &d.b_k}, {"b_v", &d.b_v}, {"w_o", &d.w_o}, {"b_o", &d.b_o},
          {"k_cache", &d.k_cache}, {"v_cache", &d.v_cache}};
}

}  // namespace

std::vector<NamedInput> NamedInputs(const ProblemData& d) {
  std::vector<NamedInput> v;
  for (const auto& [name, buf] : InputList(d)) v.push_back({name, buf});
  return v;
}

GuardedBuffer::GuardedBuffer(size_t n, std::string name) : n_(n), name_(std::move(name)), buf_(n + 2 * kGuard) {
  const float g = std::bit_cast<float>(kGuardBits);
  for (size_t i = 0; i < kGuard; ++i) buf_.data()[i] = buf_.data()[kGuard + n + i] = g;
}

std::string GuardedBuffer::DamagedGuards() const {
  auto damaged = [](const float* g) {
    size_t k = 0;
    for (size_t i = 0; i < kGuard; ++i) k += std::bit_cast<uint32_t>(g[i]) != kGuardBits;
    return k;
  };
  const size_t before = damaged(buf_.data()), after = damaged(buf_.data() + kGuard + n_);
  std::string s;
  if (after) s = "wrote " + std::to_string(after) + " float(s) past the end of " + name_;
  if (before) s += (s.empty() ? "" : ", ") + std::string("wrote ") + std::to_string(before) + " float(s) before " + name_;
  return s;
}

GuardedInputs::GuardedInputs(const ProblemData& d) : problem_(d.problem) {
  std::map<const float*, const float*> copy_of;  // original data() -> the guarded copy's
  for (const auto& [name, buf] : InputList(d)) {
    if (buf->empty()) continue;
    buffers_.push_back(std::make_unique<GuardedBuffer>(buf->size(), name));
    std::memcpy(buffers_.back()->data(), buf->data(), buf->bytes());
    copy_of[buf->data()] = buffers_.back()->data();
  }
  auto place = [&](const float* p, const char* field) -> const float* {
    if (!p) return nullptr;
    const auto it = copy_of.find(p);
    if (it == copy_of.end())
      throw std::logic_error(std::string("GuardedInputs: ab_weights.") + field + " is not a buffer of NamedInputs");
    return it->second;
  };
  x_ = place(d.x.empty() ? nullptr : d.x.data(), "x");
  const ab_weights w = d.Weights();
  weights_ = {place(w.w_q, "w_q"), place(w.w_k, "w_k"), place(w.w_v, "w_v"), place(w.b_q, "b_q"),
              place(w.b_k, "b_k"), place(w.b_v, "b_v"), place(w.w_o, "w_o"), place(w.b_o, "b_o"),
              place(w.k_cache, "k_cache"), place(w.v_cache, "v_cache")};
}

std::string GuardedInputs::DamagedGuards() const {
  std::string s;
  for (const auto& b : buffers_)
    if (std::string g = b->DamagedGuards(); !g.empty()) s += (s.empty() ? "" : ", ") + g;
  return s;
}

std::string GuardedInputs::ChangedFrom(const ProblemData& original) const {
  std::string out;
  size_t k = 0;
  for (const auto& [name, buf] : InputList(original)) {
    if (buf->empty()) continue;
    const GuardedBuffer& mine = *buffers_[k++];
    if (std::memcmp(mine.data(), buf->data(), buf->bytes()) != 0) out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

ProblemData CopyProblemData(const ProblemData& d) {
  ProblemData c = AllocateProblemData(d.problem);
  const auto src = InputList(d);
  const auto dst = InputList(c);
  for (size_t i = 0; i < src.size(); ++i)
    if (!src[i].second->empty()) dst[i].second->CopyFrom(src[i].second->data());
  return c;
}

std::string ChangedInputs(const ProblemData& a, const ProblemData& b) {
  std::string out;
  const auto x = InputList(a), y = InputList(b);
  for (size_t i = 0; i < x.size(); ++i) {
    const auto &u = *x[i].second, &v = *y[i].second;
    if (u.size() != v.size() || (u.size() && std::memcmp(u.data(), v.data(), u.bytes()) != 0))
      out += (out.empty() ? "" : ", ") + std::string(x[i].first);
  }
  return out;
}

std::string NonFiniteInput(const ProblemData& d) {
  for (const auto& [name, buf] : InputList(d))
    for (size_t i = 0; i < buf->size(); ++i)
      if (!std::isfinite((*buf)[i])) {
        std::ostringstream os;
        os << name << "[" << i << "] = " << (*buf)[i];
        return os.str();
      }
  return {};
}

std::vector<int> ProcessThreads() {
  std::vector<int> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    const std::string n = e.path().filename().string();
    if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos) ids.push_back(std::stoi(n));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace {

struct ThreadSample {
  bool alive = false;
  char state = '?';
  unsigned long long ticks = 0;  // utime + stime, clock ticks
};

// /proc/self/task/TID/stat: "tid (comm) S ... utime stime ..." (fields 14, 15); comm may hold
// spaces and parentheses, so the fields are counted from the last ')'.
ThreadSample SampleThread(int tid) {
  ThreadSample s;
  std::FILE* f = std::fopen(("/proc/self/task/" + std::to_string(tid) + "/stat").c_str(), "r");
  if (!f) return s;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');
  if (!close) return s;
  std::istringstream in(close + 1);
  std::string field;
  in >> s.state;
  for (int i = 4; i <= 13 && in >> field; ++i) {
  }
  unsigned long long ut = 0, st = 0;
  if (in >> ut >> st) {
    s.alive = s.state != 'Z' && s.state != 'X';
    s.ticks = ut + st;
  }
  return s;
}

}  // namespace

std::string DescribeLeftThreads(const std::vector<int>& before, bool* running) {
  *running = false;
  std::vector<int> fresh;
  const std::vector<int> now = ProcessThreads();
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(), std::back_inserter(fresh));
  if (fresh.empty()) return {};
  // A new pool's threads spin a while after their last job before they sleep (libgomp's spin
  // count, Intel OpenMP's 200 ms KMP_BLOCKTIME): settled is one 50 ms interval in which none of
  // them ran or was runnable. A thread that never settles within ~0.5 s is left running.
  std::map<int, ThreadSample> last;
  for (int t : fresh) last[t] = SampleThread(t);
  bool busy = true;
  for (int round = 0; round < 10 && busy; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    busy = false;
    for (int t : fresh) {
      const ThreadSample s = SampleThread(t);
      if (s.alive && (s.state == 'R' || s.ticks > last[t].ticks)) busy = true;
      last[t] = s;
    }
  }
  size_t alive = 0;
  for (const auto& [t, s] : last) alive += s.alive;
  if (alive == 0) return {};  // they ended on their own
  *running = busy;
  return busy ? "left " + std::to_string(alive) + " thread(s) running after destroy" +
                    " (they would take CPU time from every later cell)"
              : "left " + std::to_string(alive) + " idle thread(s) after destroy";
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
