// The synchronous bus under many posting threads whose handlers post again.
// Each post must have run every matching subscriber (and delivered whatever
// its handlers posted meanwhile) before it returns; a post from inside a
// handler must be queued, not delivered recursively; Serial subscribers and
// same-key invocations of Concurrent ones must never overlap across threads;
// and in the end every event reached exactly the subscribers that match it.
// Besides the shared "sync." topics, each poster has a topic of its own with
// one Serial subscriber ("lone.N"), which it posts to several times in a row:
// the synchronous post's shortest path. Now and then a poster posts to its
// neighbour's, which ends the neighbour's bias on that subscriber's lock
// while the neighbour is posting.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "reference_topic_matcher.hpp"
#include "stress_support.hpp"

namespace {

using courier::Concurrency;
using courier_stress::Figures;
using courier_stress::Rounds;

struct Payload {
  std::uint32_t id;
  std::uint32_t depth;  // 0 for events posted by the test, n for the n-th re-post
};
using Event = courier::Event<Payload>;

constexpr std::size_t kPosters = 6;
constexpr std::uint32_t kMaxDepth = 3;
constexpr std::uint32_t kNoChild = ~std::uint32_t{0};
constexpr int kKeys = 5;
// Posts in a row to a lone topic after each shared one (from the third on, a
// thread's posts take the shortest path), and how often a poster posts to
// its neighbour's instead.
constexpr int kLoneRepeats = 4;
constexpr std::size_t kCrossEvery = 64;

// Subscribers and the patterns they use; the relay is the one that re-posts.
const std::array<std::pair<const char*, Concurrency>, 4> kSubscriptions = {{
    {"sync.>", Concurrency::Serial},        // the relay
    {"sync.*.a", Concurrency::Serial},      // exclusion across posting threads
    {"sync.>", Concurrency::Concurrent},    // per-key exclusion (keyed events)
    {"sync.2.*", Concurrency::Concurrent},  // unkeyed, anything goes but counts
}};

constexpr std::uint8_t kShared = 0;  // an event's lone topic: none, or poster + 1

std::string topic_for(std::uint32_t id, std::uint32_t depth, std::uint8_t lone) {
  if (lone != kShared) return "lone." + std::to_string(lone - 1);
  return "sync." + std::to_string(depth) + (id % 2 == 0 ? ".a" : ".b");
}

// Per event id: its topic, how often it was delivered, the child its relay
// posted. Ids come from one counter shared by posters and handlers.
class Registry {
 public:
  explicit Registry(std::size_t ids)
      : size_(ids),
        deliveries_(std::make_unique<std::atomic<std::uint8_t>[]>(ids)),
        child_(std::make_unique<std::atomic<std::uint32_t>[]>(ids)),
        depth_(std::make_unique<std::atomic<std::uint8_t>[]>(ids)),
        lone_(std::make_unique<std::atomic<std::uint8_t>[]>(ids)) {
    for (std::size_t i = 0; i < ids; ++i) child_[i].store(kNoChild);
  }

  bool next_id(std::uint32_t depth, std::uint8_t lone, std::uint32_t& id) {
    const std::uint64_t next = next_.fetch_add(1);
    if (next >= size_) return false;
    id = static_cast<std::uint32_t>(next);
    depth_[id].store(static_cast<std::uint8_t>(depth));
    lone_[id].store(lone);
    return true;
  }
  void delivered(std::uint32_t id) { deliveries_[id].fetch_add(1); }
  void set_child(std::uint32_t parent, std::uint32_t child) { child_[parent].store(child); }

  unsigned deliveries_of(std::uint32_t id) const { return deliveries_[id].load(); }
  std::uint32_t child_of(std::uint32_t id) const { return child_[id].load(); }
  std::uint64_t used() const { return std::min<std::uint64_t>(next_.load(), size_); }
  std::uint8_t lone_of(std::uint32_t id) const { return lone_[id].load(); }
  std::string topic_of(std::uint32_t id) const {
    return topic_for(id, depth_[id].load(), lone_[id].load());
  }

