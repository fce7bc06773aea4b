/// \class courier::EventBus
/// EventBus: publish/subscribe between the threads of one process.
///
/// \code
///   courier::EventBus bus;                                    // a pool of executor threads
///   bus.subscribe<int>("metrics.*", [](const courier::Event<int>& event) { ... });
///   bus.post(courier::Event<int>("metrics.cpu", 42));         // returns; the pool delivers
/// \endcode
///
/// Delivery contract (asynchronous bus, the default):
///  - post() moves the event into a bounded queue of Options::queue_capacity
///    events and returns; the bus's fixed pool of Options::threads executor
///    threads (a Boost.Asio thread_pool) delivers it. While the queue is full,
///    post() blocks and try_post() returns false: nothing accepted is dropped.
///  - A Serial subscriber (the default) is never called concurrently with itself
///    and sees events in post order: if post(a) returns before post(b) starts, a
///    is delivered first. Events posted concurrently from different threads
///    have no order between them.
///  - A Concurrent subscriber may be called on several threads at once, in any
///    order, except that events sharing a non-empty ordering key reach it in
///    post order, one at a time.
///  - These hold per subscriber: a Subscriber object (per payload type) is one
///    subscriber however many patterns it is subscribed to, and a callable is
///    one per subscribe() call. An event matching several of a subscriber's
///    patterns reaches it once.
///  - Causal order: an event posted by a handler while it processes event a
///    is a consequence of a, and every Serial subscriber that gets both gets a
///    first (so does a Concurrent one, for a and its consequence sharing an
///    ordering key), even though post(a) may not have returned yet.
///  - There is no order between different subscribers: one may see event b
///    before another has seen event a.
///  - An event reaches the subscriptions that were active when it was posted
///    and are still active when it is delivered (and, for one with a filter,
///    that the filter admits: SubscribeOptions; for an event with an
///    audience, whose identity's user is in it: audience.hpp).
///  - Priority (SubscribeOptions::priority) orders the subscribers of one
///    event where they run on one thread: on a synchronous bus, highest
///    first, then in the order they were first subscribed. On this bus it is
///    only the order in which the posting thread hands the event to their
///    lanes; it promises no order between subscribers.
///  - An exception thrown by a subscriber is caught, counted (Stats::failed) and
///    reported to the on_error hooks (default: one line on stderr); delivery
///    goes on. An event no subscriber took is dead: counted and reported to the
///    on_dead_event hooks.
///
/// Retained events (post_retained): the bus keeps the last retained event of
/// each topic. A new subscription (every subscribe() form, and stream())
/// receives, before any live event, the retained events of its payload type
/// whose topics its patterns match, with its filter applied: in topic order
/// (byte-wise), each once however many of its patterns match. A subscriber
/// object subscribed to more patterns receives those its earlier patterns did
/// not match. They count as posted events, one per subscription that
/// receives them. On this bus they enter the subscriber's lanes beyond the
/// queue's bound (subscribe() never waits for room), ahead of every live
/// event (for a Concurrent subscriber: ahead of those sharing their ordering
/// key). On a synchronous bus, subscribe() delivers them on the calling
/// thread before it returns (a Block stream then needs the depth to hold
/// them: its consumer cannot read before stream() returns).
///
/// Synchronous bus (Options::synchronous): post() calls every matching
/// subscriber on the posting thread before it returns. A post made from inside
/// a handler is queued on that thread and delivered once the current event is
/// done, so every subscriber sees events in one order and nothing recurses.
///
/// Thread safety: distinct objects: safe. Shared objects: safe; every member
/// may be called from any thread. From inside a handler of the same bus: post,
/// try_post, post_retained, clear_retained, subscribe, unsubscribe, is_subscribed, has_subscribers,
/// presence, shutdown and stats are safe (unsubscribe and shutdown then return without waiting, see
/// below); wait_idle throws std::logic_error, and destroying the bus is undefined.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <boost/signals2/connection.hpp>

#include "courier/audience.hpp"
#include "courier/detail/bus_core.hpp"
#include "courier/detail/cache_line.hpp"
#include "courier/detail/delivery/handler.hpp"
#include "courier/detail/delivery/subscriber_core.hpp"
#include "courier/detail/export.hpp"
#include "courier/detail/middleware_chain.hpp"
#include "courier/detail/routing/event_filter.hpp"
#include "courier/detail/routing/retained_store.hpp"
#include "courier/detail/routing/topic_patterns.hpp"
#include "courier/errors.hpp"
#include "courier/event.hpp"
#include "courier/hooks.hpp"
#include "courier/middleware.hpp"
#include "courier/options.hpp"
#include "courier/stats.hpp"
#include "courier/stream.hpp"
#include "courier/subscribe_options.hpp"
#include "courier/subscriber.hpp"
#include "courier/subscription.hpp"
#include "courier/topic.hpp"
#include "courier/topic_handle.hpp"

