// A slow subscriber against fast producers. The subscriber may only process
// an event when the test hands it a credit, so the test knows exactly how far
// delivery got and can check, at every step: the bus never accepted more than
// `queue_capacity` events beyond what was consumed (producers are held back),
// try_post then fails at once, nothing is dropped (each producer's events
// arrive complete and in order), and the process's peak memory stays bounded
// although the producers push far more payload than the bound through it.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "stress_support.hpp"

namespace {

using courier_stress::Figures;
using courier_stress::Rounds;

constexpr std::size_t kProducers = 4;
constexpr std::size_t kExecutors = 2;
constexpr std::size_t kCapacity = 64;
constexpr std::size_t kBallastBytes = 4096;

struct Payload {
  std::uint32_t producer;
  std::uint32_t sequence;
  std::vector<std::byte> ballast;  // what an unbounded queue would pile up
};
using Event = courier::Event<Payload>;

// Processes one event per credit, and checks each producer's events arrive
// once each, in order.
class SlowSubscriber final : public courier::Subscriber<Payload> {
 public:
  void start_round() { next_.fill(0); }
  void grant(std::ptrdiff_t credits) { credits_.release(credits); }

  void process(const Event& event) override {
    if (!credits_.try_acquire_for(courier_stress::kPromptly)) starved_.fetch_add(1);
    const Payload& payload = event.data();
    if (payload.sequence != next_[payload.producer] || payload.ballast.size() != kBallastBytes) {
      out_of_order_.fetch_add(1);
    }
    next_[payload.producer] = payload.sequence + 1;
    processed_.add();
  }

  std::uint32_t received_from(std::size_t producer) const { return next_[producer]; }
  std::uint64_t starved() const { return starved_.load(); }
  std::uint64_t out_of_order() const { return out_of_order_.load(); }
  const courier_stress::Tally& processed() const { return processed_; }

 private:
  std::counting_semaphore<> credits_{0};
  std::array<std::uint32_t, kProducers> next_{};  // Serial: one invocation at a time
  std::atomic<std::uint64_t> starved_{0};
  std::atomic<std::uint64_t> out_of_order_{0};
  courier_stress::Tally processed_;
};

// Hands out credits in random batches; before each batch, waits until the
// producers have filled the queue, then checks they are held there.
struct Pacer {
  courier::EventBus& bus;
  SlowSubscriber& subscriber;
  const courier_stress::Tally& accepted;
  std::uint64_t total;
  std::uint64_t granted = 0;
  std::uint64_t refused_try_posts = 0;

  void run(std::mt19937_64& random) {
    while (granted < total) {
      const std::uint64_t full = std::min(granted + kCapacity, total);
      ASSERT_TRUE(accepted.wait_for_at_least(full, courier_stress::kPromptly))
          << "producers stalled at " << accepted.value() << " accepted events, " << granted
          << " consumed, capacity " << kCapacity;
      ASSERT_LE(accepted.value(), granted + kCapacity)
          << "the bus accepted more than its capacity beyond what was consumed";
      if (full == granted + kCapacity) expect_try_post_refused();
      const std::uint64_t batch =
          std::min<std::uint64_t>(1 + random() % kCapacity, total - granted);
      granted += batch;
      subscriber.grant(static_cast<std::ptrdiff_t>(batch));
    }
  }

