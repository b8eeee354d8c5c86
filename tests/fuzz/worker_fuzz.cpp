// libFuzzer target: the parent's side of the --isolate worker protocol (isolate.h,
// bench/worker_result.h). For any bytes a worker -- or a plugin inside it -- could send as a line,
// ParseWorkerMessage gives a message or kInvalid with a reason, and DecodeWorkerResult accepts a
// result or refuses it with a reason: never a throw, a crash or an out-of-bounds read.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bench/worker_result.h"
#include "isolate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using attnbench::WorkerMessage;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const WorkerMessage m = attnbench::ParseWorkerMessage(line, "t0k");
  if (m.kind == WorkerMessage::kInvalid && m.error.empty()) std::abort();  // refused, but not why
  if (m.kind == WorkerMessage::kResult) {
    attnbench::bench::WorkerResult r;
    std::string error;
    const bool ok = attnbench::bench::DecodeWorkerResult(m.body, "naive/mha/B:1/T:8", &r, &error);
    if (!ok && error.empty()) std::abort();
    if (ok && (r.cell.status == "CRASHED" || r.cell.status == "TIMEOUT")) std::abort();  // only the parent says so
  }
  return 0;
}
