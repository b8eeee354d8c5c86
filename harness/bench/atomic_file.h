// Files the bench writes are replaced atomically: the content goes to a temporary file in the
// same directory (unnamed, O_TMPFILE, when the file system can: it vanishes even on SIGKILL), is
// flushed to disk, then renamed over the target. A reader (or an interrupted run) sees the old
// file or the new one, never half of one. SIGINT / SIGTERM during a write remove a named
// temporary file before the process dies.
#pragma once

#include <string>

namespace attnbench::bench {

// Throws std::runtime_error (naming the path and errno) when the file cannot be written; the
// target is then untouched and no temporary file is left behind.
void WriteFileAtomic(const std::string& path, const std::string& content);

// The whole content of path ("" when it cannot be read): the reading side of the files above.
std::string ReadWholeFile(const std::string& path);

// Removes temporary files (".NAME.tmp.PID") in dir left by a writer that no longer runs: only
// the named fallback (no O_TMPFILE) can leave one, and only when killed with SIGKILL.
void RemoveStaleTempFiles(const std::string& dir);

// The temporary name used for path (exposed for tests): "<dir>/.<name>.tmp.<pid>".
std::string TempPathFor(const std::string& path);

// Installs the SIGINT / SIGTERM handler that unlinks a temporary file being written and then
// dies of the signal as before. Idempotent.
void InstallInterruptCleanup();

// For a run that stops cleanly: the first SIGINT / SIGTERM only records the signal
// (InterruptSignal() returns it from then on) so the caller can abandon the current cell, write
// what is complete and exit; a second one behaves as InstallInterruptCleanup (unlinks the
// temporary file being written, dies of the signal). Replaces that handler. Idempotent.
void InstallGracefulInterrupt();
// The first SIGINT / SIGTERM received since InstallGracefulInterrupt, 0 when none.
int InterruptSignal();

// The run files a results directory may hold (sweep.json first): a directory with any of them
// holds a run, which a new bench must not overwrite without --force (--resume continues it).
// Returns the first one found, "" when none.
std::string ExistingRunFile(const std::string& dir);
// --force: removes the run files, and plots/ and peers/, from dir; other files stay.
void RemoveRunFiles(const std::string& dir);

// An exclusive lock (flock) on dir/.attnbench.lock while it lives: two benches writing into one
// directory would interleave their files. Throws InputError naming the holder's pid when another
// process holds it. Released when the process ends, however it ends.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace attnbench::bench