namespace courier {

namespace detail {
// Throws std::invalid_argument naming the patterns.
[[noreturn]] COURIER_EXPORT void reject_null_subscriber(
    std::span<const std::string_view> topic_patterns);
}  // namespace detail

/// A shared_ptr to some subclass of Subscriber<T>, T deduced.
template <class S>
concept SubscriberType = requires {
  typename S::data_type;
}
&&std::derived_from<S, Subscriber<typename S::data_type>>;

// The bus is aligned to a cache line and keeps its one written field on a
// line of its own: every post reads core_ (and an intercepted one the other
// fields of that line), and a neighbour written by a consumer thread (a
// counter declared next to the bus, say) would otherwise bounce that line
// between cores on each post.
class COURIER_EXPORT EventBus {
 public:
  /// Starts the executor threads. Throws std::invalid_argument for zero threads
  /// or zero capacity.
  explicit EventBus(Options options = {});

  /// Shuts down (see shutdown()), then lets go of every subscriber.
  ~EventBus();

  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  /// Subscribes `subscriber` to the topics matching `topic_pattern`. An object
  /// subscribed to several patterns is still one subscriber (see the order
  /// contract above), and an event matching several of them reaches it once.
  /// Subscribing the same subscriber to the same pattern again is a no-op that
  /// returns a handle to the existing subscription. `options` (a filter, a
  /// priority, an owner to track: SubscribeOptions) belong to the object:
  /// those of its first subscription stay. Thread-safe; takes effect for
  /// posts that start after it returns. Throws std::invalid_argument for a
  /// null subscriber, an invalid pattern, or options for an object already
  /// subscribed; courier::LimitExceeded past Options::max_subscriptions.
  template <SubscriberType S>
  Subscription subscribe(std::shared_ptr<S> subscriber, std::string_view topic_pattern,
                         SubscribeOptions<typename S::data_type> options = {}) {
    return subscribe(std::move(subscriber), {topic_pattern}, std::move(options));
  }

  /// Subscribes `subscriber` to every pattern of `topic_patterns` (one or
  /// more) at once: bus.subscribe(scanner, {"scan.*", "ui.click"}). Returns
  /// one Subscription, whose cancel() ends all of them. Throws
  /// std::invalid_argument, naming the first bad pattern, for an invalid
  /// pattern (then none is subscribed), for an empty list and for a null
  /// subscriber.
  template <SubscriberType S>
  Subscription subscribe(std::shared_ptr<S> subscriber,
                         std::initializer_list<std::string_view> topic_patterns,
                         SubscribeOptions<typename S::data_type> options = {}) {
    return subscribe_all(std::move(subscriber), topic_patterns, std::move(options));
  }

  /// The same for a list made at run time (from a configuration, say).
  template <SubscriberType S>
  Subscription subscribe(std::shared_ptr<S> subscriber, std::span<const std::string> topic_patterns,
                         SubscribeOptions<typename S::data_type> options = {}) {
    const std::vector<std::string_view> views(topic_patterns.begin(), topic_patterns.end());
    return subscribe_all(std::move(subscriber), views, std::move(options));
  }

  ///@{
  /// The same, naming the payload type: subscribe<int>(counter, "metrics.*").
  template <class T>
  Subscription subscribe(std::shared_ptr<Subscriber<T>> subscriber, std::string_view topic_pattern,
                         SubscribeOptions<T> options = {}) {
    return subscribe<Subscriber<T>>(std::move(subscriber), {topic_pattern}, std::move(options));
  }
  template <class T>
  Subscription subscribe(std::shared_ptr<Subscriber<T>> subscriber,
                         std::initializer_list<std::string_view> topic_patterns,
                         SubscribeOptions<T> options = {}) {
    return subscribe<Subscriber<T>>(std::move(subscriber), topic_patterns, std::move(options));
  }

  ///@}

