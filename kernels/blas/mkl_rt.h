// Intel oneMKL reached through dlopen, never through the global symbol scope. The attnbench
// executable links OpenBLAS, so `cblas_sgemm` is already defined globally when a plugin is
// loaded: a plugin that merely linked libmkl_rt would have its cblas_sgemm calls bound to
// OpenBLAS. Instead libmkl_rt is opened RTLD_LOCAL and every function used is taken with dlsym
// from that handle, so the pointers are MKL's own (tests/unit/blas_mkl_test.cpp checks with
// dladdr that they lie in libmkl_rt). MKL is put on its GNU OpenMP threading layer
// (libmkl_gnu_thread: libgomp's pool, the one the backends use) before any other MKL call;
// Intel OpenMP (libiomp5) would be a second OpenMP runtime in the process.
//
// The library path: $ATTNBENCH_MKL_RT if set, else the one CMake found at configure time
// (ATTNBENCH_MKL_RT_PATH, baked in). Used by the blas-mkl backend and the SGEMM ceiling; both
// get the same handle (dlopen reference-counts one copy per process).
// Header-only (the attnbench::mkl_rt target: include path and libdl).
#pragma once

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>

#ifndef ATTNBENCH_MKL_RT_PATH
#define ATTNBENCH_MKL_RT_PATH ""
#endif

namespace attnbench::mkl_rt {

// The values of mkl_cblas.h / mkl_service.h (the CBLAS enums are the standard ones, as in cblas.h).
enum : int { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };
enum : int { kThreadingIntel = 0, kThreadingSequential = 1, kThreadingGnu = 3, kThreadingTbb = 4 };

struct MklVersion {  // MKLVersion of mkl_types.h
  int major, minor, update, patch;
  char *product_status, *build, *processor, *platform;
};

struct Api {
  using SgemmFn = void (*)(int layout, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                           const float* b, int ldb, float beta, float* c, int ldc);
  SgemmFn sgemm = nullptr;                  // cblas_sgemm
  int (*set_threading_layer)(int) = nullptr;  // MKL_Set_Threading_Layer
  void (*set_num_threads)(int) = nullptr;   // MKL_Set_Num_Threads
  int (*get_max_threads)() = nullptr;       // MKL_Get_Max_Threads
  void (*get_version_string)(char*, int) = nullptr;
  void (*get_version)(MklVersion*) = nullptr;

  void* handle = nullptr;
  std::string path;       // what was opened
  std::string error;      // why it is not usable ("" = usable)
  int threading = -1;     // the layer MKL accepted
  std::string version;    // "oneMKL 2026.2"
  std::string code_path;  // MKL's "Processor" string: the instruction set it dispatched to

  bool ok() const { return error.empty(); }
  std::string ThreadingName() const {
    switch (threading) {
      case kThreadingGnu: return "GNU OpenMP";
      case kThreadingSequential: return "sequential";
      case kThreadingIntel: return "Intel OpenMP";
      case kThreadingTbb: return "TBB";
      default: return "threading layer " + std::to_string(threading);
    }
  }
  // "oneMKL 2026.2 (GNU OpenMP)"
  std::string Name() const { return ok() ? version + " (" + ThreadingName() + ")" : "MKL (not loaded)"; }
};

// The path that Get() opens: $ATTNBENCH_MKL_RT, else the configure-time one ("" = none).
inline std::string ConfiguredPath() {
  if (const char* e = std::getenv("ATTNBENCH_MKL_RT"); e && *e) return e;
  return ATTNBENCH_MKL_RT_PATH;
}

namespace detail {
inline void Load(Api& api) {
  api.path = ConfiguredPath();
  if (api.path.empty()) {
    api.error = "no libmkl_rt configured (build without MKL; set ATTNBENCH_MKL_RT=/path/libmkl_rt.so.N)";
    return;
  }
  api.handle = dlopen(api.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!api.handle) {
    const char* e = dlerror();
    api.error = "cannot load " + api.path + ": " + (e ? e : "dlopen failed") +
                " (scripts/setup-mkl installs MKL; ATTNBENCH_MKL_RT overrides the path)";
    return;
  }
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(api.handle, name));
    if (!fn && api.error.empty()) api.error = api.path + " has no " + name;
  };
  sym(api.sgemm, "cblas_sgemm");
  sym(api.set_threading_layer, "MKL_Set_Threading_Layer");
  sym(api.set_num_threads, "MKL_Set_Num_Threads");
  sym(api.get_max_threads, "MKL_Get_Max_Threads");
  sym(api.get_version_string, "MKL_Get_Version_String");
  sym(api.get_version, "MKL_Get_Version");
  if (!api.ok()) return;
  // First MKL call: the threading layer (it is fixed by the first call that needs it).
  api.threading = api.set_threading_layer(kThreadingGnu);
  if (api.threading != kThreadingGnu) {
    api.error = "MKL refused the GNU OpenMP threading layer (got " + std::to_string(api.threading) +
                "; MKL_THREADING_LAYER in the environment?)";
    return;
  }
  // "Intel(R) oneAPI Math Kernel Library Version 2026.2-Product Build ..." -> "oneMKL 2026.2"
  char buf[256] = {0};
  api.get_version_string(buf, sizeof buf - 1);
  const std::string s = buf;
  const size_t at = s.find("Version ");
  api.version = at == std::string::npos ? "oneMKL ?" : "oneMKL " + s.substr(at + 8, s.find_first_of("- ", at + 8) - at - 8);
  MklVersion v{};
  api.get_version(&v);
  api.code_path = v.processor ? v.processor : "";
}
}  // namespace detail

// The file that holds the code at `fn` (dladdr): where a function pointer really points, "" if
// unknown. The proof that a GEMM is MKL's and not the executable's OpenBLAS.
inline std::string LibraryOf(const void* fn) {
  Dl_info info{};
  if (!fn || !dladdr(fn, &info) || !info.dli_fname) return {};
  return info.dli_fname;
}

// Loaded once per process; never unloaded (MKL keeps threads and buffers alive).
inline const Api& Get() {
  static Api api;
  static std::once_flag once;
  std::call_once(once, [] { detail::Load(api); });
  return api;
}

// "AVX-512" from MKL's processor string "Intel(R) Advanced Vector Extensions 512 (Intel(R) AVX-512)
// enabled processors", else the string as is.
inline std::string ShortCodePath(const std::string& processor) {
  const size_t open = processor.rfind("(Intel(R) ");
  const size_t close = processor.find(')', open == std::string::npos ? 0 : open + 10);
  if (open != std::string::npos && close != std::string::npos) return processor.substr(open + 10, close - open - 10);
  return processor;
}

}  // namespace attnbench::mkl_rt
