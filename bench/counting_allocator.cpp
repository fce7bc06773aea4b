// Replaces the global operator new/delete with counting versions over malloc.
// Array and nothrow forms need no replacement: the standard library's call
// these.
//
// COURIER_BENCH_TRACE_ALLOCATIONS=N prints the call stacks of the first N
// counted allocations to stderr, to find where a post allocates.
#include "counting_allocator.hpp"

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace {

std::atomic<bool> counting{false};
std::atomic<std::uint64_t> allocations{0};
std::uint64_t stacks_to_print = 0;  // set before counting starts

// backtrace() allocates with malloc, not operator new: no recursion.
void print_stack(std::size_t size) noexcept {
  std::fprintf(stderr, "counting_allocator: allocation of %zu bytes from\n", size);
  void* frames[32];
  backtrace_symbols_fd(frames, backtrace(frames, 32), STDERR_FILENO);
}

void count_one(std::size_t size) noexcept {
  if (!counting.load(std::memory_order_relaxed)) return;
  if (allocations.fetch_add(1, std::memory_order_relaxed) < stacks_to_print) print_stack(size);
}

}  // namespace

namespace bench {

void start_counting_allocations() noexcept {
  if (const char* trace = std::getenv("COURIER_BENCH_TRACE_ALLOCATIONS")) {
    stacks_to_print = std::strtoull(trace, nullptr, 10);
  }
  allocations.store(0, std::memory_order_relaxed);
  counting.store(true, std::memory_order_seq_cst);
}

std::uint64_t stop_counting_allocations() noexcept {
  counting.store(false, std::memory_order_seq_cst);
  return allocations.load(std::memory_order_relaxed);
}

}  // namespace bench

void* operator new(std::size_t size) {
  count_one(size);
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}

void* operator new(std::size_t size, std::align_val_t alignment) {
  count_one(size);
  const auto align = static_cast<std::size_t>(alignment);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (size + align - 1) / align * align;
  if (void* memory = std::aligned_alloc(align, rounded == 0 ? align : rounded)) return memory;
  throw std::bad_alloc();
}

void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
void operator delete(void* memory, std::align_val_t) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept { std::free(memory); }
