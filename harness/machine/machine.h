// What this machine can do, measured on it (issue 12): the FMA peak of every SIMD instruction
// set the CPU has, at each thread count; the memory bandwidth of a STREAM-like triad and of a
// read-only sum over buffers far larger than the last-level cache, at the same thread counts;
// the effective clock. Each figure carries how it was measured. A profile is cached on disk per
// host, build and CPU model, so a run that asks again does not pay (a few seconds) again.
// docs/machine.md has the method and the numbers.
#pragma once

#include <nlohmann/json.hpp>

#include "sysinfo.h"  // BlasKernelIsaClass

#include <cstdint>
#include <string>
#include <vector>

namespace attnbench::machine {

// One FMA throughput measurement: kernels::RunFmaChains on one ISA, on `threads` threads at once.
struct FmaPeak {
  std::string isa;     // Highway target: "AVX3" (AVX-512), "AVX2" (with FMA), "SSE4" (mul + add)
  int lanes = 0;       // floats per vector
  bool fused = false;  // one FMA instruction per lane step (false: a multiply and an add)
  int threads = 0;
  uint64_t iterations = 0;  // loop iterations per thread in the best repetition
  int runs = 0;             // repetitions timed (MeasureSettings: repetitions .. max_repetitions)
  double seconds = 0;       // wall clock of the best repetition's parallel region
  double gflops = 0;        // 2 * lanes * chains * iterations * threads / seconds / 1e9
};

// One bandwidth measurement: kernels::Triad or kernels::SumRead, each thread on its own slice.
struct Bandwidth {
  std::string kernel;  // "triad" or "read"
  int threads = 0;
  int runs = 0;        // repetitions timed
  double seconds = 0;  // best repetition
  double gbytes_per_s = 0;
};

struct FmaMethod {
  std::string kernel;  // what the loop does, in words
  int chains = 0;      // independent accumulator vectors (kernels::kFmaChains)
  int repetitions = 0;      // best of at least this many, and until this many in a row gain < 1 %,
  int max_repetitions = 0;  // but at most this many
  double seconds_per_repetition = 0;  // aimed-at duration of one repetition (the loop count is calibrated)
};

struct MemoryMethod {
  std::string stream_isa;  // the Highway target the memory kernels ran on
  uint64_t llc_bytes = 0;  // last-level cache, from sysfs (0: unknown)
  uint64_t buffer_bytes = 0;  // all three arrays together: max(8 x LLC, the minimum)
  int repetitions = 0;  // as FmaMethod's
  int max_repetitions = 0;
  std::string triad_bytes;  // how triad bytes are counted (STREAM's way: 12 per element, no write-allocate)
  std::string read_bytes;   // 4 per element
  bool write_allocate_counted = false;
};

struct Clock {
  double measured_ghz = 0;  // from a dependent chain of 1-cycle adds; 0 where it cannot run
  std::string method;
  double cpuinfo_mhz = 0;  // /proc/cpuinfo "cpu MHz" of the first CPU, 0 when absent
};

struct MachineProfile {
  int schema = 1;
  std::string host;
  std::string cpu_model;
  std::string build_id;
  std::string measured_at;  // UTC, ISO 8601
  double duration_s = 0;    // the whole measurement
  Clock clock;
  FmaMethod fma_method;
  std::vector<FmaPeak> fma;
  MemoryMethod memory_method;
  std::vector<Bandwidth> bandwidth;
};

void to_json(nlohmann::json& j, const FmaPeak& v);
void from_json(const nlohmann::json& j, FmaPeak& v);
void to_json(nlohmann::json& j, const Bandwidth& v);
void from_json(const nlohmann::json& j, Bandwidth& v);
void to_json(nlohmann::json& j, const FmaMethod& v);
void from_json(const nlohmann::json& j, FmaMethod& v);
void to_json(nlohmann::json& j, const MemoryMethod& v);
void from_json(const nlohmann::json& j, MemoryMethod& v);
void to_json(nlohmann::json& j, const Clock& v);
void from_json(const nlohmann::json& j, Clock& v);
void to_json(nlohmann::json& j, const MachineProfile& v);
void from_json(const nlohmann::json& j, MachineProfile& v);

// How much to measure. The defaults are the real measurement (1 to 2 s on an idle 2-core
// machine, at most about 5 s on a busy one); tests shrink them to stay fast.
struct MeasureSettings {
  // Every figure is the best of at least `repetitions` runs, and more while the best still
  // improves (until `repetitions` in a row gain less than 1 %), up to max_repetitions: on a
  // busy machine a few more short runs find a moment with the cores to ourselves.
  int repetitions = 5;
  int max_repetitions = 20;
  double fma_seconds = 0.01;               // one FMA repetition
  uint64_t min_buffer_bytes = 256ull << 20;  // memory buffers: at least this, and at least 8 x LLC
  int llc_multiple = 8;
  // A profile that looks disturbed (DisturbedReason) is measured once more and, if it still
  // does, not cached. true caches it anyway and skips the second measurement (tests whose
  // 1 ms measurements on a busy machine look disturbed by design).
  bool keep_disturbed = false;
};

// Measures everything at each of thread_counts (each >= 1; duplicates are measured once).
// Throws std::invalid_argument for a count < 1, std::runtime_error when OpenMP does not give the
// threads asked for or the buffers cannot be allocated.
MachineProfile MeasureMachine(const std::vector<int>& thread_counts, const MeasureSettings& settings = {});

// The best FMA figure at `threads` over the ISAs (0 when that count was not measured), and
// the best bandwidth of `kernel` at `threads`.
double BestFmaGflops(const MachineProfile& p, int threads);
double BestBandwidth(const MachineProfile& p, const std::string& kernel, int threads);

// The last-level cache size of CPU 0 from /sys/devices/system/cpu/cpu0/cache/index*/ (the
// highest level's "size"), 0 when unreadable.
uint64_t LastLevelCacheBytes();

// $XDG_CACHE_HOME/attnbench (else $HOME/.cache/attnbench) /
// machine-<hostname>-<build id of this executable>-<hash of the CPU model>.json
std::string MachineCachePath();

struct CachedProfile {
  MachineProfile profile;
  bool from_cache = false;  // nothing was measured this time
  std::string path;         // the cache file
  std::string note;         // why it was (re-)measured: "no cache", "--remeasure", "corrupt: ...", ...
};

// The cached profile when it has every thread count asked for; else measures (only the missing
// counts when the cache is good but partial) and rewrites the cache (atomically). force
// ignores the cache. A cache that cannot be read or parsed is re-measured and replaced; a cache
// that cannot be written is reported in note, not an error.
CachedProfile LoadOrMeasureMachine(const std::vector<int>& thread_counts, bool force,
                                   const MeasureSettings& settings = {});

// Why a profile looks measured while other work had the cores ("" when it does not): a wider
// ISA's FMA peak below a narrower one's at the same thread count, or more threads measuring
// below one thread. Such a profile is not cached (LoadOrMeasureMachine measures once more first).
std::string DisturbedReason(const MachineProfile& p);

// The same class as BlasKernelIsaClass (sysinfo.h) for a Highway target name ("AVX3" 3, "AVX2" 2, "SSE4" 0).
int IsaClass(const std::string& highway_target);

// Non-empty when the BLAS runs a kernel for a narrower ISA than the widest one in the profile:
// names the kernel, what the CPU has, the measured FMA peaks of both ISAs at 1 thread when
// measured, and OPENBLAS_CORETYPE (which we never change ourselves).
std::string BlasIsaWarning(const std::string& corename, const std::string& coretype_env, const MachineProfile& p);

}  // namespace attnbench::machine