  // The queue is full and stays so until the next grant: try_post must say
  // so at once (a blocking try_post would wait for this very thread).
  void expect_try_post_refused() {
    const auto start = std::chrono::steady_clock::now();
    const bool accepted_probe = bus.try_post(Event("probe.full", Payload{0, 0, {}}));
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(accepted_probe) << "try_post accepted an event into a full queue";
    EXPECT_LT(took, std::chrono::seconds(1)) << "try_post took long on a full queue";
    ++refused_try_posts;
  }
};

TEST(BackpressureStress, SlowSubscriberHoldsProducersAndMemoryStaysBounded) {
  const courier_stress::Watchdog scenario(
      "BackpressureStress.SlowSubscriberHoldsProducersAndMemoryStaysBounded",
      courier_stress::scenario_bound());
  auto subscriber = std::make_shared<SlowSubscriber>();
  auto owned_bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = kExecutors, .queue_capacity = kCapacity});
  courier::EventBus& bus = *owned_bus;
  bus.subscribe(subscriber, "bulk.>");

  const bool peak_resettable = courier_stress::reset_peak_rss();
  const std::uint64_t baseline_kib = courier_stress::peak_rss_kib();
  const std::size_t per_producer = courier_stress::scaled(5000);
  Figures figures{.scenario = "backpressure", .threads = kProducers + kExecutors};
  std::uint64_t refused_try_posts = 0;
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("backpressure round " + std::to_string(rounds.index()));
    subscriber->start_round();
    courier_stress::Tally accepted;
    std::vector<std::thread> producers;
    for (std::uint32_t p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (std::uint32_t i = 0; i < per_producer; ++i) {
          bus.post(Event("bulk.p" + std::to_string(p),
                         Payload{p, i, std::vector<std::byte>(kBallastBytes)}));
          accepted.add();
        }
      });
    }
    Pacer pacer{bus, *subscriber, accepted, kProducers * per_producer};
    std::mt19937_64 random(courier_stress::round_seed(rounds.index()));
    pacer.run(random);
    if (HasFailure()) subscriber->grant(static_cast<std::ptrdiff_t>(pacer.total));  // unblock
    for (std::thread& producer : producers) producer.join();
    EXPECT_TRUE(subscriber->processed().wait_for_at_least(figures.events + pacer.total,
                                                          courier_stress::kPromptly));
    for (std::size_t p = 0; p < kProducers; ++p) {
      EXPECT_EQ(subscriber->received_from(p), per_producer) << "producer " << p;
    }
    figures.events += pacer.total;
    refused_try_posts += pacer.refused_try_posts;
    if (HasFailure()) break;
  }
  if (!courier_stress::drain_or_abandon(owned_bus)) return;
  bus.wait_idle();
  EXPECT_EQ(subscriber->starved(), 0u) << "the subscriber waited for a credit that never came";
  EXPECT_EQ(subscriber->out_of_order(), 0u) << "events dropped, duplicated or out of order";
  EXPECT_EQ(bus.stats().delivered, figures.events);

  // An unbounded queue would have held every payload at once; the bound is a
  // queue's worth of payloads plus what the process needs anyway.
  const std::uint64_t peak_growth_kib = courier_stress::peak_rss_kib() - baseline_kib;
  const std::uint64_t payload_kib = figures.events * kBallastBytes / 1024;
  const std::uint64_t bound_kib = 4 * kCapacity * kBallastBytes / 1024 + 16 * 1024;
  std::printf(
      "[  STRESS  ] backpressure: peak RSS grew %llu KiB (bound %llu KiB, peak %s) while "
      "%llu KiB of payload went through; %llu try_posts refused on a full queue\n",
      static_cast<unsigned long long>(peak_growth_kib), static_cast<unsigned long long>(bound_kib),
      peak_resettable ? "reset at start" : "not resettable",
      static_cast<unsigned long long>(payload_kib),
      static_cast<unsigned long long>(refused_try_posts));
  if (courier_stress::kAddressSanitizer || courier_stress::kThreadSanitizer) {
    // Their quarantine and shadow memory grow with what was freed, not held.
    std::printf("[  STRESS  ] backpressure: peak RSS not checked under a sanitizer\n");
  } else if (payload_kib < 2 * bound_kib) {
    std::printf("[  STRESS  ] backpressure: too little payload to tell, peak RSS not checked\n");
  } else {
    EXPECT_LT(peak_growth_kib, bound_kib) << "memory grew with the payload posted";
  }
  figures.deliveries = figures.events;
  figures.faults = refused_try_posts;
  figures.report(rounds);
}

}  // namespace
