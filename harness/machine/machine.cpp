#include "machine.h"

#include <link.h>
#include <strings.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "kernels/peak.h"
#include "sysinfo.h"

namespace attnbench::machine {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FmaPeak, isa, lanes, fused, threads, iterations, runs, seconds, gflops)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Bandwidth, kernel, threads, runs, seconds, gbytes_per_s)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FmaMethod, kernel, chains, repetitions, max_repetitions, seconds_per_repetition)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MemoryMethod, stream_isa, llc_bytes, buffer_bytes, repetitions, max_repetitions,
                                   triad_bytes,
                                   read_bytes, write_allocate_counted)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Clock, measured_ghz, method, cpuinfo_mhz)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MachineProfile, schema, host, cpu_model, build_id, measured_at, duration_s, clock,
                                   fma_method, fma, memory_method, bandwidth)

namespace {

using Clock_ = std::chrono::steady_clock;

double SecondsSince(Clock_::time_point t0) { return std::chrono::duration<double>(Clock_::now() - t0).count(); }

// Keeps the kernels' results alive: a compiler that saw them unused could drop the calls.
volatile float g_sink = 0;

struct Best {
  double seconds = std::numeric_limits<double>::infinity();
  int runs = 0;
};

// The shortest of run()'s durations: at least st.repetitions runs, then more until
// st.repetitions in a row shorten the best by less than 1 %, at most st.max_repetitions.
template <class Run>
Best TimeBest(const MeasureSettings& st, Run&& run) {
  Best b;
  int since_gain = 0;
  while (b.runs < std::max(st.repetitions, st.max_repetitions)) {
    const double s = run();
    ++b.runs;
    since_gain = s < 0.99 * b.seconds ? 0 : since_gain + 1;
    b.seconds = std::min(b.seconds, s);
    if (b.runs >= st.repetitions && since_gain >= st.repetitions) break;
  }
  return b;
}

// Runs fn(thread_index) on `threads` OpenMP threads (one parallel region: one pool) and returns
// the region's wall clock. Throws when OpenMP gives fewer threads (OMP_THREAD_LIMIT, nesting).
template <class Fn>
double TimeParallel(int threads, Fn&& fn) {
  int got = 0;
  const auto t0 = Clock_::now();
#pragma omp parallel num_threads(threads)
  {
    fn(omp_get_thread_num());
#pragma omp single nowait
    got = omp_get_num_threads();
  }
  const double s = SecondsSince(t0);
  if (got != threads)
    throw std::runtime_error("OpenMP ran " + std::to_string(got) + " threads where " + std::to_string(threads) +
                             " were asked for (OMP_THREAD_LIMIT?)");
  return s;
}

// Runs the FMA kernel `iters` steps on every thread; the region's wall clock.
double TimeFma(int64_t target, int threads, uint64_t iters) {
  return TimeParallel(threads, [&](int) {
    float out[kernels::kFmaChains];
    // mul 0.5, add 1: every chain tends to 2, never overflows nor goes subnormal, and neither
    // constant is known to the compiler (they come through a volatile read).
    static volatile float mul = 0.5f, add = 1.0f;
    kernels::RunFmaChains(target, iters, mul, add, out);
    float s = 0;
    for (float v : out) s += v;
    g_sink = g_sink + s;
  });
}

// The loop count for one repetition of about fma_seconds on one thread (every thread count
// then runs it per thread: the same ideal duration). Calibrated on the best of three short
// probes, one thread, so a probe slowed by a neighbour process does not make the repetitions too
// short to measure (a 2-thread probe waits for the slower thread, which may be descheduled);
// the first probe also wakes the AVX-512 units and the OpenMP pool.
uint64_t CalibrateFma(const kernels::PeakTarget& t, const MeasureSettings& st) {
  const uint64_t probe = 20000;
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < 3; ++r) best = std::min(best, TimeFma(t.target, 1, probe));
  return std::max<uint64_t>(probe, static_cast<uint64_t>(probe * st.fma_seconds / std::max(best, 1e-6)));
}

