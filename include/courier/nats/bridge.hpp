/// \class courier::nats::Bridge
/// Bridge: carries events between a local EventBus and NATS, both ways.
///
/// \code
///   courier::nats::Bridge bridge(bus, {.url = "nats://127.0.0.1:4222", .prefix = "app1."});
///   bridge.export_topics<Reading>("metrics.>");   // local events -> NATS subjects
///   bridge.import_subjects<Order>("orders.*");    // NATS messages -> local events
/// \endcode
///
/// NATS subjects are courier's topics ('.' between tokens, '*' one token, '>'
/// the rest): topic `t` is subject `prefix + t` (BridgeOptions). The bridge
/// uses the bus's public API only. An export encodes each event (Codec<T> or
/// the given codec) and publishes it: an export is a Stream<T> on the bus
/// (its depth and overflow are the route's), read by a thread of the route's
/// own; a core export with no queue (RouteOptions::queue_depth 0, under
/// Block) is a Serial subscriber instead, publishing on the bus thread that
/// delivers the event. An import is a NATS subscription whose messages are
/// decoded and posted on the bus.
///
/// Headers. An event's headers travel as NATS headers of the same names, and
/// its metadata under reserved ones: `courier-id` (decimal), `courier-timestamp`
/// (nanoseconds since the system clock's epoch, decimal) and
/// `courier-ordering-key`; an imported event gets them back (Event::id(),
/// timestamp(), ordering_key()). Reserved too: `courier-origin` (the exporting
/// bridge, on at-least-once messages), `courier-imported` (set on each
/// imported event to the importing bridge's name, by a bridge that exports), `courier-redelivered`
/// (the delivery count, on an at-least-once message the server delivered again), `courier-attempt`
/// (on an at-least-once message sent again: which send it is). `courier-*` and
/// `Nats-*` headers of a message are not copied to the event. An event with no headers, id,
/// timestamp or ordering key on an at-most-once route is published without building a NATS message
/// (no allocation).
///
/// Loop prevention. A bridge never exports an event it imported itself
/// (`courier-imported` is its name; a bridge marks its imports so once it has
/// an export route: add export routes before import routes, or an event
/// imported while the first export route is added may go out once more); the connection is no-echo,
/// so its core imports never receive its own core exports; its at-least-once imports drop (and
/// acknowledge) messages whose `courier-origin` is itself. Two buses bridging the same topics both
/// ways therefore see each event once.
///
/// Guarantees (RouteOptions::guarantee). AtMostOnce: core NATS. AtLeastOnce:
/// exports are published to JetStream (the stream BridgeOptions::stream, made
/// if absent, on `durable_prefix + ">"`) with `Nats-Msg-Id` = the bridge's
/// name and the event's id (or a sequence number of the bridge's), so the
/// server's duplicate window drops a re-publish. A publish the server refuses
/// (e.g. "no responders" while JetStream recovers from a restart), does not
/// acknowledge within 5 s of the route's queue running empty, or that libnats
/// cannot take, is sent again, up to BridgeOptions::publish_attempts sends in
/// all, waiting reconnect_wait before the first resend and twice as long
/// before each next one (at most 2 s). While resends are due, the bridge's
/// at-least-once routes send them before their next event, so their queues
/// hold events back. Resends are counted (BridgeStats::republished); a
/// message that had all its sends is counted in publish_errors and reported
/// to on_error (one still waiting when the bridge stops is counted, not
/// reported). A resent message is stored after those published while it
/// waited: order is kept per route only while nothing fails. At-least-once imports read a durable
/// pull consumer, fetching at most RouteOptions::queue_depth messages at a time, post them
/// (EventBus::post: waits for room, drops nothing), then wait until the bus is idle
/// (EventBus::wait_idle: every local subscriber has processed them; coarse: unrelated traffic on
/// the bus delays the acknowledgements) and acknowledge them. A consumer that dies before
/// acknowledging gets them again after RouteOptions::ack_wait, marked `courier-redelivered` and
/// counted (BridgeStats::redelivered): a subscriber sees each message at
/// least once. The mark is the server's delivery count: a nats-server without
/// the fix of April 2024 (nats-io/nats-server#5305; Debian 12's 2.9.10 is
/// one) can send a message again as a first delivery, unmarked, when a
/// redelivery meets only expired pull requests (nats-io/nats-server#4460).
///
/// Faults. The connection reconnects by itself (BridgeOptions::reconnect_wait,
/// max_reconnects); on_disconnect and on_reconnect report it. Core messages
/// published while disconnected go to libnats's reconnect buffer (8 MiB) and
/// past it fail (BridgeStats::publish_errors). A message that does not decode
/// (or carries invalid headers) is counted (BridgeStats::decode_errors),
/// reported to on_error, dropped (acknowledged if at-least-once), and the
/// bridge goes on; so is an event whose codec throws in encode (counted in
/// publish_errors, not published). What a hook throws is caught and dropped.
///
/// Throughput. A core import posts on the bus from libnats's delivery thread
/// of its subscription (an at-least-once import from its route's own
/// thread); on a bus with an executor pool, each event then crosses to an
/// executor thread, a hop libnats alone does not make. A bus that only
/// relays imported events to its subscribers may be synchronous
/// (Options::synchronous): they then run on that thread, as a libnats
/// callback would, and a slow one holds it up: for a core import, libnats
/// then holds what arrives meanwhile, up to RouteOptions::queue_depth, and
/// drops the rest (counted); an at-least-once import fetches nothing
/// meanwhile. An export hands each event to its route's thread; one with
/// queue_depth 0 publishes on the bus thread that delivers the event
/// instead (the poster's own, on a synchronous bus), as a raw libnats
/// publisher would, which is faster. The cost: libnats buffers, and when
/// its buffer is full (a slow server or network) that thread waits, serving
/// no other subscriber. libnats holds the connection's lock while it
/// writes, and by default sets no deadline on the write, so a server that
/// stops reading but keeps the connection open holds that thread, and every
/// other publish of the bridge, until the server reads again or the TCP
/// connection fails: with the bus's threads all caught that way, the bus
/// stops, and stop() waits. BridgeOptions::write_deadline bounds that wait
/// (publishes then fail, counted, while the server reads nothing; see
/// there). The default (a queue of 4096 and a thread) keeps the bus's
/// threads out of it.
/// RELIABILITY.md has the figures against raw libnats.
///
/// Thread safety: every member may be called from any thread, except that
/// the destructor (and stop()) must not run on one of the bus's handlers or
/// in one of the bridge's hooks. Hooks run on libnats's threads, the
/// bridge's, the caller's of import_subjects (see there), or (on_error for
/// an export with queue_depth 0) in a bus handler, where a hook must not
/// call EventBus::wait_idle (std::logic_error). The bus must outlive the
/// bridge.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include <boost/signals2/connection.hpp>