  ///@{
  /// Subscribes a callable taking `const Event<T>&`, with `options` if given
  /// (a filter, a priority, an owner to track: SubscribeOptions). Each call
  /// makes a new subscriber, whatever the callable. Thread-safe. Throws
  /// std::invalid_argument for an invalid pattern, courier::LimitExceeded
  /// past Options::max_subscriptions.
  template <class T, class F>
  Subscription subscribe(std::string_view topic_pattern, F&& callable,
                         Concurrency concurrency = Concurrency::Serial,
                         SubscribeOptions<T> options = {}) {
    return subscribe<T>({topic_pattern}, std::forward<F>(callable), concurrency,
                        std::move(options));
  }
  template <class T, class F>
  Subscription subscribe(std::string_view topic_pattern, F&& callable,
                         SubscribeOptions<T> options) {
    return subscribe<T>({topic_pattern}, std::forward<F>(callable), Concurrency::Serial,
                        std::move(options));
  }
  ///@}

  ///@{
  /// The same for several patterns (one or more): one subscriber, one
  /// Subscription for all of them. Throws std::invalid_argument for an
  /// invalid pattern (then none is subscribed) or an empty list.
  template <class T, class F>
  Subscription subscribe(std::initializer_list<std::string_view> topic_patterns, F&& callable,
                         Concurrency concurrency = Concurrency::Serial,
                         SubscribeOptions<T> options = {}) {
    return subscribe_callable<T>(topic_patterns, std::forward<F>(callable), concurrency,
                                 std::move(options));
  }
  template <class T, class F>
  Subscription subscribe(std::initializer_list<std::string_view> topic_patterns, F&& callable,
                         SubscribeOptions<T> options) {
    return subscribe_callable<T>(topic_patterns, std::forward<F>(callable), Concurrency::Serial,
                                 std::move(options));
  }
  template <class T, class F>
  Subscription subscribe(std::span<const std::string> topic_patterns, F&& callable,
                         Concurrency concurrency = Concurrency::Serial,
                         SubscribeOptions<T> options = {}) {
    const std::vector<std::string_view> views(topic_patterns.begin(), topic_patterns.end());
    return subscribe_callable<T>(views, std::forward<F>(callable), concurrency, std::move(options));
  }
  template <class T, class F>
  Subscription subscribe(std::span<const std::string> topic_patterns, F&& callable,
                         SubscribeOptions<T> options) {
    return subscribe<T>(topic_patterns, std::forward<F>(callable), Concurrency::Serial,
                        std::move(options));
  }
  ///@}

  /// A pull stream of the events matching `topic_pattern` (stream.hpp): a
  /// Serial subscriber whose consumer reads a bounded queue. Thread-safe;
  /// takes effect for posts that start after it returns. Throws
  /// std::invalid_argument for an invalid pattern or options, and
  /// courier::LimitExceeded for a depth over StreamOptions::kMaxDepth or past
  /// Options::max_subscriptions. `subscribe_options` may set a filter (which
  /// runs before the stream's queue counts the event as received) and a
  /// priority, an identity and on_disconnect (or `options` may set those two;
  /// both: std::invalid_argument); not `track` (std::invalid_argument): a
  /// stream ends with its Stream object.
  template <class T>
  Stream<T> stream(std::string_view topic_pattern, StreamOptions options = {},
                   SubscribeOptions<T> subscribe_options = {}) {
    return stream<T>({topic_pattern}, options, std::move(subscribe_options));
  }
  /// The same on several patterns (one or more); an event matching several
  /// arrives once.
  template <class T>
  Stream<T> stream(std::initializer_list<std::string_view> topic_patterns,
                   StreamOptions options = {}, SubscribeOptions<T> subscribe_options = {}) {
    detail::SubscriberSettings settings = detail::settings_of(std::move(subscribe_options));
    detail::add_stream_settings(settings, std::move(options.identity),
                                std::move(options.on_disconnect));
    detail::StreamSourceOf<T> made = detail::make_stream_source<T>(options, core_->synchronous());
    std::vector<TopicPattern> patterns = detail::parse_patterns(topic_patterns);
    auto handler =
        std::make_unique<detail::StreamHandler<T>>(made.source, detail::only_topic_of(patterns));
    StreamParts parts = add_stream(typeid(T), std::move(patterns), made.link, std::move(handler),
                                   std::move(settings));
    return Stream<T>(std::move(made.source), std::move(parts.subscription), core_, parts.subscriber,
                     std::move(parts.end_connection));
  }

  ///@{
  /// Cancels every subscription of `subscriber` (to events of its payload type).
  /// Unknown subscribers are a no-op. From outside the bus's handlers, returns
  /// once no invocation of it is running and none will start, so the caller may
  /// destroy it; from inside a handler, returns at once (no invocation starts
  /// after it). Thread-safe.
  template <SubscriberType S>
  void unsubscribe(const std::shared_ptr<S>& subscriber) {
    using T = typename S::data_type;
    core_->unsubscribe(static_cast<const Subscriber<T>*>(subscriber.get()), typeid(T));
  }

