// Bounded spinning: wait a few microseconds for something that is about to
// happen before paying for a sleep and a wake-up.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace courier::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until `ready()` or about a few microseconds have passed. Returns ready().
template <class Predicate>
bool spin_until(Predicate ready, int rounds = 256) noexcept(noexcept(ready())) {
  for (int i = 0; i < rounds; ++i) {
    if (ready()) return true;
    cpu_relax();
  }
  return ready();
}

}  // namespace courier::detail
