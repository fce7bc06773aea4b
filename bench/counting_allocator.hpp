// A global operator new that counts, for the "allocations per post" figure.
//
// Linking counting_allocator.cpp into a program replaces operator new and
// delete for the whole program. Counting is off unless switched on, so the
// baselines that allocate on every post (Asio) are not slowed down by a shared
// counter in the other workloads.
#pragma once

#include <cstdint>

namespace bench {

// Counts allocations made by any thread from now on.
void start_counting_allocations() noexcept;

// Stops counting; returns how many allocations were made since the start.
std::uint64_t stop_counting_allocations() noexcept;

}  // namespace bench
