// Presence and on_disconnect under churn (issue 16 item 2): churn threads
// make subscriptions with identities (callables, Concurrent callables,
// objects, streams) and end them in every way there is (Subscription::cancel,
// ScopedSubscription, unsubscribe of the object, the tracked owner gone,
// Stream::close, the stream destroyed, or left for the bus's shutdown and
// destruction), while producers post events for random audiences and other
// threads read presence. Checked: every on_disconnect runs exactly once (by
// the end of the round, the bus destroyed; at once for the ends that return
// after it); presence never lists a subscription after its end returned;
// no event reaches a subscription outside its audience; and a witness in
// every audience gets every event.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "stress_support.hpp"

namespace {

using courier::Concurrency;
using courier::Identity;
using courier_stress::Figures;
using courier_stress::Rounds;

constexpr std::size_t kUsers = 8;
constexpr std::size_t kProducers = 2;
constexpr std::size_t kChurners = 3;
constexpr std::size_t kExecutors = 3;
const std::array<const char*, 3> kTopics = {"room.1", "room.2", "room.1.x"};
const std::array<const char*, 4> kPatterns = {"room.1", "room.*", "room.>", ">"};

// The payload names its audience: bit u is user u.
struct Payload {
  std::uint32_t audience_bits;
};
using Event = courier::Event<Payload>;

std::string user_name(std::size_t user) { return "u" + std::to_string(user); }

struct Violations {
  std::atomic<std::uint64_t> outside_audience{0};
  std::atomic<std::uint64_t> listed_after_end{0};
  std::atomic<std::uint64_t> not_disconnected_on_return{0};
  std::atomic<std::uint64_t> disconnects_not_once{0};
};

// One churned subscription: its id (a label, for presence), its user, and
// how many times its on_disconnect ran.
struct Record {
  std::string id;
  std::size_t user = 0;
  std::atomic<int> disconnects{0};
  std::atomic<std::uint64_t> deliveries{0};
};

// Checks an event against the subscription that received it.
void received(const Event& event, Record& record, Violations& violations) {
  if ((event.data().audience_bits & (1U << record.user)) == 0) {
    violations.outside_audience.fetch_add(1);
  }
  record.deliveries.fetch_add(1, std::memory_order_relaxed);
}

class ObjectSubscriber : public courier::Subscriber<Payload> {
 public:
  ObjectSubscriber(Record& record, Violations& violations)
      : record_(record), violations_(violations) {}
  void process(const Event& event) override { received(event, record_, violations_); }

