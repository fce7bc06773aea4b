#include "courier/event_bus.hpp"

#include "routing/tracking.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace courier {

EventBus::EventBus(Options options)
    : core_(std::make_shared<detail::BusCore>(options)),
      middleware_(std::make_unique<detail::MiddlewareChain>(*core_, options.stamp_events)),
      retained_(std::make_unique<detail::RetainedStore>(options.max_retained)),
      stamp_events_(options.stamp_events) {}

Stats EventBus::stats() const {
  Stats stats = core_->stats();
  stats.vetoed = middleware_->vetoed();
  stats.retained = retained_->size();
  return stats;
}

MiddlewareCookie EventBus::add_middleware(Middleware middleware) {
  return add_middleware_until(std::move(middleware), {}, ">");
}

MiddlewareCookie EventBus::add_middleware(Middleware middleware, std::stop_token until) {
  return add_middleware_until(
      std::move(middleware), [until = std::move(until)] { return until.stop_requested(); }, ">");
}

MiddlewareCookie EventBus::add_middleware_until(Middleware middleware,
                                                std::function<bool()> expired,
                                                std::string pattern) {
  if (!middleware) {
    throw std::invalid_argument("courier: add_middleware() was given an empty function");
  }
  return middleware_->add(std::move(middleware), std::move(expired), std::move(pattern));
}

bool EventBus::remove_middleware(MiddlewareCookie cookie) { return middleware_->remove(cookie); }

EventBus::~EventBus() {
  if (core_->on_own_thread()) {
    std::fputs(
        "courier: an EventBus was destroyed from one of its own handlers; "
        "its executor threads cannot join themselves\n",
        stderr);
    std::abort();
  }
  core_->shutdown();
  core_->release_subscribers();
}

namespace detail {

void add_stream_settings(SubscriberSettings& settings, std::optional<Identity> identity,
                         std::function<void()> on_disconnect) {
  if (identity) {
    if (settings.identity != nullptr) {
      throw std::invalid_argument(
          "courier: stream() was given an identity in both StreamOptions and SubscribeOptions "
          "(user \"" +
          identity->user.substr(0, 64) + "\")");
    }
    identity->validate();
    settings.identity = std::make_unique<const Identity>(std::move(*identity));
  }
  if (on_disconnect) {
    if (settings.on_disconnect) {
      throw std::invalid_argument(
          "courier: stream() was given on_disconnect in both StreamOptions and SubscribeOptions");
    }
    settings.on_disconnect = std::move(on_disconnect);
  }
}

void reject_null_subscriber(std::span<const std::string_view> topic_patterns) {
  std::string listed;
  for (std::string_view pattern : topic_patterns) {
    listed += (listed.empty() ? "\"" : ", \"") + std::string(pattern) + "\"";
  }
  throw std::invalid_argument("courier: subscribe() was given a null subscriber for " + listed);
}

}  // namespace detail

EventBus::StreamParts EventBus::add_stream(const std::type_info& type,
                                           std::vector<TopicPattern> patterns,
                                           const std::shared_ptr<detail::StreamQueueBase>& queue,
                                           std::unique_ptr<detail::Handler> handler,
                                           detail::SubscriberSettings settings) {
  if (settings.screen != nullptr && settings.screen->tracked) {
    throw std::invalid_argument(
        "courier: a stream on \"" + patterns.front().str() +
        "\" cannot track an owner (SubscribeOptions::track): it ends with its Stream object");
  }
  auto subscriber = std::make_shared<detail::SubscriberCore>(
      type, patterns, Concurrency::Serial, 1, std::move(handler), nullptr, std::move(settings));
  if (std::shared_ptr<detail::LanePuller> puller = queue->puller()) {
    // Before the subscriber can be routed to: see detail/streams/lane_stream.hpp.
    subscriber->set_puller(std::move(puller));
    queue->attach(core_, subscriber);
  }
  const std::weak_ptr<detail::BusCore> bus = core_;
  const std::weak_ptr<detail::SubscriberCore> weak_subscriber = subscriber;
  queue->connect(
      [bus, weak_subscriber] {
        const auto live_bus = bus.lock();
        const auto live_subscriber = weak_subscriber.lock();
        if (live_bus && live_subscriber) live_bus->resume_deliveries(*live_subscriber);
      },
      // A drop is reported from offer(), which only this bus's delivery
      // calls: the bus is alive then. Not a weak_ptr lock per drop, which the
      // executors dropping for many streams at once would contend on.
      [core = core_.get(), pattern = patterns.front().str()](std::string_view topic,
                                                             std::uint64_t dropped) {
        core->report_drop(topic, pattern, dropped);
      });
  const std::weak_ptr<detail::StreamQueueBase> weak_queue = queue;
  boost::signals2::connection end_connection =
      core_->shutdown_hook.connect([weak_queue](bool drained) {
        const auto live_queue = weak_queue.lock();
        if (live_queue == nullptr) return;
        if (drained) return live_queue->end();
        live_queue->bus_closing();
      });
  if (core_->closed()) queue->bus_closing();
  if (core_->drained()) queue->end();
  Subscription subscription(core_, retained_->subscribe(*core_, subscriber), std::move(patterns));
  return {std::move(subscription), subscriber, std::move(end_connection)};
}

Subscription EventBus::add(const std::type_info& type,
                           std::span<const std::string_view> topic_patterns,
                           Concurrency concurrency, std::unique_ptr<detail::Handler> handler,
                           const void* identity, detail::SubscriberSettings settings) {
  std::vector<TopicPattern> patterns = detail::parse_patterns(topic_patterns);
  // Only a tracking subscriber's calls go through TrackedHandler.
  detail::TrackedHandler* tracked = nullptr;
  if (settings.screen != nullptr && settings.screen->tracked) {
    auto wrapped =
        std::make_unique<detail::TrackedHandler>(std::move(handler), settings.screen->owner);
    tracked = wrapped.get();
    handler = std::move(wrapped);
  }
  auto candidate = std::make_shared<detail::SubscriberCore>(
      type, patterns, concurrency, core_->concurrent_lanes(), std::move(handler), identity,
      std::move(settings));
  if (tracked != nullptr) tracked->bind(core_, *candidate);
  return Subscription(core_, retained_->subscribe(*core_, std::move(candidate)),
                      std::move(patterns));
}

}  // namespace courier
