// Running a backend in a child process, so that a plugin that crashes (segfault, abort), hangs or
// exits cannot take the whole run down, nor speak for the worker. The child is this same
// executable re-run with `--worker`: a fresh process (fork() without exec is not safe once
// libgomp / OpenBLAS thread pools exist).
//
// The protocol runs on a private channel, not on stdout: the parent hands the worker a pipe as
// fd 3 and a random token on stdin; the worker (EnterWorkerMode, before it loads any plugin)
// moves the pipe to a close-on-exec descriptor, reads the token, and points stdout at stderr, so
// whatever a plugin prints never reaches the parent as a message. Every message is one JSON line
// carrying the token: {"begin": k, "token": ...} before cell k, {"result": k, "token": ..., ...}
// after it. The parent accepts only the cell it is waiting for (begin k == the next cell, result
// k == the cell begun); anything else -- a line without the token, a malformed line, another cell
// -- is the worker's failure: it is killed and the cell is CRASHED with the reason. The parent
// reads with a per-cell timeout; when the child dies or times out in cell k, k is reported
// CRASHED / TIMEOUT and a new child continues from k + 1.
//
// What this does not stop: a plugin runs inside the worker and can, with effort, read the token
// from memory and write to the channel. Isolation protects the run from crashes, hangs, exits and
// stray output, not from a plugin that targets attnbench's internals.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace attnbench {

struct WorkerEvent {
  size_t cell = 0;
  // "result": the worker's JSON for the cell; "crashed" / "timeout": reason says how.
  std::string kind;
  nlohmann::json result;
  std::string reason;
};

// The longest per-cell timeout a command accepts (a week): longer is a typo, and a clock
// deadline that far away would overflow.
inline constexpr double kMaxTimeoutSeconds = 7 * 86400.0;

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

// One line the parent read from a worker's channel, parsed. Never throws: a line that is not a
// JSON object, lacks the token, or has not exactly one of "begin" / "result" as a cell index is
// kInvalid with the reason.
struct WorkerMessage {
  enum Kind { kBegin, kResult, kInvalid } kind = kInvalid;
  size_t cell = 0;
  nlohmann::json body;  // the whole object (kResult: the worker's result)
  std::string error;    // kInvalid: why
};
WorkerMessage ParseWorkerMessage(std::string_view line, std::string_view token);

// The worker's side. Call before loading any plugin: takes the channel (fd 3) and the token
// (stdin) the parent gave, and sends stdout to stderr. Throws std::runtime_error when this
// process was not started by RunIsolated (no channel).
void EnterWorkerMode();
// Sends one message (the token is added) to the parent.
void SendToParent(nlohmann::json message);

}  // namespace attnbench
