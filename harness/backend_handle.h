// The host side of one plugin call sequence: supports -> prepare -> run ... -> destroy, with the
// C ABI's (char* err, size_t err_len) messages turned into values. The shape is ggml's
// ggml_backend_* functions around its vtable: callers never touch ab_backend_i or a message
// buffer, and the state is destroyed by the destructor on every path.
//
//   if (auto s = BackendInstance::Supports(b, p); !s.ok) ... s.message ...
//   auto prepared = BackendInstance::Prepare(b, p, weights);
//   if (!prepared) ... prepared.error ...
//   CallResult r = prepared->Run(x, out);
#pragma once

#include <attnbench/backend_abi.h>

#include <optional>
#include <string>

#include "plugin_loader.h"

namespace attnbench {

// A backend's answer: ok, or not with the message it wrote ("" when it wrote none; callers
// choose their own wording for that).
struct CallResult {
  bool ok = true;
  std::string message;
  explicit operator bool() const { return ok; }
};

class BackendInstance;

struct Prepared;

// One prepared backend state. Move-only; destroy() runs in the destructor. The weights given to
// Prepare must outlive the instance (the ABI lets a backend keep pointers to them).
class BackendInstance {
 public:
  // Whether the backend can run p; message = its reason when not.
  static CallResult Supports(const LoadedBackend& backend, const ab_problem& p);
  // prepare(): a failure, or a success that hands back no state, is an error.
  static Prepared Prepare(const LoadedBackend& backend, const ab_problem& p, const ab_weights& w);

  BackendInstance(BackendInstance&& other) noexcept;
  BackendInstance& operator=(BackendInstance&& other) noexcept;
  BackendInstance(const BackendInstance&) = delete;
  BackendInstance& operator=(const BackendInstance&) = delete;
  ~BackendInstance();

  // out [B,T,d_out] from x [B,T,d_in]; message = the backend's text on failure.
  CallResult Run(const float* x, float* out);
  size_t WorkspaceBytes() const;

 private:
  BackendInstance(const ab_backend_i* table, void* state) : table_(table), state_(state) {}
  const ab_backend_i* table_ = nullptr;
  void* state_ = nullptr;
};

// Prepare's result: an instance, or the backend's message (error; "" when it wrote none).
struct Prepared {
  std::optional<BackendInstance> instance;
  std::string error;
  explicit operator bool() const { return instance.has_value(); }
  BackendInstance* operator->() { return &*instance; }
  BackendInstance& operator*() { return *instance; }
};

}  // namespace attnbench
