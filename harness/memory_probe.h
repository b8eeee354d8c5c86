// Measured memory of a backend's prepare + run (issue 12): the workspace a backend reports about
// itself (workspace_bytes) is its own claim; this measures what the process actually gained.
// Method: return freed heap to the OS (malloc_trim), reset the kernel's resident-set high-water
// mark (write 5 to /proc/self/clear_refs, Linux >= 4.0), note the resident set, and after the
// calls read the high-water mark again (VmHWM): the peak resident bytes above the start, which
// counts memory allocated and touched in prepare, held by the state, and transient in run.
// Pages allocated earlier and reused, or allocated but never touched, are not counted; thread
// stacks and lazily-initialised library buffers (OpenBLAS's on its first call) are. Linux only;
// elsewhere, or where /proc is not writable, measured() is false.
#pragma once

#include <cstdint>
#include <string>

namespace attnbench {

class MemoryProbe {
 public:
  // Starts measuring now (trims the heap, resets the high-water mark, reads the baseline).
  MemoryProbe();
  // Peak resident bytes above the baseline since construction (0 when not measured).
  uint64_t PeakAboveBaseline() const;
  bool measured() const { return ok_; }

 private:
  bool ok_ = false;
  uint64_t baseline_ = 0;
};

// True when `measured` bytes exceed what a backend claims by more than the margin the method's
// noise needs: max(4 MiB, a quarter of the claim). Page rounding, thread stacks and allocator
// slack stay below it; a buffer the backend did not report does not.
bool ExceedsClaim(uint64_t measured, uint64_t claimed);

// "48.0 MiB measured > 1.0 MiB claimed" style text for a flagged cell.
std::string DescribeMemoryExcess(uint64_t measured, uint64_t claimed);

}  // namespace attnbench
