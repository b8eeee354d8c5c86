// Cross-validation of one backend on one problem against the float64 reference.
//
// Tolerance (printed with every row): with u = 2^-24 (float32 unit roundoff),
//   L   = (d_in if projected) + head_dim + N + (d_out if out_proj)   -- the reduction lengths,
//         N = the most keys a query row sees (KeyEnd - KeyBegin of the last row: T, or
//         past_len + T, or at most the window W)
//   S   = the largest |scaled score| in the reference rows
//   tol = 16 u sqrt(L) (1 + S)
// PASS needs relative L2 error <= tol and max abs error <= 8 tol max|ref| over the checked rows.
// The sqrt(L) is the random-walk growth of float32 rounding along each reduction; (1 + S)
// because an absolute error e in a score becomes a relative error e in its softmax weight and
// score errors scale with the score. Real bugs (wrong scale, mask, head order, dropout seed)
// give errors of order 1e-2..1 on inputs with spread, many orders above tol.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "plugin_loader.h"
#include "problem_data.h"
#include "reference.h"

namespace attnbench {

// kCrashed / kTimeout only come from isolated runs (isolate.h); they count as failures.
enum class Status { kPass, kFail, kMistrusted, kUnsupported, kCrashed, kTimeout };
const char* StatusName(Status s);

struct Tolerance {
  double rel_l2 = 0.0;
  double max_abs = 0.0;
};
Tolerance ComputeTolerance(const ab_problem& p, const ReferenceResult& ref);

// Why the reference weights cannot tell right from wrong, or empty. A config is mistrusted when
// the median softmax row (among rows that see >= 2 keys) is nearly uniform (normalised entropy
// > 0.995) or nearly one-hot (largest weight > 0.995).
std::string MistrustReason(const ReferenceResult& ref);

// One config ready to check backends against: inputs, the sampled rows and the reference.
struct ValidationCase {
  ProblemData data;
  std::vector<int32_t> rows;
  ReferenceResult ref;
  uint64_t data_seed = 0;  // the seed the data was drawn from (for reproducer lines)
};

// Draws the data from `seed` and checks every row when that is affordable (B T (P+T) d_out <= 2^30), else
// sample_rows rows (0 = every row) plus, up to 2^31 visible scores, every row against the GEMM
// form of the reference (ref.all_out; CompareOutput then checks both). When the reference weights come out too uniform or one-hot to
// tell right from wrong (tiny T can do that by chance), draws again from seed+1, seed+2, ...
// up to 8 times. The case stays mistrusted only if every draw is.
ValidationCase PrepareCase(const ab_problem& p, uint64_t seed, int sample_rows);

struct CheckResult {
  Status status = Status::kFail;
  std::string reason;  // FAIL / UNSUPPORTED / MISTRUSTED: why
  double max_abs_err = 0.0;
  double rel_l2_err = 0.0;
  Tolerance tol;
  size_t workspace_bytes = 0;  // what the backend claims (workspace_bytes)
  // Peak resident bytes the process gained in prepare + the checked run (memory_probe.h).
  uint64_t measured_bytes = 0;
  bool memory_measured = false;
  double run_seconds = 0.0;  // wall time of the one run() call (0: it was not called)
};

// The bit pattern the output is filled with before run(): a quiet NaN with a payload no
// arithmetic produces, so an unwritten element is told apart from a computed NaN.
inline constexpr uint32_t kPoisonBits = 0x7FC0DEADu;
void Poison(float* out, size_t n);

// Compares out [B, T, d_out] with the reference rows, and every row with ref.all_out when it is
// there (a FAIL names the worst row of either); scans all of out for unwritten elements and
// NaN / Inf.
CheckResult CompareOutput(const ab_problem& p, const float* out, const ReferenceResult& ref);

// supports -> prepare -> poison -> run -> compare -> destroy, on the backend's own guarded copy
// of the inputs (GuardedInputs: a write into or beside x, the weights or the KV cache is a FAIL of
// this backend, never seen by the next), into a GuardedOutput (a write outside out is a FAIL),
// with the thread state (ThreadState) checked after and restored, and the threads it left
// running after destroy (DescribeLeftThreads) a FAIL. Never throws for a backend's failure: that
// becomes kFail with the reason.
CheckResult CheckBackend(const LoadedBackend& backend, const ProblemData& data,
                         const ReferenceResult& ref);

// A buffer with guard regions around it: a backend writing before data() or past its end writes
// into a guard, and DamagedGuards() sees it. data() stays 64-byte aligned, as the ABI promises.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t n, std::string name = "out");
  float* data() { return buf_.data() + kGuard; }
  const float* data() const { return buf_.data() + kGuard; }
  size_t size() const { return n_; }
  const std::string& name() const { return name_; }
  // "" when both guards are untouched; else "wrote 1 float(s) past the end of out" and/or before.
  std::string DamagedGuards() const;