  template <class T>
  void unsubscribe(const std::shared_ptr<Subscriber<T>>& subscriber) {
    unsubscribe<Subscriber<T>>(subscriber);
  }

  ///@}

  ///@{
  /// True if `subscriber` has a subscription on this bus. Thread-safe.
  template <SubscriberType S>
  bool is_subscribed(const std::shared_ptr<S>& subscriber) const {
    using T = typename S::data_type;
    return core_->is_subscribed(static_cast<const Subscriber<T>*>(subscriber.get()), typeid(T));
  }

  template <class T>
  bool is_subscribed(const std::shared_ptr<Subscriber<T>>& subscriber) const {
    return is_subscribed<Subscriber<T>>(subscriber);
  }

  ///@}

  ///@{
  /// True if `subscriber` is subscribed on this bus to `topic_pattern`
  /// itself (the same pattern, not one that matches it: "a.*" is not "a.b").
  /// False once an owner it tracks is gone. Thread-safe. Throws
  /// std::invalid_argument for an invalid pattern.
  template <SubscriberType S>
  bool is_subscribed(const std::shared_ptr<S>& subscriber, std::string_view topic_pattern) const {
    using T = typename S::data_type;
    return core_->is_subscribed(static_cast<const Subscriber<T>*>(subscriber.get()), typeid(T),
                                topic_pattern);
  }

  template <class T>
  bool is_subscribed(const std::shared_ptr<Subscriber<T>>& subscriber,
                     std::string_view topic_pattern) const {
    return is_subscribed<Subscriber<T>>(subscriber, topic_pattern);
  }

  ///@}

  /// True if some subscriber or stream on this bus, of any payload type, has
  /// a pattern matching `topic` (whatever its filter would say of an event;
  /// not one whose tracked owner is gone). A snapshot: a subscribe or cancel
  /// on another thread may change the answer as it returns. Thread-safe.
  /// Throws std::invalid_argument for an invalid topic.
  bool has_subscribers(std::string_view topic) const {
    return core_->has_subscribers(topic, nullptr);
  }

  /// The same, counting only subscribers to events of type T.
  template <class T>
  bool has_subscribers(std::string_view topic) const {
    return core_->has_subscribers(topic, &typeid(T));
  }

  /// The identities of the subscriptions (callback forms and streams) that
  /// have an identity (SubscribeOptions::identity) and a pattern that can
  /// match a topic `topic_pattern` matches: "room.>" lists those on
  /// "room.7", "room.*", "room.>", ">" and "*.7", not those on "room" or
  /// "lobby.>". One entry per subscription, in the order they subscribed (a
  /// user subscribed twice is listed twice). Not listed: a subscription
  /// ended (cancelled, unsubscribed, its stream closed) before this call
  /// began, or whose tracked owner is gone; once shutdown() has delivered
  /// every accepted event, the list is empty. A snapshot: a subscribe or
  /// cancel on another thread may change the answer as it returns.
  /// Thread-safe, also from a handler. Throws std::invalid_argument for an
  /// invalid pattern.
  std::vector<Identity> presence(std::string_view topic_pattern) const {
    return core_->presence(topic_pattern);
  }

  /// Accepts `event` for delivery. Thread-safe. Blocks while the queue is full
  /// (not when called from one of this bus's own handlers: those posts are
  /// admitted beyond the bound rather than deadlock the pool). Throws BusClosed
  /// after shutdown.
  // Always inline: a call here costs W1 13 instructions of its ~180 per post,
  // and g++ stopped inlining it on its own once metadata grew Event.
  template <class T>
  [[gnu::always_inline]] void post(Event<T> event) {
    post_event(std::move(event), detail::BusCore::Admission::Wait);
  }

  /// Shorthand for post(Event<T>(topic, data, ordering_key)).
  template <class T>
  void post(detail::TopicArgument topic, T data, detail::KeyArgument ordering_key = {}) {
    post(Event<T>(topic, std::move(data), ordering_key));
  }

