// The asymmetric fence behind BiasedLock (exclusive_lock.hpp): Linux's
// membarrier, in its private expedited form, which interrupts only the CPUs
// running this process's threads and needs the process registered once.
#include <atomic>
#include <cstdint>

#include "courier/detail/delivery/exclusive_lock.hpp"

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace courier::detail {
namespace {

#if defined(__linux__)
long membarrier(int command) noexcept { return syscall(SYS_membarrier, command, 0U, 0); }
#endif

bool register_for_fences() noexcept {
#if defined(__linux__)
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#else
  return false;
#endif
}

}  // namespace

bool asymmetric_fence_available() noexcept {
  static const bool available = register_for_fences();
  return available;
}

void asymmetric_fence() noexcept {
#if defined(__linux__)
  membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
#endif
}

}  // namespace courier::detail
