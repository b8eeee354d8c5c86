#include "atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace attnbench::bench {

namespace {

// The temporary file being written right now, for the signal handler (which may only call
// async-signal-safe functions: unlink, signal, raise).
char g_tmp_path[4096];
volatile sig_atomic_t g_tmp_active = 0;

void OnInterrupt(int sig) {
  if (g_tmp_active) unlink(g_tmp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

std::runtime_error Error(const std::string& what, const std::string& path) {
  return std::runtime_error("cannot write " + path + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

std::string TempPathFor(const std::string& path) {
  const std::filesystem::path p(path);
  return (p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(getpid()))).string();
}

void InstallInterruptCleanup() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa {};
  sa.sa_handler = &OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void WriteFileAtomic(const std::string& path, const std::string& content) {
  const std::string tmp = TempPathFor(path);
  if (tmp.size() >= sizeof g_tmp_path) throw std::runtime_error("path too long: " + path);
  // Block the signals while the handler's view of the temporary file changes.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old);
  std::memcpy(g_tmp_path, tmp.c_str(), tmp.size() + 1);
  g_tmp_active = 1;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  auto give_up = [&](const char* what) {
    const auto e = Error(what, path);
    unlink(tmp.c_str());
    g_tmp_active = 0;
    return e;
  };
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw give_up("open");
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      throw give_up("write");
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    close(fd);
    throw give_up("fsync");
  }
  if (close(fd) != 0) throw give_up("close");
  sigprocmask(SIG_BLOCK, &block, &old);
  const int rc = rename(tmp.c_str(), path.c_str());
  g_tmp_active = 0;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) {
    const auto e = Error("rename", path);
    unlink(tmp.c_str());
    throw e;
  }
}

}  // namespace attnbench::bench