 private:
  const std::size_t size_;
  std::atomic<std::uint64_t> next_{0};
  std::unique_ptr<std::atomic<std::uint8_t>[]> deliveries_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> child_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> depth_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> lone_;
};

unsigned expected_deliveries(const std::string& topic) {
  unsigned count = topic.starts_with("lone.") ? 1 : 0;
  for (const auto& [pattern, concurrency] : kSubscriptions) {
    count += courier_reference::matches(pattern, topic) ? 1 : 0;
  }
  return count;
}

struct Violations {
  std::atomic<std::uint64_t> recursion{0};     // a handler ran inside another on one thread
  std::atomic<std::uint64_t> overlap{0};       // exclusive invocations overlapped
  std::atomic<std::uint64_t> not_deferred{0};  // a handler's post delivered before it returned
  std::atomic<std::uint64_t> incomplete{0};    // post returned before all deliveries
};

// Counts this thread's handlers in progress: above one means the bus called
// a handler from inside another, which a synchronous bus must not do.
thread_local int handlers_on_this_thread = 0;

class Handlers {
 public:
  Handlers(Registry& registry, Violations& violations)
      : registry_(registry), violations_(violations) {}

  // The bus must not outlive this object's registry and violations.
  void subscribe_all(courier::EventBus& bus) {
    bus_ = &bus;
    bus_->subscribe<Payload>(kSubscriptions[0].first,
                             [this](const Event& e) { relay(e, serial_relay_running_, kShared); });
    bus_->subscribe<Payload>(kSubscriptions[1].first,
                             [this](const Event& e) { exclusive(e, serial_running_); });
    bus_->subscribe<Payload>(
        kSubscriptions[2].first,
        [this](const Event& e) { exclusive(e, keyed_running_[e.data().id % kKeys]); },
        Concurrency::Concurrent);
    bus_->subscribe<Payload>(
        kSubscriptions[3].first, [this](const Event& e) { enter_and_record(e); },
        Concurrency::Concurrent);
    for (std::size_t poster = 0; poster < kPosters; ++poster) {
      const auto lone = static_cast<std::uint8_t>(poster + 1);
      bus_->subscribe<Payload>(topic_for(0, 0, lone), [this, lone](const Event& e) {
        relay(e, lone_running_[lone - 1], lone);
      });
    }
  }

 private:
  struct Scope {
    explicit Scope(Violations& violations) {
      if (++handlers_on_this_thread > 1) violations.recursion.fetch_add(1);
    }
    ~Scope() { --handlers_on_this_thread; }
  };

  void enter_and_record(const Event& event) {
    const Scope scope(violations_);
    registry_.delivered(event.data().id);
  }

  void exclusive(const Event& event, std::atomic<int>& running) {
    if (running.fetch_add(1) != 0) violations_.overlap.fetch_add(1);
    enter_and_record(event);
    running.fetch_sub(1);
  }

  // Re-posts one level deeper, to a shared topic or to the same lone one;
  // the re-post must be queued behind this event.
  void relay(const Event& event, std::atomic<int>& running, std::uint8_t lone) {
    if (running.fetch_add(1) != 0) violations_.overlap.fetch_add(1);
    enter_and_record(event);
    const Scope scope(violations_);
    std::uint32_t child;
    const std::uint32_t depth = event.data().depth + 1;
    if (depth <= kMaxDepth && registry_.next_id(depth, lone, child)) {
      registry_.set_child(event.data().id, child);
      bus_->post(Event(topic_for(child, depth, lone), Payload{child, depth},
                       "key-" + std::to_string(child % kKeys)));
      if (registry_.deliveries_of(child) != 0) violations_.not_deferred.fetch_add(1);
    }
    running.fetch_sub(1);
  }

