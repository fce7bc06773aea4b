// Request-reply (request_reply/requester.hpp, serve.hpp): replies, the
// errors a request can end with, and many requesters at once.
#include "courier/request_reply/requester.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>

#include "courier/event_bus.hpp"
#include "courier/pipeline/manual_clock.hpp"
#include "courier/request_reply/serve.hpp"
#include "test_support.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::Requester;
using courier_test::kBoundedWait;
using namespace std::chrono_literals;

struct Sum {
  int a = 0;
  int b = 0;
};

Options pool_of_two() { return Options{.threads = 2}; }

// A subscriber of "rpc.silent" that receives requests and never answers.
// wait_for_requests() returns once `requests` have arrived, so that a test
// advances its clock only for requests already in flight.
class SilentServer {
 public:
  SilentServer(EventBus& bus, std::ptrdiff_t requests)
      : received_(requests),
        subscription_(bus.subscribe<int>("rpc.silent",
                                         [this](const Event<int>&) { received_.count_down(); })) {}

  void wait_for_requests() { received_.wait(); }

 private:
  std::latch received_;
  courier::ScopedSubscription subscription_;  // cancelled before the latch ends
};

template <class T>
T get_within_bound(std::future<T>& future) {
  EXPECT_EQ(future.wait_for(kBoundedWait), std::future_status::ready);
  return future.get();
}

TEST(RequestReply, AServedRequestGetsItsReplyWithTheRequestsCorrelationId) {
  EventBus bus(pool_of_two());
  auto server = courier::serve<Sum>(bus, "rpc.add", [](const Sum& sum) { return sum.a + sum.b; });
  Requester<int> requester(bus);
  auto reply = requester.request("rpc.add", Sum{2, 3}, 10s);
  const Event<int> event = get_within_bound(reply);
  EXPECT_EQ(event.data(), 5);
  EXPECT_EQ(event.topic(), requester.inbox());
  EXPECT_NE(event.headers().find(courier::kCorrelationIdHeader), nullptr);
}

TEST(RequestReply, TheServerSeesTheReplyHeadersAndMayTakeTheWholeEvent) {
  EventBus bus(pool_of_two());
  auto server = courier::serve<int>(bus, "rpc.echo", [](const Event<int>& request) {
    return std::string(*request.headers().find(courier::kReplyToHeader));
  });
  Requester<std::string> requester(bus);
  auto reply = requester.request("rpc.echo", 1, 10s);
  EXPECT_EQ(get_within_bound(reply).data(), requester.inbox());
}

TEST(RequestReply, AThrowingServerReachesTheCallerAsRemoteErrorWithItsMessage) {
  EventBus bus(pool_of_two());
  auto server = courier::serve<int>(
      bus, "rpc.fail", [](int) -> int { throw std::runtime_error("division by zero"); });
  Requester<int> requester(bus);
  auto reply = requester.request("rpc.fail", 1, 10s);
  ASSERT_EQ(reply.wait_for(kBoundedWait), std::future_status::ready);
  try {
    reply.get();
    FAIL() << "no exception";
  } catch (const courier::RemoteError& error) {
    EXPECT_EQ(error.topic(), "rpc.fail");
    EXPECT_EQ(error.remote_message(), "division by zero");
    EXPECT_TRUE(courier_test::mentions(error.what(), "division by zero"));
  }
}

// With no server, the request is a dead event: it fails with NoResponders at
// once, although its timeout (on a clock nobody advances) never comes.
TEST(RequestReply, NoServerFailsFastAsADeadEventNotAfterTheTimeout) {
  EventBus bus(pool_of_two());
  courier::ManualClock clock;
  Requester<int> requester(bus, clock);
  auto reply = requester.request("rpc.nobody", 1, 1h);
  ASSERT_EQ(reply.wait_for(kBoundedWait), std::future_status::ready);
  try {
    reply.get();
    FAIL() << "no exception";
  } catch (const courier::NoResponders& error) {
    EXPECT_EQ(error.topic(), "rpc.nobody");
  }
}

