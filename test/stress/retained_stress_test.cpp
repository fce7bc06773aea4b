// Retained events racing new subscriptions: writer threads keep posting
// retained events, and live ones between them (one writer per topic,
// sequences rising), while subscriber
// threads subscribe (callables, Subscriber objects on several patterns,
// streams), wait for an event per topic, and cancel. Each new subscription's
// first event on a topic must be the retained value at subscribe or a later
// one, never an older one (the writer's last completed sequence, read before
// subscribe(), is a floor), and its sequences on a topic must rise strictly:
// never backwards (a retained event after a newer live one), never one twice.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "stress_support.hpp"

namespace {

using courier_stress::Figures;
using courier_stress::Rounds;

constexpr std::size_t kTopics = 4;
const std::array<const char*, kTopics> kTopicNames = {"ret.a", "ret.b", "ret.c.x", "ret.c.y"};
constexpr std::size_t kSubscribers = 2;

struct Violations {
  std::atomic<std::uint64_t> older_than_retained{0};
  std::atomic<std::uint64_t> backwards_or_twice{0};
  std::atomic<std::uint64_t> never_got_one{0};
};

// Writers: the last sequence whose post_retained() returned, per topic.
struct Floors {
  std::array<std::atomic<std::uint64_t>, kTopics> completed{};
};

std::size_t topic_index(std::string_view topic) {
  for (std::size_t i = 0; i < kTopics; ++i) {
    if (topic == kTopicNames[i]) return i;
  }
  return kTopics;
}

// One subscription's view: checks every event as it comes.
class Checker {
 public:
  Checker(const Floors& floors, Violations& violations) : violations_(violations) {
    for (std::size_t i = 0; i < kTopics; ++i) floor_[i] = floors.completed[i].load();
  }

  void on_event(std::string_view topic, std::uint64_t sequence) {
    const std::size_t index = topic_index(topic);
    if (index == kTopics) return;
    std::lock_guard lock(mutex_);
    if (last_[index] == 0 && sequence < floor_[index]) violations_.older_than_retained++;
    if (last_[index] != 0 && sequence <= last_[index]) violations_.backwards_or_twice++;
    if (last_[index] == 0) topics_seen_.add();
    last_[index] = sequence;
    events_.add();
  }
  // Every topic has been retained before the round's subscribers start.
  bool got_every_topic() const {
    return topics_seen_.wait_for_at_least(kTopics, courier_stress::kPromptly);
  }
  std::uint64_t events() const { return events_.value(); }

 private:
  Violations& violations_;
  std::array<std::uint64_t, kTopics> floor_{};
  std::mutex mutex_;
  std::array<std::uint64_t, kTopics> last_{};  // guarded by mutex_; 0: none yet
  courier_stress::Tally topics_seen_;
  courier_stress::Tally events_;
};

class CheckingSubscriber final : public courier::Subscriber<std::uint64_t> {
 public:
  explicit CheckingSubscriber(Checker& checker) : checker_(checker) {}
  void process(const courier::Event<std::uint64_t>& event) override {
    checker_.on_event(event.topic(), event.data());
  }

 private:
  Checker& checker_;
};

// Subscribes one way (by `how`), waits for every topic, cancels.
void subscribe_once(courier::EventBus& bus, std::size_t how, const Floors& floors,
                    Violations& violations, std::atomic<std::uint64_t>& deliveries) {
  Checker checker(floors, violations);
  if (how % 3 == 0) {
    courier::ScopedSubscription subscription(bus.subscribe<std::uint64_t>(
        "ret.>", [&checker](const courier::Event<std::uint64_t>& event) {
          checker.on_event(event.topic(), event.data());
        }));
    if (!checker.got_every_topic()) violations.never_got_one++;
  } else if (how % 3 == 1) {
    auto subscriber = std::make_shared<CheckingSubscriber>(checker);
    bus.subscribe(subscriber, {"ret.*", "ret.c.*", "ret.a"});
    if (!checker.got_every_topic()) violations.never_got_one++;
    bus.unsubscribe(subscriber);
  } else {
    auto stream = bus.stream<std::uint64_t>({"ret.*", "ret.c.>"},
                                            courier::StreamOptions{.depth = 2 * kTopics});
    std::thread reader([&] {
      while (auto event = stream.next(courier_stress::kPromptly)) {
        checker.on_event(event->topic(), event->data());
      }
    });
    if (!checker.got_every_topic()) violations.never_got_one++;
    stream.close();
    reader.join();
  }
  deliveries += checker.events();
}

void run_scenario(const char* name, bool synchronous) {
  courier_stress::Watchdog watchdog(name, courier_stress::scenario_bound());
  Violations violations;
  Figures figures{.scenario = name, .threads = kTopics + kSubscribers + 2};
  std::atomic<std::uint64_t> deliveries{0};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier::EventBus bus(synchronous ? courier::Options{.synchronous = true}
                                      : courier::Options{.threads = 2, .queue_capacity = 256});
    Floors floors;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (std::size_t topic = 0; topic < kTopics; ++topic) {
      bus.post_retained<std::uint64_t>(kTopicNames[topic], 1);
      floors.completed[topic] = 1;
      writers.emplace_back([&, topic] {
        for (std::uint64_t sequence = 2; !stop.load(); ++sequence) {
          // Live events between retained ones: none may overtake a
          // subscription's retained events.
          if (sequence % 3 == 0) {
            bus.post<std::uint64_t>(kTopicNames[topic], sequence);
            continue;
          }
          bus.post_retained<std::uint64_t>(kTopicNames[topic], sequence);
          floors.completed[topic].store(sequence);
          if (sequence % 64 == 0) std::this_thread::yield();  // let subscribers in
        }
      });
    }
    const std::size_t per_subscriber = courier_stress::scaled(60);
    std::vector<std::thread> subscribers;
    for (std::size_t s = 0; s < kSubscribers; ++s) {
      subscribers.emplace_back([&, s] {
        for (std::size_t i = 0; i < per_subscriber; ++i) {
          subscribe_once(bus, s + i, floors, violations, deliveries);
        }
      });
    }
    for (std::thread& subscriber : subscribers) subscriber.join();
    stop = true;
    for (std::thread& writer : writers) writer.join();
    bus.wait_idle();
    const courier::Stats stats = bus.stats();
    EXPECT_EQ(stats.retained, kTopics);
    EXPECT_EQ(stats.posted, stats.delivered_events + stats.dead);
    figures.events += stats.posted;
    figures.faults += kSubscribers * per_subscriber;
  }
  figures.deliveries = deliveries.load();
  EXPECT_EQ(violations.older_than_retained.load(), 0u);
  EXPECT_EQ(violations.backwards_or_twice.load(), 0u);
  EXPECT_EQ(violations.never_got_one.load(), 0u);
  figures.report(rounds);
}

TEST(RetainedStress, NewSubscriptionsNeverSeeAnOlderValueOrGoBackwards) {
  run_scenario("RetainedStress.Pool", false);
}

TEST(RetainedStress, SynchronousBusToo) { run_scenario("RetainedStress.Synchronous", true); }

}  // namespace