FmaPeak MeasureFma(const kernels::PeakTarget& t, int threads, uint64_t iters, const MeasureSettings& st) {
  const Best best = TimeBest(st, [&] { return TimeFma(t.target, threads, iters); });
  FmaPeak p;
  p.isa = t.name;
  p.lanes = static_cast<int>(t.lanes);
  p.fused = t.native_fma;
  p.threads = threads;
  p.iterations = iters;
  p.runs = best.runs;
  p.seconds = best.seconds;
  const double flops = 2.0 * static_cast<double>(t.lanes) * kernels::kFmaChains * static_cast<double>(iters) * threads;
  p.gflops = flops / best.seconds / 1e9;
  return p;
}

// Three float arrays of n elements, allocated untouched and first-touched in parallel, each
// thread writing the slice it will stream later (pages land on its NUMA node).
struct StreamBuffers {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> a, b, c;
  size_t n = 0;
};

// The [begin, end) slice of n elements for thread i of t: the same split for first touch and
// for every measurement at t threads.
std::pair<size_t, size_t> Slice(size_t n, int i, int t) {
  const size_t per = (n / t) & ~size_t{15};  // whole 64-byte lines per thread
  const size_t begin = per * i;
  return {begin, i == t - 1 ? n : begin + per};
}

StreamBuffers AllocateStreamBuffers(uint64_t total_bytes, int touch_threads) {
  StreamBuffers s;
  // Rounded up to whole 16-float vectors: the three arrays hold at least total_bytes (rounding
  // down left 256 MiB - 192 B when 8 x LLC was exactly 256 MiB, a 32 MiB L3).
  s.n = (static_cast<size_t>((total_bytes + 3 * sizeof(float) - 1) / (3 * sizeof(float))) + 15) & ~size_t{15};
  const size_t bytes = s.n * sizeof(float);
  const auto alloc = [bytes] {
    void* p = std::aligned_alloc(2u << 20, (bytes + (2u << 20) - 1) & ~size_t((2u << 20) - 1));
    if (!p) throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB for the bandwidth test");
    return static_cast<float*>(p);
  };
  s.a.reset(alloc());
  s.b.reset(alloc());
  s.c.reset(alloc());
  float* a = s.a.get();
  float* b = s.b.get();
  float* c = s.c.get();
  TimeParallel(touch_threads, [&](int i) {
    const auto [begin, end] = Slice(s.n, i, touch_threads);
    for (size_t k = begin; k < end; ++k) {
      a[k] = 0.0f;
      b[k] = 1.0f;
      c[k] = 2.0f;
    }
  });
  return s;
}

Bandwidth MeasureStream(const std::string& kernel, StreamBuffers& s, int threads, const MeasureSettings& st) {
  float* a = s.a.get();
  const float* b = s.b.get();
  const float* c = s.c.get();
  const bool triad = kernel == "triad";
  const Best best = TimeBest(st, [&] {
    return TimeParallel(threads, [&](int i) {
      const auto [begin, end] = Slice(s.n, i, threads);
      if (triad) {
        kernels::Triad(a + begin, b + begin, c + begin, 3.0f, end - begin);
      } else {
        const float sum = kernels::SumRead(a + begin, end - begin) + kernels::SumRead(b + begin, end - begin) +
                          kernels::SumRead(c + begin, end - begin);
        g_sink = g_sink + sum;
      }
    });
  });
  // STREAM's count: triad reads b and c and writes a, 3 x 4 bytes per element (the hardware
  // also reads a before writing it, write-allocate, which STREAM does not count); read: 3 arrays.
  const double bytes = 3.0 * sizeof(float) * static_cast<double>(s.n);
  return {kernel, threads, best.runs, best.seconds, bytes / best.seconds / 1e9};
}

// The core clock from a dependent chain of register adds (latency 1 cycle on every x86 core
// since the P6): 10 adds per loop iteration, the loop's own counter runs beside them on other
// ports, so an iteration takes 10 cycles. Scalar code: under heavy AVX-512 some CPUs clock
// lower (then the FMA peak says so, not this).
double MeasureClockGhz(const MeasureSettings& st, std::string& method) {
#if defined(__x86_64__)
  const uint64_t iters = 3'000'000;
  const auto run = [&] {
    uint64_t x = 0;
    const auto t0 = Clock_::now();
    for (uint64_t i = 0; i < iters; ++i)
      asm volatile(
          "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
          "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
          : "+r"(x));
    const double s = SecondsSince(t0);
    g_sink = g_sink + static_cast<float>(x & 1);
    return s;
  };
  run();  // wakes the core up
  const Best best = TimeBest(st, run);
  method = "a dependent chain of 1-cycle integer adds on one thread (10 per loop iteration, " +
           std::to_string(iters) + " iterations, best of " + std::to_string(best.runs) +
           "): cycles / seconds; scalar code, so a lower AVX-512 clock does not show here";
  return 10.0 * static_cast<double>(iters) / best.seconds / 1e9;
#else
  (void)st;
  method = "not measured on this architecture";
  return 0;
#endif
}

