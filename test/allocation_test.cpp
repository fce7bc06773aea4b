// Posting allocates nothing in steady state (issue 4): the event is moved into
// a recycled slot, routed through a cached snapshot and delivered through
// delivery nodes the slot keeps. This binary replaces the global operator new
// to count every allocation, and to fail one on demand, so it is an
// executable of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <utility>

#include "courier/event_bus.hpp"

namespace {
std::atomic<std::size_t> allocations{0};
// Set by a test: the next allocation on this thread throws std::bad_alloc.
constinit thread_local bool fail_next_allocation = false;

// Every replacement operator new starts here.
void count_allocation() {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (std::exchange(fail_next_allocation, false)) throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) {
  count_allocation();
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
// Not inlined: g++ would then see std::free take what a `new` in the same
// function returned, and report the pair as mismatched.
[[gnu::noinline]] void operator delete(void* memory) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }

// The over-aligned forms too: envelopes are aligned to a cache line.
void* operator new(std::size_t size, std::align_val_t alignment) {
  count_allocation();
  const auto align = static_cast<std::size_t>(alignment);
  const std::size_t rounded = (std::max<std::size_t>(size, 1) + align - 1) / align * align;
  if (void* memory = std::aligned_alloc(align, rounded)) return memory;
  throw std::bad_alloc();
}
void operator delete(void* memory, std::align_val_t) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept { std::free(memory); }

namespace {

using Payload = std::array<char, 64>;  // the largest payload the goal covers

class Sink : public courier::Subscriber<Payload> {
 public:
  explicit Sink(courier::Concurrency concurrency) : courier::Subscriber<Payload>(concurrency) {}
  void process(const courier::Event<Payload>& event) override {
    checksum_.fetch_add(static_cast<unsigned char>(event.data()[0]), std::memory_order_relaxed);
  }
  std::size_t checksum() const { return checksum_.load(); }

 private:
  std::atomic<std::size_t> checksum_{0};
};

// Posts `count` events on a topic an event keeps in itself (up to 24 bytes,
// detail/small_text.hpp), with and without an ordering key, to `bus`.
void post_events(courier::EventBus& bus, int count) {
  Payload payload{};
  payload[0] = 1;
  for (int i = 0; i < count; ++i) {
    bus.post(courier::Event<Payload>("metrics.cpu", payload, i % 2 == 0 ? "" : "key"));
  }
}

std::size_t allocations_while(const auto& action) {
  const std::size_t before = allocations.load();
  action();
  return allocations.load() - before;
}

TEST(Allocation, AsynchronousPostAllocatesNothingInSteadyState) {
  constexpr std::size_t kCapacity = 64;
  courier::EventBus bus(courier::Options{.threads = 2, .queue_capacity = kCapacity});
  auto serial = std::make_shared<Sink>(courier::Concurrency::Serial);
  auto concurrent = std::make_shared<Sink>(courier::Concurrency::Concurrent);
  bus.subscribe(serial, "metrics.cpu");
  bus.subscribe(concurrent, "metrics.*");

  post_events(bus, 4 * kCapacity);  // warm up: every slot used, every thread's cache filled
  bus.wait_idle();

  constexpr int kPosts = 20000;
  const std::size_t allocated = allocations_while([&] {
    post_events(bus, kPosts);
    bus.wait_idle();
  });
  EXPECT_EQ(allocated, 0u) << "allocations per post: " << double(allocated) / kPosts;
  EXPECT_EQ(serial->checksum(), std::size_t{4 * kCapacity + kPosts});
  EXPECT_EQ(concurrent->checksum(), std::size_t{4 * kCapacity + kPosts});
}

TEST(Allocation, SynchronousPostAllocatesNothingInSteadyState) {
  courier::EventBus bus(courier::Options{.synchronous = true});
  auto sink = std::make_shared<Sink>(courier::Concurrency::Serial);
  bus.subscribe(sink, "metrics.>");
  post_events(bus, 10);

  constexpr int kPosts = 20000;
  const std::size_t allocated = allocations_while([&] { post_events(bus, kPosts); });
  EXPECT_EQ(allocated, 0u) << "allocations per post: " << double(allocated) / kPosts;
  EXPECT_EQ(sink->checksum(), std::size_t{10 + kPosts});
}

// A post whose routing fails to allocate throws, and the bus counts nothing
// for it: posted == delivered_events + dead still holds, and the next post
// goes through. The topic is new to this thread and longer than a
// std::string keeps in itself, so routing it copies it to the heap: that is
// the post's first allocation, the one made to fail.
void expect_failed_routing_not_counted(courier::EventBus& bus) {
  auto sink = std::make_shared<Sink>(courier::Concurrency::Serial);
  bus.subscribe(sink, "metrics.>");
  post_events(bus, 4);
  bus.wait_idle();

  courier::Event<Payload> event("metrics.cpu.core.seven", Payload{1});
  fail_next_allocation = true;
  EXPECT_THROW(bus.post(std::move(event)), std::bad_alloc);
  fail_next_allocation = false;
  bus.post(courier::Event<Payload>("metrics.cpu.core.seven", Payload{1}));
  bus.wait_idle();

  const courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.posted, 5u);
  EXPECT_EQ(stats.delivered_events, 5u);
  EXPECT_EQ(stats.dead, 0u);
  EXPECT_EQ(sink->checksum(), 5u);
}

TEST(Allocation, SynchronousPostWhoseRoutingFailsIsNotCounted) {
  courier::EventBus bus(courier::Options{.synchronous = true});
  expect_failed_routing_not_counted(bus);
}

// The asynchronous bus counted such a post correctly already; this guards it,
// and that the post's slot goes back to the queue (wait_idle() returns).
TEST(Allocation, AsynchronousPostWhoseRoutingFailsIsNotCounted) {
  courier::EventBus bus(courier::Options{.threads = 2, .queue_capacity = 8});
  expect_failed_routing_not_counted(bus);
  EXPECT_EQ(bus.stats().queued, 0u);
}

}  // namespace
