// The plot and compare commands are Python scripts (Debian's python3-matplotlib, python3-scipy,
// and google/benchmark's tools from libbenchmark-tools). This runs one with the system
// interpreter -- /usr/bin/python3, or $ATTNBENCH_PYTHON -- because a python3 earlier on PATH
// (pyenv, a venv) usually lacks those packages. The peers runner (peers.h) uses RunProgram with
// the interpreter of its own venv.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace attnbench::bench {

// Forks and execs argv[0] (a path, not searched on PATH) with argv. The child gets SIGTERM when
// this process dies (also if that happened before it could ask), so no tool or runner outlives a
// killed bench. In the child, before exec, `wire` sets up its file descriptors and returns false
// when it cannot (the child then exits 127); after fork only async-signal-safe calls (open, dup,
// dup2) belong in it. Returns the child's pid, or -1 with errno set.
pid_t SpawnChild(const std::vector<std::string>& argv, const std::function<bool()>& wire = {});

// Runs argv[0] (a path, not searched on PATH) with argv and waits. With stdout_path, the child's
// stdout goes to that file (truncated). The child gets SIGTERM when this process dies. Returns its exit status, 127 when it cannot be started,
// 128 + signal when it died of one.
int RunProgram(const std::vector<std::string>& argv, const std::string& stdout_path = "");

// Runs <project>/scripts/<script> with args and returns its exit status (as RunProgram). Throws
// std::runtime_error when the script is not found.
int RunPythonScript(const std::string& script, const std::vector<std::string>& args);

}  // namespace attnbench::bench
