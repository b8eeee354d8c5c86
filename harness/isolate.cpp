#include "isolate.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
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

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
};

Child Spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Child c;
  const int rc = posix_spawn(&c.pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  }
  c.out = fds[0];
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

}  // namespace

void RunIsolated(size_t count, double timeout_s,
                 const std::function<std::vector<std::string>(size_t start)>& argv_for,
                 const std::function<void(const WorkerEvent&)>& on_event,
                 const std::function<bool()>& stop) {
  using Clock = std::chrono::steady_clock;
  size_t next = 0;  // the first cell without an event
  while (next < count) {
    if (stop && stop()) return;
    Child child = Spawn(argv_for(next));
    std::string buf;
    size_t current = next;  // the cell the child is in (after its "begin")
    bool timed_out = false, stopped = false;
    auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
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
      pollfd pfd{child.out, POLLIN, 0};
      const int pr = poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(child.out, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: the child exited (or died)
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        const std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object()) continue;  // a stray line from a plugin
        if (j.contains("begin")) {
          current = j["begin"].get<size_t>();
          deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
        } else if (j.contains("result")) {
          WorkerEvent e{j["result"].get<size_t>(), "result", j, ""};
          on_event(e);
          next = e.cell + 1;
        }
      }
    }
    close(child.out);
    int status = 0;
    while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (next >= count) break;
    if (stopped || (stop && stop())) return;  // a child killed by the same Ctrl-C is no crash
    // Died or hung in `current`; or, having finished `next - 1`, died before starting `next`.
    WorkerEvent e;
    e.cell = std::max(current, next);
    e.kind = timed_out ? "timeout" : "crashed";
    e.reason = timed_out ? "no result after " + std::to_string(static_cast<int>(timeout_s)) + " s; worker killed"
                         : "worker " + DescribeStatus(status);
    on_event(e);
    next = e.cell + 1;
  }
}

}  // namespace attnbench
