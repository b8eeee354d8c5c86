#include "python_tool.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include "locate.h"

namespace attnbench::bench {

int RunPythonScript(const std::string& script, const std::vector<std::string>& args) {
  const std::string path = FindProjectFile("scripts/" + script);
  if (path.empty()) throw std::runtime_error("cannot find scripts/" + script + " (set ATTNBENCH_SOURCE_DIR to the source tree)");
  const char* env = std::getenv("ATTNBENCH_PYTHON");
  const std::string python = env && *env ? env : "/usr/bin/python3";
  std::vector<std::string> argv_s = {python, path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    execv(python.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace attnbench::bench