double CpuinfoMhz() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("cpu MHz", 0) == 0) {
      const auto pos = line.find(':');
      if (pos != std::string::npos) return std::atof(line.c_str() + pos + 1);
    }
  return 0;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "unknown-host";
  return buf;
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The GNU build id of the main executable (a hash of its content the linker writes, so every
// rebuild that changes the code changes it); "nobuildid" when the linker wrote none.
std::string BuildId() {
  std::string id;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto& out = *static_cast<std::string*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const char* name = p + sizeof(ElfW(Nhdr));
            const char* desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
              static const char* hex = "0123456789abcdef";
              for (unsigned k = 0; k < nh->n_descsz; ++k) {
                const auto byte = static_cast<unsigned char>(desc[k]);
                out += hex[byte >> 4];
                out += hex[byte & 15];
              }
              return 1;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
          }
        }
        return 1;  // only the first object: the executable
      },
      &id);
  return id.empty() ? "nobuildid" : id;
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

uint64_t ParseCacheSize(const std::string& s) {
  uint64_t v = std::strtoull(s.c_str(), nullptr, 10);
  if (s.find('K') != std::string::npos) v <<= 10;
  if (s.find('M') != std::string::npos) v <<= 20;
  return v;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes to a temporary file beside path, then renames it over path: a concurrent reader sees
// the old profile or the new one. Returns "" or why it failed.
std::string WriteFileReplacing(const std::string& path, const std::string& content) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << content;
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return "cannot write " + tmp;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
  }
  return {};
}

bool HasThreads(const MachineProfile& p, int threads) {
  bool fma = kernels::PeakTargets().empty(), triad = false, read = false;  // no x86 target: no FMA rows
  for (const FmaPeak& f : p.fma) fma |= f.threads == threads;
  for (const Bandwidth& b : p.bandwidth) {
    triad |= b.kernel == "triad" && b.threads == threads;
    read |= b.kernel == "read" && b.threads == threads;
  }
  return fma && triad && read;
}

}  // namespace

uint64_t LastLevelCacheBytes() {
  uint64_t best = 0;
  int best_level = -1;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream level_f(dir + "level"), size_f(dir + "size");
    int level = 0;
    std::string size;
    if (!(level_f >> level) || !(size_f >> size)) continue;
    if (level > best_level) best_level = level, best = ParseCacheSize(size);
  }
  return best;
}

