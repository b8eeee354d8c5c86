// Write a backend as an ordinary C++ class; ATTNBENCH_REGISTER_BACKEND turns it into the C ABI
// of backend_abi.h (the table, the entry point, and exception-to-error-code translation).
//
//   class MyAttention {
//    public:
//     static constexpr const char* kName = "mine";
//     static constexpr const char* kDescription = "what it does, one line";
//     static constexpr bool kAbiV2Problems = true;              // optional, see below
//     static std::string Supports(const ab_problem& p);       // optional: "" = supported
//     static std::string RuntimeInfo();                        // optional
//     MyAttention(const ab_problem& p, const ab_weights& w);  // prepare: pack, allocate
//     void Run(const float* x, float* out);                    // timed: no allocation
//     size_t WorkspaceBytes() const;
//   };
//   ATTNBENCH_REGISTER_BACKEND(MyAttention)
//
// A class that handles grouped-query heads, sliding windows and the KV cache (ABI version 2's
// kv_heads, window, past_len) says so with kAbiV2Problems = true; without it those problems are
// refused in supports(), so a backend written for the chapter-3 problems never computes them
// wrongly.
//
// Exceptions never cross the ABI: a throw in the constructor or Run becomes AB_ERROR with
// what() as the message.
#ifndef ATTNBENCH_BACKEND_HPP_
#define ATTNBENCH_BACKEND_HPP_

#include <cstdio>
#include <exception>
#include <string>

#include "attnbench/backend_abi.h"
#include "attnbench/dropout.h"
#include "attnbench/problem.hpp"
#include "attnbench/tensor.hpp"

namespace attnbench::internal {

inline void WriteMessage(char* buf, size_t len, const char* msg) {
  if (buf && len) std::snprintf(buf, len, "%s", msg);
}

template <class K>
struct Adapter {
  static int Supports(const ab_problem* p, char* why, size_t why_len) {
    try {
      std::string reason = CheckProblem(*p);
      if constexpr (!requires { requires K::kAbiV2Problems; }) {
        if (reason.empty() && UsesAbiV2Fields(*p))
          reason = std::string(K::kName) +
                   " handles only kv-heads == heads, no window and no KV cache (past-len 0)";
      }
      if constexpr (requires { K::Supports(*p); }) {
        if (reason.empty()) reason = K::Supports(*p);
      }
      WriteMessage(why, why_len, reason.c_str());
      return reason.empty() ? 1 : 0;
    } catch (const std::exception& e) {
      WriteMessage(why, why_len, e.what());
    } catch (...) {
      WriteMessage(why, why_len, "unknown exception in supports");
    }
    return 0;
  }
  static int Prepare(const ab_problem* p, const ab_weights* w, void** state, char* err,
                     size_t err_len) {
    *state = nullptr;
    try {
      *state = new K(*p, *w);
      return AB_OK;
    } catch (const std::exception& e) {
      WriteMessage(err, err_len, e.what());
    } catch (...) {
      WriteMessage(err, err_len, "unknown exception in prepare");
    }
    return AB_ERROR;
  }
  static int Run(void* state, const float* x, float* out, char* err, size_t err_len) {
    try {
      static_cast<K*>(state)->Run(x, out);
      return AB_OK;
    } catch (const std::exception& e) {
      WriteMessage(err, err_len, e.what());
    } catch (...) {
      WriteMessage(err, err_len, "unknown exception in run");
    }
    return AB_ERROR;
  }
  static size_t WorkspaceBytes(const void* state) {
    return static_cast<const K*>(state)->WorkspaceBytes();
  }
  static void Destroy(void* state) { delete static_cast<K*>(state); }
  static const char* RuntimeInfo() {
    if constexpr (requires { K::RuntimeInfo(); }) {
      // Recomputed on every call (thread counts change with --threads); valid until the next
      // call on the same thread.
      static thread_local std::string info;
      info = K::RuntimeInfo();
      return info.c_str();
    } else {
      return nullptr;
    }
  }
  static constexpr ab_backend_i kTable = {
      /* .api_version     = */ AB_ABI_VERSION,
      /* .name            = */ K::kName,
      /* .description     = */ K::kDescription,
      /* .supports        = */ &Supports,
      /* .prepare         = */ &Prepare,
      /* .run             = */ &Run,
      /* .workspace_bytes = */ &WorkspaceBytes,
      /* .destroy         = */ &Destroy,
      /* .runtime_info    = */ &RuntimeInfo,
  };
};

}  // namespace attnbench::internal

#define ATTNBENCH_REGISTER_BACKEND(KernelClass)                             \
  extern "C" AB_EXPORT const ab_backend_i* attnbench_backend_entry(void) { \
    return &::attnbench::internal::Adapter<KernelClass>::kTable;           \
  }

#endif  // ATTNBENCH_BACKEND_HPP_