  /// Posts `event` as post() does and keeps a copy of it as its topic's
  /// retained event (MQTT's retained messages, greenrobot's sticky events),
  /// replacing the one kept before. Every subscription made later (each
  /// subscribe() form and stream()) whose patterns match the topic, for
  /// events of type T, receives it first (see subscribe()). T must be
  /// copyable. Thread-safe; from a handler too. Blocks as post() does, and
  /// waits for a subscribe() handing out retained events at the same time.
  /// Throws courier::LimitExceeded for a topic not yet retained when
  /// Options::max_retained topics are (then nothing is kept or posted), and
  /// what post() throws (then the topic's previous retained event stays).
  ///
  /// A subscription made while retained posts run sees, per topic, the
  /// retained event of the instant it subscribed, then the later ones: never
  /// an older after a newer, never one twice.
  ///
  /// The event is stamped (Options::stamp_events) and passes the middlewares
  /// as a post does, before the copy is kept: the copy carries the stamp and
  /// what they changed, and is not shown to them again when handed to a new
  /// subscription. A vetoed event is neither posted nor kept (the topic's
  /// previous retained event stays).
  template <class T>
  void post_retained(Event<T> event) {
    static_assert(std::is_copy_constructible_v<T>,
                  "courier: post_retained() keeps a copy of the event: its payload type must be "
                  "copy-constructible");
    detail::BusCore& core = *core_;
    if ((core.post_mode() & detail::BusCore::kIntercepting) != 0 && !intercept(event)) return;
    detail::RetainedEvent kept = detail::retain(event);
    if (core.synchronous()) {
      SyncRetainedPost<T> post{core, event};
      return retained_->keep_and_post_sync(core, std::move(kept), &SyncRetainedPost<T>::post,
                                           &post);
    }
    const Audience* audience = event.audience();  // moves with the event unchanged
    detail::Envelope* envelope = core.acquire(detail::BusCore::Admission::Wait);
    try {
      envelope->store(std::move(event));
    } catch (...) {
      core.abandon(*envelope);
      throw;
    }
    RetainedPublication publication{core, envelope, audience};
    try {
      retained_->keep_and_post(std::move(kept), &RetainedPublication::publish, &publication);
    } catch (...) {
      if (publication.envelope != nullptr) core.abandon(*publication.envelope);
      throw;
    }
  }

  /// Shorthand for post_retained(Event<T>(topic, data, ordering_key)).
  template <class T>
  void post_retained(detail::TopicArgument topic, T data, detail::KeyArgument ordering_key = {}) {
    post_retained(Event<T>(topic, std::move(data), ordering_key));
  }

  /// Forgets the retained event of `topic`: later subscriptions do not
  /// receive it (those made before already have). True if there was one.
  /// Thread-safe. Throws std::invalid_argument for an invalid topic.
  bool clear_retained(std::string_view topic) { return retained_->clear(topic); }

  /// Like post(), but returns false at once instead of blocking when the queue
  /// is full or the bus is shut down. Thread-safe. Never blocks.
  template <class T>
  [[gnu::always_inline]] bool try_post(Event<T> event) {  // always inline: see post()
    return post_event(std::move(event), detail::BusCore::Admission::Try);
  }

  /// A handle for posting to `name` without looking it up each time (see
  /// topic_handle.hpp). Thread-safe. Throws std::invalid_argument, naming the
  /// topic, if it is not valid.
  Topic topic(std::string_view name) {
    const std::size_t id = core_->register_topic(name);
    return Topic(name, id, core_->id());
  }

  ///@{
  /// post() and try_post() through a topic handle: the same contract.
  template <class T>
  void post(const Topic& topic, T data) {
    post_through(topic, detail::BusCore::Admission::Wait, std::move(data));
  }
  template <class T>
  void post(const Topic& topic, T data, detail::KeyArgument ordering_key) {
    post_through(topic, detail::BusCore::Admission::Wait, std::move(data), ordering_key);
  }
  template <class T>
  bool try_post(const Topic& topic, T data) {
    return post_through(topic, detail::BusCore::Admission::Try, std::move(data));
  }
  template <class T>
  bool try_post(const Topic& topic, T data, detail::KeyArgument ordering_key) {
    return post_through(topic, detail::BusCore::Admission::Try, std::move(data), ordering_key);
  }

  ///@}

  /// Stops accepting events (later posts throw BusClosed, try_post returns
  /// false), delivers every event already accepted, then joins the executor
  /// threads. Idempotent. Thread-safe. Called from inside a handler it only
  /// stops accepting and returns; the pool still delivers what was accepted,
  /// and the destructor joins.
  void shutdown() { core_->shutdown(); }

  /// Blocks until every accepted event has been delivered (or found dead),
  /// without shutting down. Thread-safe; throws std::logic_error from a handler.
  void wait_idle() { core_->wait_idle(); }

  /// The bus's counters (see Stats). Thread-safe. Never blocks for long.
  Stats stats() const;

