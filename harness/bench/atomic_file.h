// Files the bench writes are replaced atomically: the content goes to a temporary file in the
// same directory, is flushed to disk, then renamed over the target. A reader (or an interrupted
// run) sees the old file or the new one, never half of one. SIGINT / SIGTERM during a write
// remove the temporary file before the process dies.
#pragma once

#include <string>

namespace attnbench::bench {

// Throws std::runtime_error (naming the path and errno) when the file cannot be written; the
// target is then untouched and no temporary file is left behind.
void WriteFileAtomic(const std::string& path, const std::string& content);

// The temporary name used for path (exposed for tests): "<dir>/.<name>.tmp.<pid>".
std::string TempPathFor(const std::string& path);

// Installs the SIGINT / SIGTERM handler that unlinks a temporary file being written and then
// dies of the signal as before. Idempotent.
void InstallInterruptCleanup();

}  // namespace attnbench::bench
