#include "backend_handle.h"

#include <string>
#include <utility>

#include <attnbench/problem.hpp>

namespace attnbench {

namespace {

// The ABI's message buffers: a backend writes at most this much. The ABI asks for a NUL at the
// end, but a plugin may fill all of it: the text is read up to the buffer's end, never beyond
// (SanitizePluginText), with control characters escaped.
constexpr size_t kMessageBytes = 1024;

std::string Message(const char (&buf)[kMessageBytes]) { return SanitizePluginText(buf, kMessageBytes); }

}  // namespace

CallResult BackendInstance::Supports(const LoadedBackend& backend, const ab_problem& p) {
  // A version-1 plugin reads only the prefix of ab_problem: a problem it cannot see must not
  // reach it (it would compute plain MHA and FAIL, or worse, PASS a different problem).
  if (backend.table->api_version < 2 && UsesAbiV2Fields(p))
    return {false, "plugin built for ABI version " + std::to_string(backend.table->api_version) +
                       ", which cannot express kv-heads != heads, a window or a KV cache (rebuild "
                       "it against ABI version " + std::to_string(AB_ABI_VERSION) + ")"};
  char why[kMessageBytes] = {0};
  if (backend.table->supports(&p, why, sizeof why)) return {};
  return {false, Message(why)};
}

Prepared BackendInstance::Prepare(const LoadedBackend& backend, const ab_problem& p, const ab_weights& w) {
  char msg[kMessageBytes] = {0};
  void* state = nullptr;
  const int rc = backend.table->prepare(&p, &w, &state, msg, sizeof msg);
  Prepared r;
  if (rc != AB_OK || !state) {
    // A state handed back with an error code is the backend's to have freed; never destroy it.
    r.error = Message(msg);
    return r;
  }
  r.instance.emplace(BackendInstance(backend.table, state));
  return r;
}

BackendInstance::BackendInstance(BackendInstance&& other) noexcept
    : table_(other.table_), state_(std::exchange(other.state_, nullptr)) {}

BackendInstance& BackendInstance::operator=(BackendInstance&& other) noexcept {
  if (this != &other) {
    if (state_) table_->destroy(state_);
    table_ = other.table_;
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

BackendInstance::~BackendInstance() {
  if (state_) table_->destroy(state_);
}

CallResult BackendInstance::Run(const float* x, float* out) {
  char msg[kMessageBytes] = {0};
  if (table_->run(state_, x, out, msg, sizeof msg) == AB_OK) return {};
  return {false, Message(msg)};
}

size_t BackendInstance::WorkspaceBytes() const { return table_->workspace_bytes(state_); }

}  // namespace attnbench
