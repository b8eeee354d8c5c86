#include "atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "../grid.h"  // InputError

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

volatile sig_atomic_t g_first_signal = 0;

void OnGracefulInterrupt(int sig) {
  if (g_first_signal == 0) {
    g_first_signal = sig;
    static const char msg[] = "\nattnbench: interrupt received; stopping after writing the results so far "
                              "(interrupt again to abort now)\n";
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    return;
  }
  OnInterrupt(sig);
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

void InstallGracefulInterrupt() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa {};
  sa.sa_handler = &OnGracefulInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking poll() in the isolation parent returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int InterruptSignal() { return g_first_signal; }

void RemoveStaleTempFiles(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const auto at = name.rfind(".tmp.");
    if (name.empty() || name[0] != '.' || at == std::string::npos) continue;
    const std::string pid_text = name.substr(at + 5);
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == getpid() || (kill(pid, 0) == 0 || errno == EPERM)) continue;  // a live writer
    std::filesystem::remove(e.path(), ec);
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFileAtomic(const std::string& path, const std::string& content) {
  const std::string tmp = TempPathFor(path);
  if (tmp.size() >= sizeof g_tmp_path) throw std::runtime_error("path too long: " + path);
  // Block the signals while the handler's view of the temporary file changes.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  // Preferred: an unnamed file (O_TMPFILE) that vanishes if the process dies, even of SIGKILL,
  // while it is written and synced; it gets a name only for the instant between linkat() and
  // rename(), with SIGINT / SIGTERM blocked.
  {
    const std::string dir = std::filesystem::path(path).parent_path().empty()
                                ? std::string(".")
                                : std::filesystem::path(path).parent_path().string();
    const int fd = open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
      size_t done = 0;
      while (done < content.size()) {
        const ssize_t n = write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          const auto e = Error("write", path);
          close(fd);
          throw e;
        }
        done += static_cast<size_t>(n);
      }
      if (fsync(fd) != 0) {
        const auto e = Error("fsync", path);
        close(fd);
        throw e;
      }
      char proc[64];
      std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
      sigprocmask(SIG_BLOCK, &block, &old);
      unlink(tmp.c_str());
      int rc = linkat(AT_FDCWD, proc, AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW);
      const char* what = "link";
      if (rc == 0) {
        rc = rename(tmp.c_str(), path.c_str());
        what = "rename";
        if (rc != 0) unlink(tmp.c_str());
      }
      const auto e = rc ? Error(what, path) : std::runtime_error("");
      sigprocmask(SIG_SETMASK, &old, nullptr);
      close(fd);
      if (rc != 0) throw e;
      return;
    }
  }
  // Fallback (a file system without O_TMPFILE): a named temporary file.
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

namespace {
const char* const kRunFiles[] = {"sweep.json", "summary.csv", "bench.json", "env.json", "report.md"};
}

std::string ExistingRunFile(const std::string& dir) {
  for (const char* f : kRunFiles) {
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::path(dir) / f, ec)) return f;
  }
  return {};
}

void RemoveRunFiles(const std::string& dir) {
  const std::filesystem::path d(dir);
  std::error_code ec;
  for (const char* f : kRunFiles) std::filesystem::remove(d / f, ec);
  std::filesystem::remove_all(d / "plots", ec);
  std::filesystem::remove_all(d / "peers", ec);
}

DirectoryLock::DirectoryLock(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / ".attnbench.lock").string();
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError("cannot create the lock file " + path + ": " + std::strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    [[maybe_unused]] const ssize_t n = pread(fd_, pid, sizeof pid - 1, 0);
    close(fd_);
    fd_ = -1;
    throw InputError("'" + dir + "' is in use by another attnbench bench (pid " +
                     std::string(pid[0] ? pid : "?") + "); wait for it or use another --out");
  }
  const std::string me = std::to_string(getpid());
  if (ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t n = pwrite(fd_, me.data(), me.size(), 0);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) close(fd_);  // closing releases the flock
}

}  // namespace attnbench::bench