 private:
  static constexpr size_t kGuard = 1024;  // floats (4 KiB) each side
  size_t n_;
  std::string name_;
  AlignedBuffer<float> buf_;
};

// The output buffer handed to run().
class GuardedOutput : public GuardedBuffer {
 public:
  explicit GuardedOutput(size_t n) : GuardedBuffer(n, "out") {}
  float* out() { return data(); }
  const float* out() const { return data(); }
};

// A backend's own copy of a problem's inputs (x, the weights and, with ABI v2, the KV cache),
// each buffer between guard regions: a write into an input is seen by comparing with the
// original (ChangedFrom), a write beside one by its guards (DamagedGuards). Not copyable: the
// ab_weights handed to prepare point into it.
class GuardedInputs {
 public:
  explicit GuardedInputs(const ProblemData& original);
  GuardedInputs(const GuardedInputs&) = delete;
  GuardedInputs& operator=(const GuardedInputs&) = delete;
  const ab_problem& problem() const { return problem_; }
  const float* x() const { return x_; }
  const ab_weights& weights() const { return weights_; }
  // "" when no guard was written; else e.g. "wrote 1 float(s) past the end of w_q".
  std::string DamagedGuards() const;
  // The inputs whose contents differ from original's, e.g. "x, w_q"; "" when none.
  std::string ChangedFrom(const ProblemData& original) const;

 private:
  ab_problem problem_{};
  std::vector<std::unique_ptr<GuardedBuffer>> buffers_;  // in NamedInputs order, non-empty ones
  const float* x_ = nullptr;
  ab_weights weights_{};
};

// Every input buffer of a problem with its name, in a fixed order ("x", "w_q", ... "b_o"): the
// one list the copies, the guards and the read-only check go by. Empty buffers included.
struct NamedInput {
  const char* name;
  const AlignedBuffer<float>* buf;
};
std::vector<NamedInput> NamedInputs(const ProblemData& d);

// A copy of every buffer of d.
ProblemData CopyProblemData(const ProblemData& d);

// The input buffers ("x", "w_q", ...) whose contents differ between original and copy, joined by
// ", "; "" when none. Inputs are read-only to a backend: this is how a write is found.
std::string ChangedInputs(const ProblemData& original, const ProblemData& copy);

// The first NaN or Inf among d's inputs as "x[5] = nan", or "" when all are finite: such an
// input is bad input (no output can be checked on it), never a backend's failure.
std::string NonFiniteInput(const ProblemData& d);

// The process state a cell sets and a backend must leave as it found it: the OpenMP and BLAS
// thread counts, and the calling thread's SSE control register (flush-to-zero,
// denormals-are-zero, rounding mode). A backend that changed them would change every later
// cell's numbers under the earlier cell's label.
struct ThreadState {
  int omp_threads = 0;
  int blas_threads = 0;
  unsigned mxcsr = 0;
};
ThreadState CaptureThreadState();
// Sets OpenMP and the BLAS to `threads` and MXCSR to `mxcsr` (exceptions masked, no flush, round
// to nearest is 0x1F80): what every cell starts from.
void SetThreadState(int threads, unsigned mxcsr);
// "" when the same; else "OpenMP threads 2 -> 1, MXCSR 0x1f80 -> 0x9fc0 (flush-to-zero, ...)".
std::string DescribeStateChange(const ThreadState& before, const ThreadState& after);

// The ids of this process's threads (/proc/self/task), sorted.
std::vector<int> ProcessThreads();
// What became of the threads started since `before` was taken: "" when none is left, else
// "left 1 thread(s) running (...)" when one still uses a CPU after a settling time (it would
// steal time from every later cell: a FAIL), or "left 2 idle thread(s)" (a pool the backend
// keeps, e.g. its BLAS's or OpenMP runtime's: a note, not a failure). *running tells which.
// Waits up to ~0.5 s, only when new threads exist.
std::string DescribeLeftThreads(const std::vector<int>& before, bool* running);

// One check as `attnbench validate` reports it (--json rows, the isolated worker's lines):
// status, reason, errors, tolerances, rows checked, workspace and the data seed of the draw.
nlohmann::json CheckJson(const CheckResult& r, uint64_t data_seed, size_t rows_checked);

}  // namespace attnbench