  ///@{
  /// Adds a middleware (middleware.hpp): a function every later post runs
  /// before any subscriber sees the event, which may change its headers or
  /// veto it. Returns the cookie that removes it. Thread-safe, also from
  /// inside a middleware or a handler.
  ///
  /// The typed form takes `Verdict(Event<T>&)` and runs only for events of
  /// payload type T whose topic matches `pattern` (std::invalid_argument,
  /// naming it, if the pattern is not valid).
  ///
  /// The forms with `until` are temporary: once `until` is stopped (a
  /// std::stop_token) or ready (a std::shared_future), the middleware never
  /// runs again and the next post removes it.
  MiddlewareCookie add_middleware(Middleware middleware);
  MiddlewareCookie add_middleware(Middleware middleware, std::stop_token until);
  template <class R>
  MiddlewareCookie add_middleware(Middleware middleware, std::shared_future<R> until) {
    return add_middleware_until(
        std::move(middleware),
        [until = std::move(until)] {
          return until.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
        },
        ">");
  }
  template <class T, class F>
  MiddlewareCookie add_middleware(std::string_view pattern, F&& middleware) {
    TopicPattern accepted(pattern);
    Middleware untyped = [accepted,
                          typed = std::forward<F>(middleware)](PostedEvent& event) mutable {
      Event<T>* event_of_t = event.as<T>();
      if (event_of_t == nullptr || !accepted.matches(event.topic())) return Verdict::Pass;
      return typed(*event_of_t);
    };
    return add_middleware_until(std::move(untyped), {}, std::string(pattern));
  }
  ///@}

  /// Removes the middleware `cookie` names: no post that starts after this
  /// returns runs it. False if it was removed already (or never was this
  /// bus's). Thread-safe.
  bool remove_middleware(MiddlewareCookie cookie);

  /// Switches per-topic counting on or off (it starts off): while on, each
  /// post, each process() call (as Stats::delivered counts them), each call
  /// that throws (as Stats::failed) and each event a stream drops (as
  /// Stats::dropped) is counted for its event's topic; read them with
  /// topic_stats(). Switching off keeps the counts, switching on again adds
  /// to them. Up to Options::max_tracked_topics topics are counted apart,
  /// the others together (TopicCounts::other_topics).
  ///
  /// Cost: while off, a post and a call each pay one relaxed atomic load and
  /// one predictable branch; while on, a hash of the topic, a lookup in a
  /// lock-free table and one relaxed atomic increment on a line shared by
  /// about 1/8 of the threads (detail::TopicCounters). On a synchronous bus
  /// each switch also makes the next post of every thread route afresh, and
  /// while on, posts skip the shortest path (one Serial subscriber, the
  /// topic repeating), which does not count.
  ///
  /// Thread-safe, also from a handler; takes effect for posts and calls that
  /// start after it returns (one under way meanwhile may or may not be
  /// counted). Throws std::bad_alloc only.
  void track_topics(bool on) { core_->track_topics(on); }

  /// The per-topic counts (see track_topics), sorted by topic; topics whose
  /// counts are all zero are left out, and it is empty if counting was never
  /// on. A snapshot: each count is exact at some moment of the call, but
  /// while events flow they need not agree with one another; once the bus is
  /// idle (wait_idle() returned, or after shutdown()), every count is exact.
  /// Thread-safe; never blocks for long. Throws std::bad_alloc only.
  std::vector<TopicCounts> topic_stats() const { return core_->topic_stats(); }

  /// Switches the post-to-delivery latency histogram (Stats::latency) on or
  /// off (it starts off). While on, each post takes a steady-clock stamp
  /// (kept beside the event in the bus's queue slot) and each process() call
  /// of an asynchronous bus records the time from that stamp to the call's
  /// start: one sample per call, so an event delivered to three subscribers
  /// gives three samples, and Stats::latency.count grows as Stats::delivered
  /// does. A stream's delivery is the event's handing to the stream's queue,
  /// not its consumer's take. Events posted while it was off, or before it
  /// was last switched on, are not timed. A synchronous bus delivers within
  /// post() and records nothing.
  ///
  /// Cost: as track_topics while off; while on, two clock reads per event
  /// delivered once and a few relaxed atomic increments per call
  /// (LatencyHistogram). Switching off keeps the histogram, switching on
  /// again adds to it. Thread-safe, also from a handler. Throws
  /// std::bad_alloc only.
  void track_latency(bool on) { core_->track_latency(on); }

