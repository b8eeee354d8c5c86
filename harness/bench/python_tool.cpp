#include "python_tool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include "locate.h"

namespace attnbench::bench {

pid_t SpawnChild(const std::vector<std::string>& argv_s, const std::function<bool()>& wire) {
  if (argv_s.empty()) {
    errno = EINVAL;
    return -1;
  }
  // Everything that allocates happens before fork: the parent may have other threads.
  std::vector<std::string> copy = argv_s;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // SIGTERM or SIGKILL to this process must not leave the child writing plots, reports or
    // rows into a folder the user believes finished: it gets SIGTERM when its parent dies (also
    // if that happened before this line: then getppid() is no longer the parent).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(128 + SIGTERM);
    if (wire && !wire()) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int RunProgram(const std::vector<std::string>& argv, const std::string& stdout_path) {
  const char* path = stdout_path.c_str();
  const pid_t pid = SpawnChild(argv, [&] {
    if (stdout_path.empty()) return true;
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return fd >= 0 && dup2(fd, STDOUT_FILENO) >= 0;
  });
  if (pid < 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int RunPythonScript(const std::string& script, const std::vector<std::string>& args) {
  const std::string path = FindProjectFile("scripts/" + script);
  if (path.empty()) throw std::runtime_error("cannot find scripts/" + script + " (set ATTNBENCH_SOURCE_DIR to the source tree)");
  const char* env = std::getenv("ATTNBENCH_PYTHON");
  std::vector<std::string> argv = {env && *env ? env : "/usr/bin/python3", path};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv);
}

}  // namespace attnbench::bench