// A server of another payload type is no server: the request is dead too.
TEST(RequestReply, AServerOfAnotherPayloadTypeIsNoServer) {
  EventBus bus(pool_of_two());
  auto server = courier::serve<std::string>(bus, "rpc.add", [](const std::string&) { return 0; });
  Requester<int> requester(bus);
  auto reply = requester.request("rpc.add", Sum{1, 1}, 10s);
  ASSERT_EQ(reply.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_THROW(reply.get(), courier::NoResponders);
}

TEST(RequestReply, ASilentServerTimesOutOnTheRequestersClock) {
  EventBus bus(pool_of_two());
  SilentServer silent(bus, 1);
  courier::ManualClock clock;
  Requester<int> requester(bus, clock);
  auto reply = requester.request("rpc.silent", 1, 250ms);
  silent.wait_for_requests();
  clock.advance(249ms);
  EXPECT_EQ(reply.wait_for(0s), std::future_status::timeout);
  clock.advance(1ms);
  ASSERT_EQ(reply.wait_for(kBoundedWait), std::future_status::ready);
  try {
    reply.get();
    FAIL() << "no exception";
  } catch (const courier::Timeout& error) {
    EXPECT_EQ(error.pattern(), "rpc.silent");
    EXPECT_EQ(error.timeout(), 250ms);
  }
}

// Requests share one timer armed for the earliest deadline: a shorter
// timeout made after a longer one still ends first, and the longer one
// still ends at its own deadline.
TEST(RequestReply, EachRequestTimesOutAtItsOwnDeadlineWhateverTheOrderMade) {
  EventBus bus(pool_of_two());
  SilentServer silent(bus, 3);
  courier::ManualClock clock;
  Requester<int> requester(bus, clock);
  auto long_wait = requester.request("rpc.silent", 1, 1h);
  auto short_wait = requester.request("rpc.silent", 2, 100ms);
  auto middle_wait = requester.request("rpc.silent", 3, 1min);
  silent.wait_for_requests();
  clock.advance(100ms);
  ASSERT_EQ(short_wait.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_THROW(short_wait.get(), courier::Timeout);
  EXPECT_EQ(middle_wait.wait_for(0s), std::future_status::timeout);
  clock.advance(1min);
  ASSERT_EQ(middle_wait.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_EQ(long_wait.wait_for(0s), std::future_status::timeout);
  clock.advance(1h);
  ASSERT_EQ(long_wait.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_THROW(long_wait.get(), courier::Timeout);
}

TEST(RequestReply, DestroyingTheRequesterAbandonsWhatIsStillWaiting) {
  EventBus bus(pool_of_two());
  auto silent = bus.subscribe<int>("rpc.silent", [](const Event<int>&) {});
  std::future<Event<int>> reply;
  {
    courier::ManualClock clock;
    Requester<int> requester(bus, clock);
    reply = requester.request("rpc.silent", 1, 1h);
  }
  ASSERT_EQ(reply.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_THROW(reply.get(), courier::RequestAbandoned);
}

TEST(RequestReply, BadTopicsAndTimeoutsAreRejectedBeforeAnythingIsPosted) {
  EventBus bus(pool_of_two());
  Requester<int> requester(bus);
  EXPECT_THROW(requester.request("rpc..add", 1, 1s), std::invalid_argument);
  EXPECT_THROW(requester.request("rpc.add", 1, 0s), std::invalid_argument);
  bus.wait_idle();
  EXPECT_EQ(bus.stats().posted, 0U);
}

TEST(RequestReply, AClosedBusThrowsBusClosedAndForgetsTheRequest) {
  EventBus bus(pool_of_two());
  Requester<int> requester(bus);
  bus.shutdown();
  EXPECT_THROW(requester.request("rpc.add", 1, 1s), courier::BusClosed);
}

TEST(RequestReply, AsyncRequestCompletesACallbackOnItsExecutor) {
  EventBus bus(pool_of_two());
  auto server = courier::serve<Sum>(bus, "rpc.add", [](const Sum& sum) { return sum.a + sum.b; });
  Requester<int> requester(bus);
  boost::asio::io_context context;
  std::optional<int> result;
  std::thread::id ran_on;
  requester.async_request(
      "rpc.add", Sum{4, 5}, 10s,
      boost::asio::bind_executor(context.get_executor(),
                                 [&](std::exception_ptr error, std::optional<Event<int>> reply) {
                                   EXPECT_FALSE(error);
                                   if (reply) result = reply->data();
                                   ran_on = std::this_thread::get_id();
                                 }));
  context.run();  // returns once the handler ran: the completion holds work until then
  EXPECT_EQ(result, 9);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

// call() waits on the calling thread: on a pool and on a synchronous bus
// (where the reply has come before the request's post returns).
TEST(RequestReply, CallReturnsTheReplyOnAPoolAndOnASynchronousBus) {
  for (const bool synchronous : {false, true}) {
    EventBus bus(Options{.threads = 2, .synchronous = synchronous});
    auto server = courier::serve<Sum>(bus, "rpc.add", [](const Sum& sum) { return sum.a + sum.b; });
    Requester<int> requester(bus);
    for (int i = 0; i < 100; ++i) {
      const Event<int> reply = requester.call("rpc.add", Sum{i, 7}, 10s);
      EXPECT_EQ(reply.data(), i + 7) << (synchronous ? "synchronous" : "pool");
      EXPECT_EQ(reply.topic(), requester.inbox());
    }
  }
}

TEST(RequestReply, CallThrowsRemoteErrorAndNoRespondersAsTheFutureWould) {
  EventBus bus(pool_of_two());
  auto server = courier::serve<int>(
      bus, "rpc.fail", [](int) -> int { throw std::runtime_error("division by zero"); });
  Requester<int> requester(bus);
  try {
    requester.call("rpc.fail", 1, 10s);
    FAIL() << "no exception";
  } catch (const courier::RemoteError& error) {
    EXPECT_EQ(error.topic(), "rpc.fail");
    EXPECT_EQ(error.remote_message(), "division by zero");
  }
  EXPECT_THROW(requester.call("rpc.nobody", 1, 10s), courier::NoResponders);
  EXPECT_THROW(requester.call("rpc..add", 1, 10s), std::invalid_argument);
}

// A call whose reply never comes sleeps past its spin, and its timeout (on
// the requester's clock) wakes it.
TEST(RequestReply, ACallThatTimesOutIsWokenByItsTimeout) {
  EventBus bus(pool_of_two());
  SilentServer silent(bus, 1);
  courier::ManualClock clock;
  Requester<int> requester(bus, clock);
  auto outcome = std::async(std::launch::async, [&requester] {
    try {
      requester.call("rpc.silent", 1, 250ms);
    } catch (const courier::Timeout& error) {
      return error.timeout();
    }
    return std::chrono::nanoseconds{0};
  });
  silent.wait_for_requests();
  clock.advance(250ms);
  ASSERT_EQ(outcome.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_EQ(outcome.get(), 250ms);
}

// Many threads calling through one requester at once: each gets its own
// answer, whether it caught it spinning or was woken.
TEST(RequestReply, ManyThreadsCallingOneRequesterEachGetTheirOwnAnswers) {
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 300;
  EventBus bus(Options{.threads = 2, .queue_capacity = 64});
  auto server = courier::serve<Sum>(
      bus, "rpc.add", [](const Sum& sum) { return sum.a + sum.b; },
      courier::Concurrency::Concurrent);
  Requester<int> requester(bus);
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&requester, &right, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        if (requester.call("rpc.add", Sum{t * 100000, i}, 60s).data() == t * 100000 + i) {
          right.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(right.load(), kThreads * kCallsPerThread);
}

// Many requesters on several threads, each asking its own questions of two
// Concurrent servers: every reply is the answer to its own request.
TEST(RequestReply, ManyConcurrentRequestersEachGetTheirOwnReplies) {
  constexpr int kThreads = 4;
  constexpr int kRequestsPerThread = 300;
  EventBus bus(Options{.threads = 2, .queue_capacity = 64});
  auto server = courier::serve<Sum>(
      bus, "rpc.add", [](const Sum& sum) { return sum.a + sum.b; },
      courier::Concurrency::Concurrent);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&bus, &wrong, t] {
      Requester<int> requester(bus);
      std::vector<std::future<Event<int>>> replies;
      for (int i = 0; i < kRequestsPerThread; ++i) {
        replies.push_back(requester.request("rpc.add", Sum{t * 100000, i}, 60s));
      }
      for (int i = 0; i < kRequestsPerThread; ++i) {
        if (replies[static_cast<std::size_t>(i)].get().data() != t * 100000 + i) wrong.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