  ///@{
  /// Lifecycle hooks (Boost.Signals2): called on the thread that hit the event,
  /// with no lock of the bus held. Keep the returned connection: destroying it
  /// disconnects. Thread-safe.
  [[nodiscard]] boost::signals2::scoped_connection on_error(
      std::function<void(const DeliveryError&)> hook) {
    return core_->error_hook.connect(std::move(hook));
  }
  [[nodiscard]] boost::signals2::scoped_connection on_dead_event(
      std::function<void(const DeadEvent&)> hook) {
    return core_->dead_event_hook.connect(std::move(hook));
  }
  ///@}

  /// A stream's overflow policy dropped an event (counted in Stats::dropped
  /// too). Until a first such hook is connected, drops are reported on
  /// stderr instead: a stream's first drop and every 1024th, at most one line
  /// a second.
  [[nodiscard]] boost::signals2::scoped_connection on_drop(
      std::function<void(const DroppedEvents&)> hook) {
    return core_->connect_drop_hook(std::move(hook));
  }

 private:
  template <SubscriberType S>
  Subscription subscribe_all(std::shared_ptr<S> subscriber,
                             std::span<const std::string_view> topic_patterns,
                             SubscribeOptions<typename S::data_type> options) {
    using T = typename S::data_type;
    if (subscriber == nullptr) detail::reject_null_subscriber(topic_patterns);
    std::shared_ptr<Subscriber<T>> base = std::move(subscriber);
    const Concurrency concurrency = base->concurrency();
    const void* identity = base.get();
    return add(typeid(T), topic_patterns, concurrency,
               std::make_unique<detail::SubscriberHandler<T>>(std::move(base)), identity,
               detail::settings_of(std::move(options)));
  }