#include "courier/event.hpp"
#include "courier/event_bus.hpp"
#include "courier/nats/bridge_options.hpp"
#include "courier/nats/bridge_stats.hpp"
#include "courier/nats/codec.hpp"
#include "courier/nats/detail/link.hpp"
#include "courier/nats/detail/reserved_headers.hpp"
#include "courier/nats/errors.hpp"
#include "courier/nats/route_options.hpp"
#include "courier/stream.hpp"
#include "courier/subscription.hpp"
#include "courier/topic_handle.hpp"

namespace courier::nats {

class Bridge {
 public:
  /// Connects to BridgeOptions::url (waiting up to connect_timeout). Throws
  /// BridgeError, naming the URL and libnats's reason, if it cannot;
  /// std::invalid_argument, naming it, for a bad prefix, name,
  /// publish_attempts or write_deadline.
  Bridge(EventBus& bus, BridgeOptions options)
      : bus_(bus),
        link_(std::make_unique<detail::Link>(std::move(options), [&bus] { bus.wait_idle(); })) {}

  /// stop().
  ~Bridge() { stop(); }

  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  /// Publishes the local events of type T whose topics match `pattern` to
  /// NATS, encoded by C, from now on. Throws std::invalid_argument for an
  /// invalid pattern or options, BridgeError if the JetStream stream cannot
  /// be made (at-least-once), std::logic_error once stopped.
  template <class T, class C = Codec<T>>
  requires CodecFor<C, T>
  void export_topics(std::string_view pattern, RouteOptions options = {}) {
    detail::validate_route(options, false);  // before the route subscribes
    // Before the route subscribes: imports from now on are marked (see import_subjects).
    exports_.store(true);
    if (options.queue_depth == 0) {  // validated: a core route under Block
      link_->add_export(pattern, options, direct_export<T, C>(pattern));
    } else {
      queued_export<T, C>(pattern, options);
    }
  }