 private:
  Record& record_;
  Violations& violations_;
};

bool listed(const courier::EventBus& bus, const std::string& id) {
  for (const Identity& identity : bus.presence(">")) {
    const auto found = identity.labels.find("id");
    if (found != identity.labels.end() && found->second == id) return true;
  }
  return false;
}

enum class Ending { Cancel, Scoped, Unsubscribe, OwnerGone, StreamClose, StreamDestroy, Left };
constexpr int kEndings = 7;

// Makes one subscription for `record` and ends it as `ending` says (Left:
// keeps it in `kept` for the bus's shutdown and destruction).
void churn_one(courier::EventBus& bus, Record& record, Ending ending, std::mt19937_64& random,
               Violations& violations, std::vector<courier::Subscription>& kept) {
  const Identity identity{.user = user_name(record.user), .labels = {{"id", record.id}}};
  auto on_disconnect = [&record] { record.disconnects.fetch_add(1); };
  const char* pattern = kPatterns[random() % kPatterns.size()];
  auto handler = [&record, &violations](const Event& event) {
    received(event, record, violations);
  };
  const bool concurrent = random() % 2 == 0;
  auto check_ended = [&] {
    if (listed(bus, record.id)) violations.listed_after_end.fetch_add(1);
  };
  auto check_ran = [&] {
    if (record.disconnects.load() != 1) violations.not_disconnected_on_return.fetch_add(1);
  };
  switch (ending) {
    case Ending::Cancel:
    case Ending::Left: {
      courier::Subscription subscription = bus.subscribe<Payload>(
          {pattern}, handler, concurrent ? Concurrency::Concurrent : Concurrency::Serial,
          {.identity = identity, .on_disconnect = on_disconnect});
      if (ending == Ending::Left) {
        kept.push_back(std::move(subscription));
        return;
      }
      std::this_thread::yield();
      subscription.cancel();
      check_ended();
      check_ran();
      return;
    }
    case Ending::Scoped: {
      {
        const courier::ScopedSubscription scoped(bus.subscribe<Payload>(
            pattern, handler, {.identity = identity, .on_disconnect = on_disconnect}));
        std::this_thread::yield();
      }
      check_ended();
      check_ran();
      return;
    }
    case Ending::Unsubscribe: {
      auto object = std::make_shared<ObjectSubscriber>(record, violations);
      (void)bus.subscribe(object, pattern, {.identity = identity, .on_disconnect = on_disconnect});
      std::this_thread::yield();
      bus.unsubscribe(object);
      check_ended();
      check_ran();
      return;
    }
    case Ending::OwnerGone: {
      auto owner = std::make_shared<int>(0);
      kept.push_back(bus.subscribe<Payload>(
          pattern, handler,
          {.track = owner, .identity = identity, .on_disconnect = on_disconnect}));
      std::this_thread::yield();
      owner.reset();
      check_ended();  // on_disconnect: once the bus notices, at the latest at its end
      return;
    }
    case Ending::StreamClose:
    case Ending::StreamDestroy: {
      courier::Stream<Payload> stream =
          bus.stream<Payload>(pattern, {.depth = 16,
                                        .overflow = courier::Overflow::DropNewest,
                                        .identity = identity,
                                        .on_disconnect = on_disconnect});
      while (auto event = stream.next(std::chrono::milliseconds(0))) {
        received(*event, record, violations);
      }
      if (ending == Ending::StreamClose) {
        stream.close();
      } else {
        courier::Stream<Payload> gone = std::move(stream);
      }
      check_ended();
      check_ran();
      return;
    }
  }
}

TEST(PresenceStress, OnDisconnectOncePresenceExactAudienceRespected) {
  const courier_stress::Watchdog scenario("presence stress", courier_stress::scenario_bound());
  Violations violations;
  Figures figures{.scenario = "presence", .threads = kProducers + kChurners + kExecutors + 1};
  const std::size_t per_producer = courier_stress::scaled(4000);
  const std::size_t per_churner = courier_stress::scaled(300);
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("presence round " + std::to_string(rounds.index()));
    const bool synchronous = rounds.index() % 3 == 2;
    std::vector<std::vector<std::unique_ptr<Record>>> records(kChurners);
    std::atomic<std::uint64_t> witness_got{0};
    std::uint64_t posted = 0;
    {
      courier::EventBus bus(synchronous
                                ? courier::Options{.synchronous = true}
                                : courier::Options{.threads = kExecutors, .queue_capacity = 256});
      // In every audience: gets every event.
      std::array<std::vector<courier::Subscription>, kChurners> kept;
      const courier::Subscription witness = bus.subscribe<Payload>(
          ">", [&](const Event&) { witness_got.fetch_add(1, std::memory_order_relaxed); },
          {.identity = Identity{.user = "witness"}});
      std::atomic<bool> producing{true};
      std::vector<std::thread> threads;
      for (std::size_t p = 0; p < kProducers; ++p) {
        threads.emplace_back([&, p] {
          std::mt19937_64 random(courier_stress::round_seed(rounds.index()) + p);
          for (std::size_t i = 0; i < per_producer; ++i) {
            const auto bits = static_cast<std::uint32_t>(random() & ((1U << kUsers) - 1));
            Event event(kTopics[random() % kTopics.size()], Payload{bits});
            std::vector<std::string> users{"witness"};
            for (std::size_t u = 0; u < kUsers; ++u) {
              if ((bits & (1U << u)) != 0) users.push_back(user_name(u));
            }
            event.set_audience(courier::Audience(users));
            bus.post(std::move(event));
          }
        });
      }
      for (std::size_t c = 0; c < kChurners; ++c) {
        threads.emplace_back([&, c] {
          std::mt19937_64 random(courier_stress::round_seed(rounds.index()) + 100 + c);
          for (std::size_t i = 0; i < per_churner; ++i) {
            auto& record = *records[c].emplace_back(std::make_unique<Record>());
            record.id = std::to_string(c) + "." + std::to_string(i);
            record.user = random() % kUsers;
            churn_one(bus, record, static_cast<Ending>(random() % kEndings), random, violations,
                      kept[c]);
          }
        });
      }
      std::thread reader([&] {
        while (producing.load()) (void)bus.presence("room.>");
      });
      for (auto& thread : threads) thread.join();
      producing = false;
      reader.join();
      posted = kProducers * per_producer;
      bus.wait_idle();
      // The bus's end: shutdown (then destruction) ends what was left.
    }
    EXPECT_EQ(witness_got.load(), posted);
    std::uint64_t churned = 0;
    for (const auto& mine : records) {
      for (const auto& record : mine) {
        ++churned;
        if (record->disconnects.load() != 1) violations.disconnects_not_once.fetch_add(1);
        figures.deliveries += record->deliveries.load();
      }
    }
    figures.events += posted;
    figures.faults += churned;
    EXPECT_EQ(violations.outside_audience.load(), 0U);
    EXPECT_EQ(violations.listed_after_end.load(), 0U);
    EXPECT_EQ(violations.not_disconnected_on_return.load(), 0U);
    EXPECT_EQ(violations.disconnects_not_once.load(), 0U);
    if (::testing::Test::HasFailure()) break;
  }
  figures.report(rounds);
}

}  // namespace