  courier::EventBus* bus_ = nullptr;
  Registry& registry_;
  Violations& violations_;
  std::atomic<int> serial_relay_running_{0};
  std::atomic<int> serial_running_{0};
  std::array<std::atomic<int>, kKeys> keyed_running_{};
  std::array<std::atomic<int>, kPosters> lone_running_{};
};

// After post(root) returned: the root and every descendant its handlers
// posted were delivered to every subscriber they match.
void check_chain_complete(const Registry& registry, std::uint32_t root, Violations& violations) {
  for (std::uint32_t id = root; id != kNoChild; id = registry.child_of(id)) {
    if (registry.deliveries_of(id) != expected_deliveries(registry.topic_of(id))) {
      violations.incomplete.fetch_add(1);
    }
  }
}

TEST(SynchronousStress, ManyPostingThreadsWithReentrantHandlers) {
  const courier_stress::Watchdog scenario(
      "SynchronousStress.ManyPostingThreadsWithReentrantHandlers",
      courier_stress::scenario_bound());
  Violations violations;
  const std::size_t roots_per_poster = courier_stress::scaled(5000);
  Figures figures{.scenario = "synchronous-reentrant", .threads = kPosters};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("synchronous bus, round " + std::to_string(rounds.index()));
    // A fresh bus per round, declared last: its handlers use what precedes it.
    Registry registry(kPosters * roots_per_poster * (1 + kLoneRepeats) * (kMaxDepth + 1));
    Handlers handlers(registry, violations);
    courier::EventBus bus(courier::Options{.synchronous = true});
    handlers.subscribe_all(bus);

    courier_stress::run_together(kPosters, [&](std::size_t poster) {
      const auto own = static_cast<std::uint8_t>(poster + 1);
      const auto neighbour = static_cast<std::uint8_t>((poster + 1) % kPosters + 1);
      std::uint32_t root;
      for (std::size_t i = 0; i < roots_per_poster && registry.next_id(0, kShared, root); ++i) {
        bus.post(Event(topic_for(root, 0, kShared), Payload{root, 0},
                       "key-" + std::to_string(root % kKeys)));
        check_chain_complete(registry, root, violations);
        // In the round's second half, now and then, the neighbour's topic:
        // the first such post ends the neighbour's bias mid-stream.
        const bool cross = i >= roots_per_poster / 2 && i % kCrossEvery == 0;
        const std::uint8_t lone = cross ? neighbour : own;
        for (int repeat = 0; repeat < kLoneRepeats && registry.next_id(0, lone, root); ++repeat) {
          bus.post(Event(topic_for(root, 0, lone), Payload{root, 0}));
          check_chain_complete(registry, root, violations);
        }
      }
    });

    std::uint64_t expected = 0, lost = 0;
    for (std::uint32_t id = 0; id < registry.used(); ++id) {
      const unsigned wanted = expected_deliveries(registry.topic_of(id));
      expected += wanted;
      if (registry.deliveries_of(id) < wanted) lost += wanted - registry.deliveries_of(id);
      if (registry.deliveries_of(id) != wanted) {
        ADD_FAILURE() << "event " << id << " on \"" << registry.topic_of(id) << "\" delivered "
                      << registry.deliveries_of(id) << " times, expected " << wanted;
        break;
      }
    }
    const courier::Stats stats = bus.stats();
    EXPECT_EQ(stats.posted, registry.used());
    EXPECT_EQ(stats.delivered, expected);
    EXPECT_EQ(stats.delivered_events, registry.used());
    EXPECT_EQ(stats.dead, 0u);
    figures.events += registry.used();
    figures.deliveries += expected;
    figures.lost += lost;
    if (HasFailure()) break;
  }
  EXPECT_EQ(violations.recursion.load(), 0u) << "handlers called recursively";
  EXPECT_EQ(violations.overlap.load(), 0u) << "exclusive invocations overlapped";
  EXPECT_EQ(violations.not_deferred.load(), 0u) << "posts from handlers delivered at once";
  EXPECT_EQ(violations.incomplete.load(), 0u) << "post returned before every delivery";
  figures.report(rounds);
  EXPECT_EQ(figures.lost, 0u);
}

}  // namespace