  /// Posts on the local bus, as events of type T decoded by C, the NATS
  /// messages whose subjects match `prefix + pattern` (at-least-once:
  /// `durable_prefix + prefix + pattern`), from now on (at-least-once: from
  /// where the durable consumer stands). Throws std::invalid_argument for an
  /// invalid pattern or options (an at-least-once import needs
  /// RouteOptions::durable), BridgeError if NATS refuses the subscription or
  /// consumer, std::logic_error once stopped. A core import returns once the
  /// server has confirmed its subscription; if it has not (no connection, or
  /// no answer within 5 s) the route is kept, libnats sends the subscription
  /// again when it reconnects, and on_error reports it (Kind::Import, on
  /// this thread): what is published before the server has it is missed.
  /// A stop() on another thread meanwhile waits for this call to return.
  template <class T, class C = Codec<T>>
  requires CodecFor<C, T>
  void import_subjects(std::string_view pattern, RouteOptions options = {}) {
    const bool try_only =
        options.guarantee == Guarantee::AtMostOnce && options.overflow == Overflow::DropNewest;
    link_->add_import(
        pattern, options,
        [this, try_only, name = link_->name(),
         topics = std::make_shared<TopicCache>()](const detail::InMessage& in) {
          // The fast path: a plain message (no metadata, nothing to mark)
          // goes through a Topic handle (no validation, no routing lookup).
          if (!in.for_each_header && in.id == 0 && in.timestamp_ns == 0 && in.deliveries <= 1 &&
              in.ordering_key.empty() && !exports_.load(std::memory_order_relaxed)) {
            if (const Topic* topic = topics->find(bus_, in.topic)) {
              T value(C::decode(in.payload));
              if (try_only) return bus_.try_post(*topic, std::move(value));
              bus_.post(*topic, std::move(value));
              return true;
            }
          }
          Event<T> event(in.topic, T(C::decode(in.payload)), in.ordering_key);
          if (in.id != 0) event.set_id(in.id);
          if (in.timestamp_ns != 0) {
            event.set_timestamp(std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::nanoseconds(in.timestamp_ns))));
          }
          if (in.for_each_header) {
            in.for_each_header([&event](std::string_view key, std::string_view value) {
              event.set_header(key, value);
            });
          }
          if (in.deliveries > 1) {
            event.set_header(detail::kRedeliveredHeader, std::to_string(in.deliveries));
          }
          // The mark keeps this bridge from exporting the event again; a
          // bridge with no export route skips it (and its allocation).
          if (exports_.load()) event.set_header(detail::kImportedHeader, name);
          if (try_only) return bus_.try_post(std::move(event));
          bus_.post(std::move(event));
          return true;
        });
  }

  /// Stops every route, then closes the connection. The queued exports
  /// first publish what their queues hold (waiting up to 5 s in all for it;
  /// what is left then is dropped and counted), and an unqueued export's
  /// publish in progress is waited for (without a limit: see Throughput), so
  /// that events the bus delivered before (EventBus::wait_idle) reach NATS.
  /// At-least-once messages that wait to be sent again (refused, or never
  /// acknowledged) are sent within the same 5 s; what still waits then is
  /// given up and counted in BridgeStats::publish_errors.
  /// An event the bus has not delivered to an export yet (for a Block export
  /// on an asynchronous bus, the default: one its thread has not taken from
  /// the bus yet) is neither exported nor counted in BridgeStats: to export
  /// everything posted before, call EventBus::wait_idle() first. The core
  /// imports are drained: what they received is posted, for up to 5 s in all
  /// (without a connection, the drains wait that long); what is left then is
  /// dropped, not counted. A core import's post still under way then (one
  /// waiting for room in the bus, or held by a synchronous bus's subscriber)
  /// is waited for, without a limit: it uses the route.
  /// A route being added meanwhile on another thread is finished first, or
  /// refused. Idempotent: a call while another is under way (on another
  /// thread) returns once that one has finished. Thread-safe, but not from a
  /// bus handler or a bridge hook.
  void stop() { link_->stop(); }

  /// The counters. Thread-safe.
  BridgeStats stats() const { return link_->stats(); }

  /// This bridge's name (BridgeOptions::name, or the one made for it).
  const std::string& name() const noexcept { return link_->name(); }

  /// True while the connection is up; false once stop() has begun. Thread-safe.
  bool connected() const { return link_->connected(); }

  ///@{
  /// Hooks (Boost.Signals2), called on libnats's threads (on_error: on the
  /// route's thread, or, for an export with queue_depth 0, the bus thread that
  /// delivered the event, or the thread adding an import the server has not
  /// confirmed) with no lock of the bridge held. Keep the returned
  /// connection: destroying it disconnects. Thread-safe.
  [[nodiscard]] boost::signals2::scoped_connection on_disconnect(std::function<void()> hook) {
    return link_->disconnected.connect(std::move(hook));
  }
  [[nodiscard]] boost::signals2::scoped_connection on_reconnect(std::function<void()> hook) {
    return link_->reconnected.connect(std::move(hook));
  }
  [[nodiscard]] boost::signals2::scoped_connection on_error(
      std::function<void(const BridgeFault&)> hook) {
    return link_->fault.connect(std::move(hook));
  }
  ///@}

 private:
  // A core route with no queue (queue_depth 0, Block): a Serial subscriber
  // publishes each event on the bus's delivery thread, with no thread
  // between (the topology raw libnats has). It holds the bus back when
  // libnats does.
  template <class T, class C>
  detail::ExportParts direct_export(std::string_view pattern) {
    auto subscription = std::make_shared<ScopedSubscription>();
    detail::ExportParts parts;
    parts.attach = [this, subscription, pattern = std::string(pattern),
                    name = link_->name()](detail::Publisher& out) {
      *subscription = ScopedSubscription(bus_.template subscribe<T>(
          pattern, [&out, name, payload = std::string()](const Event<T>& event) mutable {
            publish<C>(out, event, name, payload);
          }));
    };
    parts.close = [subscription](std::chrono::steady_clock::time_point) {
      subscription->cancel();  // waits out a running publish
    };
    parts.dropped = [] { return std::uint64_t{0}; };
    return parts;
  }

  // Any other export: a Stream<T> on the bus (its depth and overflow are the
  // route's), read by the route's own thread.
  template <class T, class C>
  void queued_export(std::string_view pattern, const RouteOptions& options) {
    auto stream = std::make_shared<Stream<T>>(bus_.template stream<T>(
        pattern, StreamOptions{.depth = options.queue_depth, .overflow = options.overflow}));
    detail::ExportParts parts;
    parts.run = [stream, name = link_->name()](detail::Publisher& out) {
      std::string payload;
      const bool wants_idle = out.wants_idle();
      for (;;) {
        // A JetStream route learns when its queue is empty, to wait for its
        // acknowledgements and send again what failed, until all is stored
        // or an event comes; a core route just waits for the next event.
        std::optional<Event<T>> event;
        if (wants_idle) {
          event = stream->next(std::chrono::milliseconds(0));
          while (!event && out.idle()) event = stream->next(std::chrono::milliseconds(0));
        }
        if (!event) {
          event = stream->next();
          if (!event) return;  // closed
        }
        publish<C>(out, *event, name, payload);
      }
    };
    parts.close = [stream](std::chrono::steady_clock::time_point deadline) {
      // Drain first: what the queue holds is published (until the deadline,
      // in case NATS is gone), then the stream ends. The route's thread
      // drains it; a stream has no wait for "empty", so this thread looks
      // now and then, less often as the wait goes on (50 us up to 1 ms
      // apart), leaving the core to that thread rather than spinning for
      // up to the whole deadline with NATS gone.
      auto pause = std::chrono::microseconds(50);
      while (stream->stats().depth != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_until(std::min(std::chrono::steady_clock::now() + pause, deadline));
        pause = std::min(2 * pause, std::chrono::microseconds(1000));
      }
      stream->close();
    };
    parts.dropped = [stream] { return stream->stats().dropped; };
    try {
      link_->add_export(pattern, options, std::move(parts));
    } catch (...) {
      stream->close();
      throw;
    }
  }

  // Encodes `event` into `payload` (a buffer kept by the route) and
  // publishes it, unless this bridge imported it.
  template <class C, class T>
  static void publish(detail::Publisher& out, const Event<T>& event, const std::string& name,
                      std::string& payload) {
    const Headers& headers = event.headers();
    if (const std::string* importer = headers.find(detail::kImportedHeader);
        importer != nullptr && *importer == name) {
      return;  // it came from NATS through this bridge
    }
    payload.clear();
    try {
      C::encode(event.data(), payload);
    } catch (const std::exception& error) {
      out.encode_failed(event.topic(), error.what());
      return;
    }
    out.publish(detail::OutEvent{
        event.topic(), payload, headers.empty() ? nullptr : &headers, event.id(),
        std::chrono::duration_cast<std::chrono::nanoseconds>(event.timestamp().time_since_epoch())
            .count(),
        event.ordering_key()});
  }

  // An import route's Topic handles, by topic: used by the route's one
  // delivery thread only. At most kMaxTopics (each handle costs the bus a
  // row in its routing snapshots); further topics take the general path.
  class TopicCache {
   public:
    const Topic* find(EventBus& bus, std::string_view name) {
      const auto found = topics_.find(name);
      if (found != topics_.end()) return &found->second;
      if (topics_.size() >= kMaxTopics) return nullptr;
      return &topics_.emplace(std::string(name), bus.topic(name)).first->second;
    }

   private:
    static constexpr std::size_t kMaxTopics = 256;
    struct Hash {
      using is_transparent = void;
      std::size_t operator()(std::string_view text) const noexcept {
        return std::hash<std::string_view>{}(text);
      }
    };
    std::unordered_map<std::string, Topic, Hash, std::equal_to<>> topics_;
  };

  EventBus& bus_;
  std::atomic<bool> exports_{false};  // an export route was added
  std::unique_ptr<detail::Link> link_;
};

}  // namespace courier::nats
