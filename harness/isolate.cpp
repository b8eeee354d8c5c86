#include "isolate.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

extern char** environ;

namespace attnbench {

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this executable (/proc/self/exe)");
  return p.string();
}

namespace {

// The descriptor the parent hands the worker's end of the channel on. The worker moves it away
// at once (EnterWorkerMode), so nothing a plugin opens or inherits lands on it by chance.
constexpr int kChannelFd = 3;
// A result line is a cell's CSV row plus its Google Benchmark entries: kilobytes. A worker that
// sends this much without a newline is broken.
constexpr size_t kMaxLineBytes = 64u << 20;

struct Child {
  pid_t pid = -1;
  int channel = -1;  // read end of the worker's protocol pipe
};

std::string NewToken() {
  std::random_device rd;
  std::string t;
  for (int i = 0; i < 4; ++i) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    t += buf;
  }
  return t;
}

void CloseBoth(int fds[2]) {
  close(fds[0]);
  close(fds[1]);
}

// The worker gets: stdin = a pipe holding the token, stdout = our stderr (a plugin's prints are
// shown, never parsed), fd 3 = the write end of the channel.
Child Spawn(const std::vector<std::string>& argv, const std::string& token) {
  int chan[2], tok[2];
  if (pipe2(chan, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(tok, O_CLOEXEC) != 0) {
    CloseBoth(chan);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  // The token is far below the pipe's capacity: written now, the child reads it whenever.
  const std::string line = token + "\n";
  if (write(tok[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    CloseBoth(chan);
    CloseBoth(tok);
    throw std::runtime_error("cannot write the worker's token");
  }
  close(tok[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, tok[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, chan[1], kChannelFd);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Child c;
  const int rc = posix_spawn(&c.pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(chan[1]);
  close(tok[0]);
  if (rc != 0) {
    close(chan[0]);
    throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  }
  c.channel = chan[0];
  return c;
}

// Exit status -> "killed by SIGSEGV (Segmentation fault)" / "exited with code 3".
std::string DescribeStatus(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return std::string("killed by SIG") + (abbrev ? abbrev : std::to_string(sig).c_str()) + " (" +
           strsignal(sig) + ")";
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "ended abnormally";
}

// "300 s", "0.5 s": the timeout as the user gave it (it was checked to be finite and > 0).
std::string Seconds(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

// A cell index in a message: a non-negative integer (JSON "1.0" or "-1" is not one).
bool ReadIndex(const nlohmann::json& j, size_t* out) {
  if (!j.is_number_unsigned()) return false;
  *out = j.get<size_t>();
  return true;
}

// The worker's view of the channel (EnterWorkerMode).
int g_channel = -1;
std::string g_token;

}  // namespace

WorkerMessage ParseWorkerMessage(std::string_view line, std::string_view token) {
  WorkerMessage m;
  m.body = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (m.body.is_discarded() || !m.body.is_object()) {
    m.error = "a line that is not a JSON object";
    m.body = nullptr;
    return m;
  }
  const auto t = m.body.find("token");
  if (t == m.body.end() || !t->is_string() || t->get_ref<const std::string&>() != token) {
    m.error = "a message without the worker's token";
    return m;
  }
  const bool begin = m.body.contains("begin"), result = m.body.contains("result");
  if (begin == result) {
    m.error = "a message with neither or both of \"begin\" and \"result\"";
    return m;
  }
  if (!ReadIndex(m.body[begin ? "begin" : "result"], &m.cell)) {
    m.error = std::string("a \"") + (begin ? "begin" : "result") + "\" that is not a cell index";
    return m;
  }
  m.kind = begin ? WorkerMessage::kBegin : WorkerMessage::kResult;
  return m;
}

void EnterWorkerMode() {
  const int fd = fcntl(kChannelFd, F_DUPFD_CLOEXEC, 10);
  if (fd < 0) throw std::runtime_error("--worker: no protocol channel (fd 3); --worker is internal to --isolate");
  close(kChannelFd);
  g_channel = fd;
  std::string token;
  char ch;
  while (token.size() < 256) {
    const ssize_t n = read(STDIN_FILENO, &ch, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || ch == '\n') break;
    token += ch;
  }
  if (token.empty()) throw std::runtime_error("--worker: no token on stdin; --worker is internal to --isolate");
  g_token = token;
  if (const int null = open("/dev/null", O_RDONLY | O_CLOEXEC); null >= 0) {
    dup2(null, STDIN_FILENO);
    close(null);
  }
  std::fflush(stdout);
  dup2(STDERR_FILENO, STDOUT_FILENO);
}

void SendToParent(nlohmann::json message) {
  if (g_channel < 0) throw std::logic_error("SendToParent before EnterWorkerMode");
  message["token"] = g_token;
  const std::string line = message.dump() + "\n";
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = write(g_channel, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(1);  // the parent is gone: nothing left to report to
    off += static_cast<size_t>(n);
  }
}

void RunIsolated(size_t count, double timeout_s,
                 const std::function<std::vector<std::string>(size_t start)>& argv_for,
                 const std::function<void(const WorkerEvent&)>& on_event,
                 const std::function<bool()>& stop) {
  using Clock = std::chrono::steady_clock;
  // A finite timeout always fits: steady_clock counts nanoseconds in 64 bits (292 years).
  const auto per_cell = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::min(timeout_s, 100.0 * 365 * 86400)));
  size_t next = 0;  // the first cell without an event
  while (next < count) {
    if (stop && stop()) return;
    const std::string token = NewToken();
    Child child = Spawn(argv_for(next), token);
    std::string buf;
    size_t current = next;     // the cell the child is in (after its "begin")
    bool in_cell = false;      // a "begin" without its "result" yet
    std::string violation;     // the worker broke the protocol: why
    bool timed_out = false, stopped = false;
    auto deadline = Clock::now() + per_cell;
    for (;;) {
      if (stop && stop()) {
        stopped = true;
        kill(child.pid, SIGKILL);
        break;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        kill(child.pid, SIGKILL);
        break;
      }
      pollfd pfd{child.channel, POLLIN, 0};
      const int pr = poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(child.channel, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: the child exited (or died)
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while (violation.empty() && (nl = buf.find('\n')) != std::string::npos) {
        const WorkerMessage m = ParseWorkerMessage(std::string_view(buf).substr(0, nl), token);
        buf.erase(0, nl + 1);
        if (m.kind == WorkerMessage::kInvalid) {
          violation = m.error;
        } else if (m.kind == WorkerMessage::kBegin) {
          if (in_cell || m.cell != next)
            violation = "\"begin\" of cell " + std::to_string(m.cell) + " while waiting for " +
                        (in_cell ? "the result of " : "the begin of ") + std::to_string(in_cell ? current : next);
          current = m.cell;
          in_cell = true;
          deadline = Clock::now() + per_cell;
        } else if (!in_cell || m.cell != current) {
          violation = "a result for cell " + std::to_string(m.cell) + " while waiting for " +
                      (in_cell ? "the result of " : "the begin of ") + std::to_string(in_cell ? current : next);
        } else {
          on_event(WorkerEvent{m.cell, "result", m.body, ""});
          next = m.cell + 1;
          in_cell = false;
        }
      }
      if (violation.empty() && buf.size() > kMaxLineBytes) violation = "a line longer than 64 MiB";
      if (!violation.empty()) {
        kill(child.pid, SIGKILL);
        break;
      }
    }
    close(child.channel);
    int status = 0;
    while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (next >= count) break;
    if (stopped || (stop && stop())) return;  // a child killed by the same Ctrl-C is no crash
    // Died, hung or broke the protocol in `current`; or, having finished `next - 1`, died before
    // starting `next`. A cell outside the ones asked for is never blamed: it is `next` then.
    WorkerEvent e;
    e.cell = in_cell && current == next ? current : next;
    e.kind = timed_out ? "timeout" : "crashed";
    if (timed_out)
      e.reason = "no result after " + Seconds(timeout_s) + "; worker killed";
    else if (!violation.empty())
      e.reason = "worker broke the protocol (" + violation + "); worker killed";
    else
      e.reason = "worker " + DescribeStatus(status) + (in_cell ? "" : " before the cell began");
    on_event(e);
    next = e.cell + 1;
  }
}

}  // namespace attnbench