MachineProfile MeasureMachine(const std::vector<int>& thread_counts, const MeasureSettings& st) {
  std::set<int> counts;
  for (int t : thread_counts) {
    if (t < 1) throw std::invalid_argument("thread count must be >= 1, got " + std::to_string(t));
    counts.insert(t);
  }
  if (counts.empty()) throw std::invalid_argument("no thread count to measure");
  if (st.repetitions < 1) throw std::invalid_argument("repetitions must be >= 1");
  const auto t0 = Clock_::now();
  MachineProfile p;
  p.host = HostName();
  p.cpu_model = CpuModel();
  p.build_id = BuildId();
  p.measured_at = UtcNow();

  p.clock.measured_ghz = MeasureClockGhz(st, p.clock.method);
  p.clock.cpuinfo_mhz = CpuinfoMhz();

  p.fma_method.kernel =
      "kernels/peak-inl.h FmaChains: per thread, " + std::to_string(kernels::kFmaChains) +
      " independent vector accumulators acc = acc * 0.5 + 1 in registers (one MulAdd each per iteration), "
      "2 FLOPs per lane per MulAdd; wall clock of one OpenMP parallel region per repetition";
  p.fma_method.chains = static_cast<int>(kernels::kFmaChains);
  p.fma_method.repetitions = st.repetitions;
  p.fma_method.max_repetitions = st.max_repetitions;
  p.fma_method.seconds_per_repetition = st.fma_seconds;
  for (const kernels::PeakTarget& t : kernels::PeakTargets()) {
    const uint64_t iters = CalibrateFma(t, st);
    for (int threads : counts) p.fma.push_back(MeasureFma(t, threads, iters, st));
  }

  MemoryMethod& mm = p.memory_method;
  mm.stream_isa = kernels::StreamTargetName();
  mm.llc_bytes = LastLevelCacheBytes();
  mm.buffer_bytes = std::max<uint64_t>(st.min_buffer_bytes, st.llc_multiple * mm.llc_bytes);
  mm.repetitions = st.repetitions;
  mm.max_repetitions = st.max_repetitions;
  mm.triad_bytes = "a[i] = b[i] + s * c[i] on three float arrays: 12 bytes per element (read b, c; write a), "
                   "STREAM's count: the write-allocate read of a is not counted";
  mm.read_bytes = "sum of the three arrays: 4 bytes per element read";
  mm.write_allocate_counted = false;
  StreamBuffers buffers = AllocateStreamBuffers(mm.buffer_bytes, *counts.rbegin());
  mm.buffer_bytes = 3 * buffers.n * sizeof(float);
  for (int threads : counts) {
    p.bandwidth.push_back(MeasureStream("triad", buffers, threads, st));
    p.bandwidth.push_back(MeasureStream("read", buffers, threads, st));
  }
  p.duration_s = SecondsSince(t0);
  return p;
}

double BestFmaGflops(const MachineProfile& p, int threads) {
  double best = 0;
  for (const FmaPeak& f : p.fma)
    if (f.threads == threads) best = std::max(best, f.gflops);
  return best;
}

double BestBandwidth(const MachineProfile& p, const std::string& kernel, int threads) {
  double best = 0;
  for (const Bandwidth& b : p.bandwidth)
    if (b.kernel == kernel && b.threads == threads) best = std::max(best, b.gbytes_per_s);
  return best;
}

std::string MachineCachePath() {
  std::string dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    dir = x;
  else if (const char* h = std::getenv("HOME"); h && *h)
    dir = std::string(h) + "/.cache";
  else
    dir = "/tmp";
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(Fnv1a(CpuModel())));
  return dir + "/attnbench/machine-" + HostName() + "-" + BuildId() + "-" + std::string(hash, 8) + ".json";
}

namespace {

// Each figure of `into` raised to the same figure of `other` where that is higher (the best of
// two measurements of the same thread counts).
void KeepBest(const MachineProfile& other, MachineProfile& into) {
  for (FmaPeak& f : into.fma)
    for (const FmaPeak& o : other.fma)
      if (o.isa == f.isa && o.threads == f.threads && o.gflops > f.gflops) f = o;
  for (Bandwidth& b : into.bandwidth)
    for (const Bandwidth& o : other.bandwidth)
      if (o.kernel == b.kernel && o.threads == b.threads && o.gbytes_per_s > b.gbytes_per_s) b = o;
  into.duration_s += other.duration_s;
}

}  // namespace

CachedProfile LoadOrMeasureMachine(const std::vector<int>& thread_counts, bool force, const MeasureSettings& st) {
  CachedProfile c;
  c.path = MachineCachePath();
  std::vector<int> missing = thread_counts;
  bool have_cache = false;
  if (force) {
    c.note = "re-measured on request";
  } else if (!std::filesystem::exists(c.path)) {
    c.note = "no cache yet";
  } else {
    try {
      c.profile = nlohmann::json::parse(ReadFile(c.path)).get<MachineProfile>();
      if (c.profile.schema != MachineProfile{}.schema) throw std::runtime_error("schema " + std::to_string(c.profile.schema));
      have_cache = true;
      missing.clear();
      for (int t : thread_counts)
        if (!HasThreads(c.profile, t)) missing.push_back(t);
      if (missing.empty()) {
        c.from_cache = true;
        c.note = "cached";
        return c;
      }
      c.note = "cached, measured the missing thread counts";
    } catch (const std::exception& e) {
      c.note = std::string("cache unreadable, re-measured (") + e.what() + ")";
      c.profile = {};
    }
  }
  MachineProfile fresh = MeasureMachine(missing, st);
  if (!st.keep_disturbed && !DisturbedReason(fresh).empty()) {
    // Another process had the cores for part of it: once more, keeping each figure's best.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    KeepBest(MeasureMachine(missing, st), fresh);
  }
  if (have_cache) {
    c.profile.fma.insert(c.profile.fma.end(), fresh.fma.begin(), fresh.fma.end());
    c.profile.bandwidth.insert(c.profile.bandwidth.end(), fresh.bandwidth.begin(), fresh.bandwidth.end());
    c.profile.duration_s += fresh.duration_s;
  } else {
    c.profile = std::move(fresh);
  }
  if (const std::string why = DisturbedReason(c.profile); !why.empty() && !st.keep_disturbed)
    c.note += "; not cached: the machine looked busy (" + why + ")";
  else if (const std::string err = WriteFileReplacing(c.path, nlohmann::json(c.profile).dump(2) + "\n"); !err.empty())
    c.note += "; not cached: " + err;
  return c;
}

