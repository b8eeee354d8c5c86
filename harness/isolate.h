// Running a backend in a child process, so that a plugin that crashes (segfault, abort) or hangs
// cannot take the whole run down. The child is this same executable re-run with `--worker`: a
// fresh process (fork() without exec is not safe once libgomp / OpenBLAS thread pools exist).
// The worker prints one JSON object per line: {"begin": k} before cell k, {"result": k, ...}
// after it. The parent reads with a per-cell timeout; when the child dies or times out in cell
// k, k is reported CRASHED / TIMEOUT and a new child continues from k + 1.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace attnbench {

struct WorkerEvent {
  size_t cell = 0;
  // "result": the worker's JSON for the cell; "crashed" / "timeout": reason says how.
  std::string kind;
  nlohmann::json result;
  std::string reason;
};

// Runs `argv_for(start)` (argv[0] = executable) for cells start..count-1 until every cell has an
// event; calls on_event for each, in cell order. timeout_s applies to each cell.
// stop (optional) is polled at least once a second and after every signal: when it returns true
// the child is killed, the cell it was in gets no event, and RunIsolated returns early.
void RunIsolated(size_t count, double timeout_s,
                 const std::function<std::vector<std::string>(size_t start)>& argv_for,
                 const std::function<void(const WorkerEvent&)>& on_event,
                 const std::function<bool()>& stop = nullptr);

// The executable of this process (/proc/self/exe).
std::string SelfExe();

}  // namespace attnbench
