// Request-reply under faults: four requesters ask two servers that throw at
// random and then vanish one after the other, while another thread adds and
// removes middleware. Every request must finish exactly once, promptly, with
// an outcome its round allows:
//   - a reply, whose value is the right answer to that request;
//   - RemoteError, only if some server throws for that request;
//   - NoResponders, exactly for the requests made once the last server has
//     gone (the requesters meet there, so that the boundary is exact);
//   - never a Timeout (the bus lost a request or a reply), never nothing.
// Which server throws for which request is a function of the round's seed.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
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
constexpr int kLastServerGoneAt = 2 * kRequestsEach / 3;

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
  explicit RequestReplyRound(std::uint64_t seed)
      : seed_(seed), last_server_gone_(kRequesters + 1) {}

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

  // Server 1 goes while requests fly, once a third of them are answered.
  // Server 0 goes when every requester has made kLastServerGoneAt requests
  // and waits at the barrier: the requests after it find no server.
  void vanish(std::vector<courier::Subscription>& servers, Outcomes& outcomes) {
    const std::uint64_t total = kRequesters * kRequestsEach;
    wait_until(
        [&] { return outcomes.replies.load() + outcomes.remote_errors.load() >= total / 3; });
    servers[1].cancel();
    last_server_gone_.arrive_and_wait();
    servers[0].cancel();
    last_server_gone_.arrive_and_wait();
  }

  template <class Condition>
  static void wait_until(Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + courier_stress::kPromptly;
    while (!condition() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }

  void ask(courier::EventBus& bus, int requester_index, Outcomes& outcomes) {
    courier::Requester<std::int64_t> requester(bus);
    for (int i = 0; i < kRequestsEach; ++i) {
      if (i == kLastServerGoneAt) {
        last_server_gone_.arrive_and_wait();
        last_server_gone_.arrive_and_wait();
      }
      const bool no_server = i >= kLastServerGoneAt;
      const std::int64_t value = requester_index * 1'000'000 + i;
      auto reply = requester.request("rpc.work", value, courier_stress::kPromptly);
      if (reply.wait_for(2 * courier_stress::kPromptly) != std::future_status::ready) {
        ADD_FAILURE() << "request " << value << " never finished";
        outcomes.wrong.fetch_add(1);
        continue;
      }
      judge(reply, value, no_server, outcomes);
    }
  }

  void judge(std::future<courier::Event<std::int64_t>>& reply, std::int64_t value, bool no_server,
             Outcomes& outcomes) {
    try {
      const std::int64_t answer = reply.get().data();
      outcomes.replies.fetch_add(1);
      if (no_server || answer != value * 2) outcomes.wrong.fetch_add(1);
    } catch (const courier::RemoteError&) {
      outcomes.remote_errors.fetch_add(1);
      if (no_server || (!server_throws(seed_, 0, value) && !server_throws(seed_, 1, value))) {
        outcomes.wrong.fetch_add(1);
      }
    } catch (const courier::NoResponders&) {
      outcomes.no_responders.fetch_add(1);
      if (!no_server) outcomes.wrong.fetch_add(1);
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
  std::barrier<> last_server_gone_;
};

TEST(RequestReplyStress, EveryRequestFinishesOnceWithAnOutcomeItsRoundAllows) {
  courier_stress::Watchdog watchdog("RequestReplyStress", courier_stress::scenario_bound());
  Figures figures{.scenario = "request-reply, servers throwing and vanishing"};
  figures.threads = kRequesters + 2 + 1;
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    Outcomes outcomes;
    RequestReplyRound round(courier_stress::round_seed(rounds.index()));
    round.run(outcomes, figures);
    if (HasFatalFailure()) return;
    ASSERT_EQ(outcomes.wrong.load(), 0U);
    const std::uint64_t finished =
        outcomes.replies.load() + outcomes.remote_errors.load() + outcomes.no_responders.load();
    ASSERT_EQ(finished, static_cast<std::uint64_t>(kRequesters * kRequestsEach));
    // Each kind of outcome happens in every round: servers answer a third
    // of the requests before the first one goes, a fifth of them throwing.
    EXPECT_GT(outcomes.replies.load(), 0U);
    EXPECT_GT(outcomes.remote_errors.load(), 0U);
    EXPECT_GT(outcomes.no_responders.load(), 0U);
    figures.faults += outcomes.remote_errors.load() + outcomes.no_responders.load();
  }
  figures.report(rounds);
}

}  // namespace
