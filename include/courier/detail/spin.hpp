// Bounded spinning: wait a few microseconds for something that is about to
// happen before paying for a sleep and a wake-up.
#pragma once

#include <chrono>

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

// Spins until `ready()` or `limit` has passed, whatever a pause costs on this
// processor (from a few to over a hundred cycles): the clock is read once
// every few dozen pauses. Returns ready().
template <class Predicate>
bool spin_for(std::chrono::nanoseconds limit, Predicate ready) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (spin_until(ready, 32)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

}  // namespace courier::detail
