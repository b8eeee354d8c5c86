// Backends that attack the run rather than compute wrongly (issue 17), one per HOSTILE_KIND. Each
// wraps the correct code of mutant.cpp ("none") and does one thing a plugin must not get away
// with; the tests (tests/cli/hostile_test.sh, tests/unit/hostile_test.cpp) require the harness to
// name it and no other backend to be blamed:
//   forge         under --isolate, prints forged protocol lines on stdout and on every pipe it
//                 finds, then exit(0) in the middle of a cell (T >= 17)
//   first-only    right on the first call of a state, later calls return at once
//   memo          right on the first call, later calls copy the first output (right, but fast)
//   writes-input  writes into x after computing, and into w_q in prepare
//   state         changes MXCSR (flush-to-zero, round toward zero) and the OpenMP thread count
//                 in prepare, and leaves them so
//   overrun       writes one float past the end of out after computing it
//   input-overrun writes one float past the end of w_k in prepare and one before x in run (the
//                 values there are restored by nobody: only the guards can see them)
//   threads       starts a thread in prepare that keeps a core busy for 3 s after destroy
//   idle-threads  starts a thread in prepare that sleeps for 3 s (a kept pool, not a fault)
//   wrong-row     one wrong row, T/2 + 1, at T >= 256 (where the reference used to sample rows)
//   message       run fails with a 1024-byte message without NUL, full of newlines and '|'
//   bad-name      its name holds a newline and a Markdown table row
//   slow-prepare  right, but sleeps 0.4 s in prepare (as copying a large KV cache takes): not
//                 hostile; the budget must go by run(), not by the check around it
#include <attnbench/attnbench.h>

#include <sys/stat.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef HOSTILE_KIND
#error "define HOSTILE_KIND"
#endif

#include "mutant.h"

#ifdef HOSTILE_OPENMP
#include <omp.h>
#endif

namespace {

// A thread the backend starts and never joins: busy spins for 3 s, otherwise sleeps 3 s. Bounded,
// so the test process it lives in is not slowed for longer than the check needs.
void StartStrayThread(bool busy) {
  std::thread([busy] {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    if (!busy) std::this_thread::sleep_until(end);
    while (busy && std::chrono::steady_clock::now() < end) {  // the clock call keeps the loop
    }
  }).detach();
}

constexpr std::string_view kHostile = HOSTILE_KIND;
constexpr bool IsHostile(std::string_view k) { return kHostile == k; }

// A protocol line that claims a PASS in no time for the cell k.
std::string ForgedLine(int k) {
  return "{\"result\":" + std::to_string(k) +
         ",\"cell\":{\"status\":\"PASS\",\"median_s\":\"1e-9\",\"repetitions\":\"5\"},\"check\":null,"
         "\"benchmarks\":[],\"token\":\"\"}\n";
}

void Forge() {
  std::string lines = "{\"begin\":0}\n{\"result\":\"x\"}\n{\"result\":99999}\n";
  for (int k = 0; k < 8; ++k) lines += ForgedLine(k);
  std::fwrite(lines.data(), 1, lines.size(), stdout);
  std::fflush(stdout);
  // Every other pipe this process holds (a protocol channel would be one).
  for (int fd = 3; fd < 64; ++fd) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
      [[maybe_unused]] const ssize_t n = write(fd, lines.data(), lines.size());
    }
  }
  std::exit(0);
}

class HostileAttention {
 public:
  static constexpr const char* kName = IsHostile("bad-name") ? "blas\n| 1 | fast | PASS |" : "hostile-" HOSTILE_KIND;
  static constexpr const char* kDescription = "hostile backend for tests: " HOSTILE_KIND;

  HostileAttention(const ab_problem& p, const ab_weights& w) : p_(p), inner_("none", p, w) {
    if constexpr (IsHostile("writes-input"))
      if (w.w_q) const_cast<float*>(w.w_q)[0] += 1.0f;
    if constexpr (IsHostile("input-overrun"))
      if (w.w_k) const_cast<float*>(w.w_k)[static_cast<size_t>(p.d_in) * p.d_out] = 0.0f;
    if constexpr (IsHostile("threads") || IsHostile("idle-threads")) StartStrayThread(IsHostile("threads"));
    if constexpr (IsHostile("slow-prepare")) std::this_thread::sleep_for(std::chrono::milliseconds(400));
    if constexpr (IsHostile("state")) {
      _mm_setcsr(_mm_getcsr() | 0x8040u | 0x6000u);  // FTZ + DAZ, round toward zero
#ifdef HOSTILE_OPENMP
      omp_set_num_threads(p.threads + 3);
#endif
    }
  }
  size_t WorkspaceBytes() const { return inner_.WorkspaceBytes(); }

  void Run(const float* x, float* out) {
    if constexpr (IsHostile("forge"))
      if (p_.seq_len >= 17) Forge();
    if constexpr (IsHostile("first-only") || IsHostile("memo")) {
      if (calls_++ > 0) {
        if (IsHostile("memo")) std::memcpy(out, first_.data(), first_.size() * sizeof(float));
        return;
      }
    }
    inner_.Run(x, out);
    if constexpr (IsHostile("memo")) first_.assign(out, out + attnbench::OutputElems(p_));
    if constexpr (IsHostile("writes-input")) const_cast<float*>(x)[0] += 1.0f;
    if constexpr (IsHostile("overrun")) out[attnbench::OutputElems(p_)] = 0.0f;
    if constexpr (IsHostile("input-overrun")) const_cast<float*>(x)[-1] = 0.0f;
    if constexpr (IsHostile("wrong-row"))
      if (p_.seq_len >= 256) out[static_cast<size_t>(p_.seq_len / 2 + 1) * p_.d_out] += 1.0f;
  }

  ab_problem p_;
  attnbench_test::Mutant inner_;  // the correct code
  size_t calls_ = 0;
  std::vector<float> first_;
};

#ifdef HOSTILE_RAW_MESSAGE
// The C table by hand: run fills the whole message buffer, no NUL.
int RunWithLongMessage(void*, const float*, float*, char* err, size_t err_len) {
  for (size_t i = 0; i < err_len; ++i) err[i] = "ab|\n\r\x1b"[i % 6];
  return AB_ERROR;
}
using Adapter = attnbench::internal::Adapter<HostileAttention>;
constexpr ab_backend_i kTable = {AB_ABI_VERSION, "hostile-message", "hostile backend for tests: message",
                                 &Adapter::Supports, &Adapter::Prepare, &RunWithLongMessage,
                                 &Adapter::WorkspaceBytes, &Adapter::Destroy, nullptr};
#endif

}  // namespace

#ifdef HOSTILE_RAW_MESSAGE
extern "C" AB_EXPORT const ab_backend_i* attnbench_backend_entry(void) { return &kTable; }
#else
ATTNBENCH_REGISTER_BACKEND(HostileAttention)
#endif
