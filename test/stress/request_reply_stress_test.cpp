// Request-reply under faults: four requesters ask two servers that throw at
// random and then vanish one after the other, while another thread adds and
// removes middleware. Every request must finish exactly once, promptly, with
// an outcome its round allows:
//   - a reply, whose value is the right answer to that request;
//   - RemoteError, only if some server throws for that request;
//   - NoResponders, only once the last server has begun to vanish;
//   - never a Timeout (the bus lost a request or a reply), never nothing.
// Which server throws for which request is a function of the round's seed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/middleware.hpp"
#include "courier/request_reply/requester.hpp"
#include "courier/request_reply/serve.hpp"
#include "stress_support.hpp"

namespace {

using courier_stress::Figures;
using courier_stress::Rounds;

constexpr int kRequesters = 4;
constexpr int kRequestsEach = 150;
constexpr int kServers = 2;

bool server_throws(std::uint64_t seed, int server, std::int64_t value) {
  return courier_stress::mix(seed ^ (static_cast<std::uint64_t>(value) << 4 | server)) % 5 == 0;
}

struct Outcomes {
  std::atomic<std::uint64_t> replies{0};
  std::atomic<std::uint64_t> remote_errors{0};
  std::atomic<std::uint64_t> no_responders{0};
  std::atomic<std::uint64_t> wrong{0};  // any outcome the round does not allow
};

class RequestReplyRound {
 public:
  explicit RequestReplyRound(std::uint64_t seed) : seed_(seed) {}

  void run(Outcomes& outcomes, Figures& figures) {
    courier::EventBus bus(courier::Options{.threads = 2, .queue_capacity = 64});
    std::atomic<std::uint64_t> bus_errors{0};
    auto error_hook = bus.on_error([&](const courier::DeliveryError&) { bus_errors.fetch_add(1); });
    std::vector<courier::Subscription> servers;
    for (int s = 0; s < kServers; ++s) servers.push_back(serve_on(bus, s));
    std::atomic<int> requesters_done{0};
    std::thread churn([&] { churn_middleware(bus, requesters_done, figures); });
    std::vector<std::thread> requesters;
    for (int r = 0; r < kRequesters; ++r) {
      requesters.emplace_back([&, r] {
        ask(bus, r, outcomes);
        requesters_done.fetch_add(1);
      });
    }
    vanish(servers, outcomes);
    for (auto& requester : requesters) requester.join();
    churn.join();
    ASSERT_TRUE(courier_stress::drains_within(bus, courier_stress::kPromptly));
    EXPECT_EQ(bus_errors.load(), 0U) << "a server's reply or a requester's completion failed";
    figures.events += bus.stats().posted;
    figures.deliveries += bus.stats().delivered;
  }

 private:
  courier::Subscription serve_on(courier::EventBus& bus, int server) {
    return courier::serve<std::int64_t>(
        bus, "rpc.work",
        [this, server](std::int64_t value) {
          if (server_throws(seed_, server, value)) throw std::runtime_error("injected");
          return value * 2;
        },
        courier::Concurrency::Concurrent);
  }

  // Server 1 goes once a third of the requests are answered, server 0 once
  // two thirds are; from then on requests find no server.
  void vanish(std::vector<courier::Subscription>& servers, Outcomes& outcomes) {
    const std::uint64_t total = kRequesters * kRequestsEach;
    const auto finished = [&] {
      return outcomes.replies.load() + outcomes.remote_errors.load() +
             outcomes.no_responders.load();
    };
    wait_until([&] { return finished() >= total / 3; });
    servers[1].cancel();
    wait_until([&] { return finished() >= 2 * total / 3; });
    last_server_going_.store(true);
    servers[0].cancel();
  }

  template <class Condition>
  static void wait_until(Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + courier_stress::kPromptly;
    while (!condition() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }

  void ask(courier::EventBus& bus, int requester_index, Outcomes& outcomes) {
    courier::Requester<std::int64_t> requester(bus);
    for (int i = 0; i < kRequestsEach; ++i) {
      const std::int64_t value = requester_index * 1'000'000 + i;
      auto reply = requester.request("rpc.work", value, courier_stress::kPromptly);
      if (reply.wait_for(2 * courier_stress::kPromptly) != std::future_status::ready) {
        ADD_FAILURE() << "request " << value << " never finished";
        outcomes.wrong.fetch_add(1);
        continue;
      }
      judge(reply, value, outcomes);
    }
  }

  void judge(std::future<courier::Event<std::int64_t>>& reply, std::int64_t value,
             Outcomes& outcomes) {
    try {
      const std::int64_t answer = reply.get().data();
      outcomes.replies.fetch_add(1);
      if (answer != value * 2) outcomes.wrong.fetch_add(1);
    } catch (const courier::RemoteError&) {
      outcomes.remote_errors.fetch_add(1);
      if (!server_throws(seed_, 0, value) && !server_throws(seed_, 1, value)) {
        outcomes.wrong.fetch_add(1);
      }
    } catch (const courier::NoResponders&) {
      outcomes.no_responders.fetch_add(1);
      if (!last_server_going_.load()) outcomes.wrong.fetch_add(1);
    } catch (...) {
      outcomes.wrong.fetch_add(1);  // Timeout, RequestAbandoned: lost
    }
  }

  static void churn_middleware(courier::EventBus& bus, std::atomic<int>& requesters_done,
                               Figures& figures) {
    while (requesters_done.load() < kRequesters) {
      const courier::MiddlewareCookie cookie = bus.add_middleware([](courier::PostedEvent& event) {
        event.set_header("seen-by", "churn");
        return courier::Verdict::Pass;
      });
      EXPECT_TRUE(bus.remove_middleware(cookie));
      ++figures.faults;
    }
  }

  const std::uint64_t seed_;
  std::atomic<bool> last_server_going_{false};
};

TEST(RequestReplyStress, EveryRequestFinishesOnceWithAnOutcomeItsRoundAllows) {
  courier_stress::Watchdog watchdog("RequestReplyStress", courier_stress::scenario_bound());
  Figures figures{.scenario = "request-reply, servers throwing and vanishing"};
  figures.threads = kRequesters + 2 + 1;
  Rounds rounds;
  Outcomes outcomes;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    RequestReplyRound round(courier_stress::round_seed(rounds.index()));
    round.run(outcomes, figures);
    ASSERT_EQ(outcomes.wrong.load(), 0U);
    if (HasFatalFailure()) return;
  }
  const std::uint64_t finished =
      outcomes.replies.load() + outcomes.remote_errors.load() + outcomes.no_responders.load();
  EXPECT_EQ(finished, rounds.count() * kRequesters * kRequestsEach);
  EXPECT_GT(outcomes.replies.load(), 0U);
  EXPECT_GT(outcomes.remote_errors.load(), 0U);
  EXPECT_GT(outcomes.no_responders.load(), 0U);
  figures.faults += outcomes.remote_errors.load() + outcomes.no_responders.load();
  figures.report(rounds);
}

}  // namespace