std::string DisturbedReason(const MachineProfile& p) {
  char buf[256];
  for (const FmaPeak& wide : p.fma)
    for (const FmaPeak& narrow : p.fma)
      if (wide.threads == narrow.threads && IsaClass(wide.isa) > IsaClass(narrow.isa) &&
          wide.gflops < 0.9 * narrow.gflops) {
        std::snprintf(buf, sizeof buf, "%s measured %.1f GFLOP/s, below %s's %.1f, at %d thread(s)", wide.isa.c_str(),
                      wide.gflops, narrow.isa.c_str(), narrow.gflops, wide.threads);
        return buf;
      }
  const double one = BestFmaGflops(p, 1);
  for (const FmaPeak& f : p.fma)
    if (f.threads > 1 && one > 0 && BestFmaGflops(p, f.threads) < 0.9 * one) {
      std::snprintf(buf, sizeof buf, "%d threads measured %.1f GFLOP/s, below 1 thread's %.1f", f.threads,
                    BestFmaGflops(p, f.threads), one);
      return buf;
    }
  return {};
}

int IsaClass(const std::string& t) {
  if (t == "AVX3" || t.rfind("AVX3_", 0) == 0) return 3;
  if (t == "AVX2") return 2;
  return 0;
}

std::string BlasIsaWarning(const std::string& corename, const std::string& coretype_env, const MachineProfile& p) {
  int cpu = -1;
  std::string cpu_isa;
  for (const FmaPeak& f : p.fma)
    if (IsaClass(f.isa) > cpu) cpu = IsaClass(f.isa), cpu_isa = f.isa;
  const int blas = BlasKernelIsaClass(corename);
  if (blas < 0 || cpu < 0 || blas >= cpu) return {};
  static const char* kNames[] = {"SSE (generic)", "AVX", "AVX2", "AVX-512"};
  std::ostringstream w;
  w << "WARNING: OpenBLAS runs its '" << corename << "' kernel (" << kNames[blas] << ") on a CPU with "
    << kNames[cpu];
  // The FMA peak the BLAS's ISA can reach vs the CPU's, measured at 1 thread, when both are.
  double blas_peak = 0, cpu_peak = 0;
  for (const FmaPeak& f : p.fma)
    if (f.threads == 1) {
      if (IsaClass(f.isa) == blas) blas_peak = std::max(blas_peak, f.gflops);
      if (f.isa == cpu_isa) cpu_peak = std::max(cpu_peak, f.gflops);
    }
  if (blas_peak > 0 && cpu_peak > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, ": its ISA peaks at %.0f GFLOP/s per core here, %.0f with %s", blas_peak,
                  cpu_peak, kNames[cpu]);
    w << buf;
  }
  w << ". " << (coretype_env.empty() ? "OPENBLAS_CORETYPE is unset (OpenBLAS picked it)"
                                     : "OPENBLAS_CORETYPE=" + coretype_env + " is set")
    << "; set OPENBLAS_CORETYPE=" << (cpu == 3 ? "SkylakeX" : "Haswell")
    << " (or unset it) to run the wider kernel. attnbench does not change it for you.";
  return w.str();
}

}  // namespace attnbench::machine