  template <class T, class F>
  Subscription subscribe_callable(std::span<const std::string_view> topic_patterns, F&& callable,
                                  Concurrency concurrency, SubscribeOptions<T> options) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, const Event<T>&>,
                  "the callable must accept const courier::Event<T>&");
    return add(
        typeid(T), topic_patterns, concurrency,
        std::make_unique<detail::CallableHandler<T, std::decay_t<F>>>(std::forward<F>(callable)),
        nullptr, detail::settings_of(std::move(options)));
  }

  struct StreamParts {
    Subscription subscription;
    std::weak_ptr<detail::SubscriberCore> subscriber;
    boost::signals2::connection end_connection;
  };
  /// Subscribes a stream's handler, its queue connected to the bus first.
  /// `patterns`: as detail::parse_patterns returns them (never empty).
  StreamParts add_stream(const std::type_info& type, std::vector<TopicPattern> patterns,
                         const std::shared_ptr<detail::StreamQueueBase>& queue,
                         std::unique_ptr<detail::Handler> handler,
                         detail::SubscriberSettings settings);

  Subscription add(const std::type_info& type, std::span<const std::string_view> topic_patterns,
                   Concurrency concurrency, std::unique_ptr<detail::Handler> handler,
                   const void* identity, detail::SubscriberSettings settings);

  const Topic& checked(const Topic& topic) const {
    if (topic.bus_id_ != core_->id()) {
      throw std::invalid_argument("courier: the handle for topic \"" + std::string(topic.name()) +
                                  "\" was made by another bus");
    }
    return topic;
  }

  /// A post through a handle: the event takes the handle's validated topic,
  /// and routing its pre-resolved id. `ordering_key`: none, or one KeyArgument.
  template <class T, class... OrderingKey>
  bool post_through(const Topic& topic, detail::BusCore::Admission admission, T data,
                    OrderingKey... ordering_key) {
    return post_event(
        Event<T>(detail::ValidatedTopic(), checked(topic).name_, std::move(data), ordering_key...),
        admission, topic.id_);
  }

  MiddlewareCookie add_middleware_until(Middleware middleware, std::function<bool()> expired,
                                        std::string pattern);

  // Stamping and middleware, before the event is queued: false if vetoed.
  // Out of line and cold, so that a post without them stays small enough
  // to inline.
  template <class T>
  [[gnu::noinline, gnu::cold]] bool intercept(Event<T>& event) {
    if (stamp_events_) detail::stamp(detail::metadata_of(event), next_event_id_);
    PostedEvent posted(event);
    return middleware_->run(posted, *core_);
  }

  // One load of the post mode decides, so that post(), inlined at every call
  // site, stays small there: a separate interception flag cost W1 16
  // instructions per post (callgrind). An event with metadata takes the long
  // way too (post_specially), which alone reads the audience: an event
  // without pays one null check.
  template <class T>
  [[gnu::always_inline]] bool post_event(Event<T>&& event, detail::BusCore::Admission admission,
                                         std::size_t topic_id = detail::RoutingTable::kNoTopic) {
    detail::BusCore& core = *core_;
    const std::uint8_t mode = core.post_mode();
    const bool plain = !detail::metadata_of(event);
    if (mode == detail::BusCore::kSynchronousPost && plain) {
      return core.post_sync(&event, detail::event_ops<T>, &detail::hold_event<T>, topic_id,
                            admission);
    }
    if (mode != detail::BusCore::kAsynchronousPost || !plain) [[unlikely]] {
      return post_specially(std::move(event), admission, topic_id);
    }
    return post_async(std::move(event), admission, topic_id);
  }

  // A slot holding `event`, or null (Try: full or closed). If the move into
  // the slot throws, the slot is given back.
  template <class T>
  [[gnu::always_inline]] detail::Envelope* stored(Event<T>&& event,
                                                  detail::BusCore::Admission admission) {
    detail::BusCore& core = *core_;
    detail::Envelope* envelope = core.acquire(admission);
    if (envelope == nullptr) return nullptr;
    try {
      envelope->store(std::move(event));
    } catch (...) {
      core.abandon(*envelope);
      throw;
    }
    return envelope;
  }

  // Left to g++, which inlines it into post() now that post() itself is
  // always inline: out of line, the call and the event's second pass through
  // memory cost W2's producer 12 instructions per post (callgrind) and a
  // quarter of its rate.
  template <class T>
  bool post_async(Event<T>&& event, detail::BusCore::Admission admission, std::size_t topic_id) {
    detail::BusCore& core = *core_;
    detail::Envelope* envelope = stored(std::move(event), admission);
    if (envelope == nullptr) return false;
    core.publish(*envelope, topic_id);
    return true;
  }

  // post_event's long way: stamping and middleware if any, then the post,
  // to the event's audience if it has one.
  template <class T>
  [[gnu::noinline, gnu::cold]] bool post_specially(Event<T>&& event,
                                                   detail::BusCore::Admission admission,
                                                   std::size_t topic_id) {
    detail::BusCore& core = *core_;
    if ((core.post_mode() & detail::BusCore::kIntercepting) != 0 && !intercept(event)) return true;
    // In the event's metadata block, which moves with the event unchanged.
    const Audience* audience = event.audience();
    if (core.synchronous()) {
      if (audience != nullptr) {
        return core.post_sync_to_audience(&event, detail::event_ops<T>, &detail::hold_event<T>,
                                          topic_id, admission, *audience);
      }
      return core.post_sync(&event, detail::event_ops<T>, &detail::hold_event<T>, topic_id,
                            admission);
    }
    detail::Envelope* envelope = stored(std::move(event), admission);
    if (envelope == nullptr) return false;
    if (audience != nullptr) {
      core.publish_to_audience(*envelope, topic_id, *audience);
    } else {
      core.publish(*envelope, topic_id);
    }
    return true;
  }

  /// A retained post's routing, called by the store under its mutex.
  template <class T>
  struct SyncRetainedPost {
    detail::BusCore& core;
    Event<T>& event;
    static void post(void* context) {
      auto& self = *static_cast<SyncRetainedPost*>(context);
      if (const Audience* audience = self.event.audience()) {
        self.core.post_sync_to_audience(&self.event, detail::event_ops<T>, &detail::hold_event<T>,
                                        detail::RoutingTable::kNoTopic,
                                        detail::BusCore::Admission::Wait, *audience);
        return;
      }
      self.core.post_sync(&self.event, detail::event_ops<T>, &detail::hold_event<T>,
                          detail::RoutingTable::kNoTopic, detail::BusCore::Admission::Wait);
    }
  };
  struct RetainedPublication {
    detail::BusCore& core;
    detail::Envelope* envelope;  // null once publish() owns it
    const Audience* audience;    // the event's, or null
    static void publish(void* context) {
      auto& self = *static_cast<RetainedPublication*>(context);
      if (self.audience != nullptr) {
        return self.core.publish_to_audience(*std::exchange(self.envelope, nullptr),
                                             detail::RoutingTable::kNoTopic, *self.audience);
      }
      self.core.publish(*std::exchange(self.envelope, nullptr));
    }
  };

  // Read on every post; the alignment is the whole object's (see the class).
  alignas(detail::kCacheLine) std::shared_ptr<detail::BusCore> core_;
  std::unique_ptr<detail::MiddlewareChain> middleware_;
  std::unique_ptr<detail::RetainedStore> retained_;
  const bool stamp_events_;
  // Written by every stamped post.
  alignas(detail::kCacheLine) std::atomic<std::uint64_t> next_event_id_{1};
};

}  // namespace courier
