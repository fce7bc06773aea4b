// The NATS side of courier::nats::Bridge: the only file that sees libnats.
#include "courier/nats/detail/link.hpp"

#include <nats/nats.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "courier/errors.hpp"
#include "courier/nats/detail/reserved_headers.hpp"
#include "courier/topic.hpp"
#include "resender.hpp"

namespace courier::nats::detail {

namespace {

// How long a new core import waits for the server to confirm its subscription.
constexpr int64_t kFlushTimeoutMs = 5000;
// How long stop() waits, in all, for the core imports' drains.
constexpr int64_t kDrainTimeoutMs = 5000;

std::string status_text(natsStatus status) {
  std::string text = natsStatus_GetText(status);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') text += std::string(" (") + last + ")";
  return text;
}

void check(natsStatus status, const std::string& doing) {
  if (status != NATS_OK) throw BridgeError("courier::nats: " + doing + ": " + status_text(status));
}

// Empty, or valid topic tokens followed by '.'.
void validate_prefix(const std::string& prefix, const char* what, bool may_be_empty) {
  if (prefix.empty() && may_be_empty) return;
  if (prefix.empty() || prefix.back() != '.' ||
      !is_valid_topic(std::string_view(prefix).substr(0, prefix.size() - 1))) {
    throw std::invalid_argument(std::string("courier::nats: BridgeOptions::") + what + " \"" +
                                prefix + "\" is not valid topic tokens followed by '.'");
  }
}

std::string unique_name() {
  std::random_device device;
  std::uniform_int_distribution<std::uint64_t> draw;
  char text[17];
  const std::uint64_t value = draw(device);
  const auto end = std::to_chars(text, text + 16, value, 16).ptr;
  return "courier-" + std::to_string(::getpid()) + "-" + std::string(text, end);
}

template <class Int>
bool parse_number(std::string_view text, Int& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

void validate_route(const RouteOptions& options, bool import) {
  // 0: an export with no queue, published by the bus's thread (Bridge).
  const bool unqueued =
      !import && options.guarantee == Guarantee::AtMostOnce && options.overflow == Overflow::Block;
  if ((options.queue_depth == 0 && !unqueued) || options.queue_depth > StreamOptions::kMaxDepth) {
    throw std::invalid_argument(
        "courier::nats: RouteOptions::queue_depth " + std::to_string(options.queue_depth) +
        " is not in 1.." + std::to_string(StreamOptions::kMaxDepth) +
        (import ? "" : " (0, no queue: only for an at-most-once export under Overflow::Block)"));
  }
  if (import && options.overflow == Overflow::DropOldest) {
    throw std::invalid_argument(
        "courier::nats: RouteOptions::overflow DropOldest is not available on imports");
  }
  if (import && options.guarantee == Guarantee::AtLeastOnce) {
    if (options.durable.empty()) {
      throw std::invalid_argument(
          "courier::nats: an at-least-once import needs RouteOptions::durable");
    }
    for (const char c : options.durable) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      if (!ok) {
        throw std::invalid_argument("courier::nats: RouteOptions::durable \"" + options.durable +
                                    "\" may hold only letters, digits, '-' and '_'");
      }
    }
  }
}

struct Link::State {
  BridgeOptions options;
  std::function<void()> wait_idle;
  Link* owner = nullptr;
  natsConnection* connection = nullptr;
  jsCtx* jetstream = nullptr;
  std::once_flag stream_made;

  std::atomic<std::uint64_t> exported{0};
  std::atomic<std::uint64_t> imported{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> redelivered{0};
  std::atomic<std::uint64_t> decode_errors{0};
  std::atomic<std::uint64_t> publish_errors{0};
  // At-least-once publishes that failed, to send again (made in Link's constructor).
  std::unique_ptr<Resender> resender;

  std::mutex mutex;  // guards the route lists, stopping, stopped, adding, closed
  std::condition_variable changed;
  bool stopping = false;
  bool stopped = false;  // stop() has finished: a second stop() waits for it
  int adding = 0;        // routes being added (see Adding)
  bool closed = false;
  std::atomic<bool> stop_flag{false};

  class Adding;
  struct ExportRoute;
  struct CoreImport;
  struct PullImport;
  std::vector<std::unique_ptr<ExportRoute>> exports;
  std::vector<std::unique_ptr<CoreImport>> core_imports;
  std::vector<std::unique_ptr<PullImport>> pull_imports;

  // add_import's core (at-most-once) route.
  void add_core_import(const std::string& subject, const RouteOptions& route_options,
                       ImportFunction post);
  // stop()'s end of the core imports' subscriptions.
  void drain_core_imports();

  // Calls `hook` (a signal of the owner's) unless the bridge is stopping:
  // its user may then be destroying what the hooks use. A hook's exception
  // is dropped: it would end a route's thread, unwind through libnats, or
  // count as a failed delivery on the bus.
  template <class Hook>
  void call_hook(Hook hook) noexcept {
    if (stop_flag.load()) return;
    try {
      hook();
    } catch (...) {
    }
  }

  void report(BridgeFault::Kind kind, std::string_view subject, std::string message) {
    call_hook([&] { owner->fault(BridgeFault{kind, std::string(subject), std::move(message)}); });
  }

  void make_stream() {
    std::call_once(stream_made, [this] {
      jsStreamConfig config;
      jsStreamConfig_Init(&config);
      const std::string subjects = options.durable_prefix + ">";
      const char* subject_list[] = {subjects.c_str()};
      config.Name = options.stream.c_str();
      config.Subjects = subject_list;
      config.SubjectsLen = 1;
      config.Storage = js_FileStorage;
      config.Duplicates =
          std::chrono::duration_cast<std::chrono::nanoseconds>(options.duplicate_window).count();
      jsStreamInfo* info = nullptr;
      jsErrCode error = static_cast<jsErrCode>(0);
      const natsStatus status = js_AddStream(&info, jetstream, &config, nullptr, &error);
      if (info != nullptr) jsStreamInfo_Destroy(info);
      if (status != NATS_OK && error != JSStreamNameExistErr) {
        check(status,
              "making the JetStream stream \"" + options.stream + "\" on \"" + subjects + "\"");
      }
    });
  }

  // Fills `message` from `msg` (subject less `prefix`); false if it is our
  // own (courier-origin is this bridge). Throws BridgeError for bad headers.
  bool read(natsMsg* msg, std::size_t prefix, InMessage& message, const char**& keys,
            int& key_count) {
    const std::string_view subject = natsMsg_GetSubject(msg);
    message.topic = subject.substr(std::min(prefix, subject.size()));
    message.payload =
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(natsMsg_GetData(msg)),
                                   static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    keys = nullptr;
    key_count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &key_count) != NATS_OK) return true;
    for (int i = 0; i < key_count; ++i) {
      const std::string_view key = keys[i];
      const char* value_text = nullptr;
      if (natsMsgHeader_Get(msg, keys[i], &value_text) != NATS_OK || value_text == nullptr)
        continue;
      const std::string_view value = value_text;
      if (key == kIdHeader) {
        if (!parse_number(value, message.id))
          throw BridgeError("bad " + std::string(key) + " \"" + std::string(value) + "\"");
      } else if (key == kTimestampHeader) {
        if (!parse_number(value, message.timestamp_ns))
          throw BridgeError("bad " + std::string(key) + " \"" + std::string(value) + "\"");
      } else if (key == kOrderingKeyHeader) {
        message.ordering_key = value;
      } else if (key == kOriginHeader && value == options.name) {
        return false;
      }
    }
    return true;
  }

  // One message into the bus, for both kinds of import (defined below).
  template <class Deliver>
  void import_message(natsMsg* msg, std::size_t prefix, InMessage& message, Deliver deliver);
};

namespace {

// Frees the key array natsMsgHeader_Keys made (with malloc), whatever happens.
struct KeysGuard {
  const char**& keys;
  explicit KeysGuard(const char**& array) : keys(array) {}
  KeysGuard(const KeysGuard&) = delete;
  KeysGuard& operator=(const KeysGuard&) = delete;
  ~KeysGuard() {
    std::free(static_cast<void*>(keys));  // NOLINT(cppcoreguidelines-no-malloc): libnats's malloc
  }
};

bool carried(std::string_view key) {
  return !key.starts_with("courier-") && !key.starts_with("Nats-");
}

struct HeaderWalk {
  natsMsg* msg;
  const char** keys;
  int count;
  void operator()(const std::function<void(std::string_view, std::string_view)>& each) const {
    for (int i = 0; i < count; ++i) {
      if (!carried(keys[i])) continue;
      const char* value = nullptr;
      if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK && value != nullptr) {
        each(keys[i], value);
      }
    }
  }
};

}  // namespace

// Reads `msg` into `message` (beyond what the route filled in), with its
// headers to walk, and gives it to `deliver`, unless it is this bridge's own.
// A closed bus and a message that does not decode are reported, not thrown:
// a libnats thread or the route's own thread runs this.
template <class Deliver>
void Link::State::import_message(natsMsg* msg, std::size_t prefix, InMessage& message,
                                 Deliver deliver) {
  const char** keys = nullptr;
  const KeysGuard free_keys{keys};
  int key_count = 0;
  try {
    if (!read(msg, prefix, message, keys, key_count)) return;
    if (key_count > 0) message.for_each_header = HeaderWalk{msg, keys, key_count};
    deliver(message);
  } catch (const BusClosed&) {
    report(BridgeFault::Kind::Import, natsMsg_GetSubject(msg), "the bus is shut down");
  } catch (const std::exception& error) {
    decode_errors.fetch_add(1, std::memory_order_relaxed);
    report(BridgeFault::Kind::Decode, natsMsg_GetSubject(msg), error.what());
  }
}

// Held while a route is added, from the check that the bridge is not
// stopping until the route is in its list and started (its thread, its
// subscription on the bus or on NATS): stop() waits until none is held, so
// it finds every route whole and no route starts after it.
class Link::State::Adding {
 public:
  // Throws std::logic_error, naming `pattern`, once stop() has begun.
  Adding(State& state, std::string_view action, std::string_view pattern) : state_(state) {
    const std::lock_guard lock(state_.mutex);
    if (state_.stopping) {
      throw std::logic_error("courier::nats: the bridge is stopped; cannot " + std::string(action) +
                             " \"" + std::string(pattern) + "\"");
    }
    ++state_.adding;
  }
  ~Adding() {
    // Notified under the lock: once stop() sees 0 it may free the state.
    const std::lock_guard lock(state_.mutex);
    --state_.adding;
    state_.changed.notify_all();
  }
  Adding(const Adding&) = delete;
  Adding& operator=(const Adding&) = delete;

 private:
  State& state_;
};

// An export publishes each event it is given: a queued route from its own
// thread, which reads the route's queue (a courier Stream); a direct route
// from the bus's delivery threads (a Serial subscriber, one call at a time).
struct Link::State::ExportRoute final : Publisher {
  State& state;
  bool durable;
  ExportParts parts;
  std::string subject;
  std::size_t subject_prefix;
  std::uint64_t next_message_id = 0;
  std::string message_id;
  std::string number;
  std::thread thread;

  ExportRoute(State& owner, const RouteOptions& options, ExportParts given)
      : state(owner),
        durable(options.guarantee == Guarantee::AtLeastOnce),
        parts(std::move(given)) {
    subject = (durable ? state.options.durable_prefix : std::string()) + state.options.prefix;
    subject_prefix = subject.size();
  }

  // Makes `subject` the subject of `topic` (the route's prefixes kept).
  void aim(std::string_view topic) {
    subject.resize(subject_prefix);
    subject.append(topic);
  }

  // The event for `subject` is not published: counted and reported.
  void failed(std::string reason) {
    state.publish_errors.fetch_add(1, std::memory_order_relaxed);
    state.report(BridgeFault::Kind::Publish, subject, std::move(reason));
  }
  void failed(natsStatus status) { failed(status_text(status)); }

  void encode_failed(std::string_view topic, std::string_view reason) override {
    aim(topic);
    failed("encoding failed: " + std::string(reason));
  }

  void set(natsMsg* msg, std::string_view key, std::string_view value) {
    // libnats wants C strings; the keys are ours or a Headers' (std::string).
    const std::string k(key), v(value);
    natsMsgHeader_Set(msg, k.c_str(), v.c_str());
  }

  void publish(const OutEvent& event) override {
    aim(event.topic);
    if (!durable && event.headers == nullptr && event.id == 0 && event.timestamp_ns == 0 &&
        event.ordering_key.empty()) {
      // The fast path: no natsMsg, no allocation; libnats copies into its buffer.
      const natsStatus status =
          natsConnection_Publish(state.connection, subject.c_str(), event.payload.data(),
                                 static_cast<int>(event.payload.size()));
      if (status != NATS_OK) return failed(status);
      state.exported.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // What failed before goes first: while it waits, nothing new is
    // published, so the route's queue (and the bus) hold the rest back.
    if (durable && state.resender->waiting()) resend();
    natsMsg* msg = nullptr;
    natsStatus status = natsMsg_Create(&msg, subject.c_str(), nullptr, event.payload.data(),
                                       static_cast<int>(event.payload.size()));
    if (status != NATS_OK) return failed(status);
    if (event.headers != nullptr) {
      for (const Header& header : *event.headers) {
        // Ours to set: an event that carried one would steer its resends.
        if (header.key == kImportedHeader || header.key == kRedeliveredHeader ||
            header.key == kAttemptHeader) {
          continue;
        }
        natsMsgHeader_Set(msg, header.key.c_str(), header.value.c_str());
      }
    }
    if (event.id != 0) set(msg, kIdHeader, std::to_string(event.id));
    if (event.timestamp_ns != 0) set(msg, kTimestampHeader, std::to_string(event.timestamp_ns));
    if (!event.ordering_key.empty()) set(msg, kOrderingKeyHeader, event.ordering_key);
    if (!durable) {
      status = natsConnection_PublishMsg(state.connection, msg);
      natsMsg_Destroy(msg);
    } else {
      set(msg, kOriginHeader, state.options.name);
      // The duplicate window drops a re-publish of the same event.
      message_id = state.options.name;
      message_id += '-';
      message_id += std::to_string(event.id != 0 ? event.id : ++next_message_id);
      if (event.id == 0) message_id.insert(0, "seq-");
      jsPubOptions publish_options;
      jsPubOptions_Init(&publish_options);
      publish_options.MsgId = message_id.c_str();
      status = js_PublishMsgAsync(state.jetstream, &msg, &publish_options);
      if (status != NATS_OK) {
        // Stalled (too many in flight) or not buffered: sent again later.
        state.resender->keep(msg, status_text(status));
        status = NATS_OK;
      }
      if (msg != nullptr) natsMsg_Destroy(msg);
    }
    if (status != NATS_OK) return failed(status);
    state.exported.fetch_add(1, std::memory_order_relaxed);
  }

  bool wants_idle() const override { return durable; }

  bool idle() override {
    if (!durable) return false;
    jsPubOptions publish_options;
    jsPubOptions_Init(&publish_options);
    publish_options.MaxWait = 5000;
    const natsStatus status = js_PublishAsyncComplete(state.jetstream, &publish_options);
    if (status == NATS_TIMEOUT) {
      // The server may never answer these (it restarted): send them again.
      state.resender->reclaim_unacknowledged(state.jetstream);
    } else if (status != NATS_OK && !state.stop_flag.load()) {
      failed(status);
    }
    if (!state.resender->waiting()) return false;
    resend();
    return true;
  }

  void resend() { state.resender->resend(state.jetstream); }
};

// A core import: libnats's delivery thread for the subscription posts.
//
// Closing a subscription does not wait for a callback in progress (one
// waiting for room in the bus, say): libnats calls on_complete once the
// subscription is closed and its last callback has returned, and only then
// may the route go (`last_callback_returned`, guarded by the state's mutex).
struct Link::State::CoreImport {
  State& state;
  ImportFunction post;
  std::size_t prefix;
  natsSubscription* subscription = nullptr;
  bool last_callback_returned = false;

  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto& self = *static_cast<CoreImport*>(closure);
    self.handle(msg);
    natsMsg_Destroy(msg);
  }

  // Notified under the lock: once it is released, stop() may free the route.
  static void on_complete(void* closure) {
    auto& self = *static_cast<CoreImport*>(closure);
    const std::lock_guard lock(self.state.mutex);
    self.last_callback_returned = true;
    self.state.changed.notify_all();
  }

  void handle(natsMsg* msg) {
    InMessage message;
    state.import_message(msg, prefix, message, [this](const InMessage& in) {
      if (post(in)) {
        state.imported.fetch_add(1, std::memory_order_relaxed);
      } else {
        state.dropped.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
};

// An at-least-once import: its own thread fetches from a durable pull consumer.
struct Link::State::PullImport {
  State& state;
  ImportFunction post;
  std::size_t prefix;
  int batch;
  natsSubscription* subscription = nullptr;
  std::thread thread;

  void run() {
    while (!state.stop_flag.load()) {
      natsMsgList list{nullptr, 0};
      jsErrCode js_error = static_cast<jsErrCode>(0);
      const natsStatus status = natsSubscription_Fetch(&list, subscription, batch, 250, &js_error);
      if (status == NATS_TIMEOUT) continue;
      if (status != NATS_OK) {
        // Disconnected, or the server is restarting: wait a reconnect period.
        std::unique_lock lock(state.mutex);
        state.changed.wait_for(lock, state.options.reconnect_wait,
                               [this] { return state.stop_flag.load(); });
        continue;
      }
      for (int i = 0; i < list.Count; ++i) handle(list.Msgs[i]);
      // The acknowledgements wait until every local subscriber has processed
      // the batch: coarse (the whole bus must be idle), but it never acks early.
      try {
        state.wait_idle();
      } catch (const std::exception& error) {
        state.report(BridgeFault::Kind::Import, "", error.what());
      }
      for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
      natsMsgList_Destroy(&list);
    }
  }

  void handle(natsMsg* msg) {
    InMessage message;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      message.deliveries = meta->NumDelivered;
      jsMsgMetaData_Destroy(meta);
    }
    state.import_message(msg, prefix, message, [this](const InMessage& in) {
      if (in.deliveries > 1) state.redelivered.fetch_add(1, std::memory_order_relaxed);
      post(in);  // blocks while the bus is full: nothing is dropped
      state.imported.fetch_add(1, std::memory_order_relaxed);
    });
  }
};

namespace {

void on_disconnected(natsConnection*, void* closure) {
  auto& state = *static_cast<Link::State*>(closure);
  state.call_hook([&state] { state.owner->disconnected(); });
}
void on_reconnected(natsConnection*, void* closure) {
  auto& state = *static_cast<Link::State*>(closure);
  state.call_hook([&state] { state.owner->reconnected(); });
}
void on_async_error(natsConnection*, natsSubscription*, natsStatus, void*) {
  // Slow-consumer drops are counted through natsSubscription_GetDropped.
}

}  // namespace

Link::Link(BridgeOptions options, std::function<void()> wait_idle)
    : state_(std::make_unique<State>()) {
  validate_prefix(options.prefix, "prefix", true);
  validate_prefix(options.durable_prefix, "durable_prefix", false);
  if (options.name.empty()) options.name = unique_name();
  if (options.publish_attempts < 1) {
    throw std::invalid_argument("courier::nats: BridgeOptions::publish_attempts " +
                                std::to_string(options.publish_attempts) + " is not at least 1");
  }
  if (options.write_deadline.count() < 0) {
    throw std::invalid_argument("courier::nats: BridgeOptions::write_deadline " +
                                std::to_string(options.write_deadline.count()) + " ms is negative");
  }
  Headers::validate(kOriginHeader, options.name);
  state_->options = std::move(options);
  state_->wait_idle = std::move(wait_idle);
  state_->owner = this;
  State& state = *state_;

  natsOptions* nats_options = nullptr;
  check(natsOptions_Create(&nats_options), "natsOptions_Create");
  struct OptionsGuard {
    natsOptions* options;
    ~OptionsGuard() { natsOptions_Destroy(options); }
  } guard{nats_options};
  const std::string& url = state.options.url;
  check(natsOptions_SetURL(nats_options, url.c_str()), "the URL \"" + url + "\"");
  // Core routes: our own publishes never come back to our subscriptions.
  check(natsOptions_SetNoEcho(nats_options, true), "no-echo");
  check(natsOptions_SetMaxReconnect(nats_options, state.options.max_reconnects), "max reconnects");
  check(natsOptions_SetReconnectWait(nats_options, state.options.reconnect_wait.count()),
        "reconnect wait");
  check(natsOptions_SetTimeout(nats_options, state.options.connect_timeout.count()), "timeout");
  check(natsOptions_SetName(nats_options, state.options.name.c_str()), "name");
  check(natsOptions_SetWriteDeadline(nats_options, state.options.write_deadline.count()),
        "write deadline");
  check(natsOptions_SetDisconnectedCB(nats_options, &on_disconnected, &state), "callbacks");
  check(natsOptions_SetReconnectedCB(nats_options, &on_reconnected, &state), "callbacks");
  check(natsOptions_SetClosedCB(
            nats_options,
            [](natsConnection*, void* closure) {
              auto& s = *static_cast<State*>(closure);
              const std::lock_guard lock(s.mutex);
              s.closed = true;
              s.changed.notify_all();
            },
            &state),
        "callbacks");
  check(natsOptions_SetErrorHandler(nats_options, &on_async_error, nullptr), "callbacks");
  check(natsConnection_Connect(&state.connection, nats_options), "connecting to \"" + url + "\"");

  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.PublishAsync.MaxPending = 65536;
  state.resender = std::make_unique<Resender>(
      state.options.publish_attempts, state.options.reconnect_wait,
      [&state](std::string_view subject, std::string reason) {
        state.publish_errors.fetch_add(1, std::memory_order_relaxed);
        state.report(BridgeFault::Kind::Publish, subject, std::move(reason));
      });
  // On libnats's thread, for a message the server refused: kept to send again.
  js_options.PublishAsync.ErrHandler = [](jsCtx*, jsPubAckErr* error, void* closure) {
    auto& s = *static_cast<State*>(closure);
    if (error->Msg == nullptr) return;
    s.resender->keep(error->Msg, error->ErrText != nullptr ? std::string(error->ErrText)
                                                           : status_text(error->Err));
  };
  js_options.PublishAsync.ErrHandlerClosure = &state;
  const natsStatus status =
      natsConnection_JetStream(&state.jetstream, state.connection, &js_options);
  if (status != NATS_OK) {
    natsConnection_Destroy(state.connection);
    check(status, "JetStream context");
  }
}

Link::~Link() { stop(); }

const std::string& Link::name() const noexcept { return state_->options.name; }

bool Link::connected() const {
  // Under the lock: stop() destroys the connection only once `stopping` is set.
  const std::lock_guard lock(state_->mutex);
  return !state_->stopping &&
         natsConnection_Status(state_->connection) == NATS_CONN_STATUS_CONNECTED;
}

void Link::add_export(std::string_view pattern, const RouteOptions& options, ExportParts parts) {
  const TopicPattern valid(pattern);  // throws, naming it
  State& state = *state_;
  assert(static_cast<bool>(parts.run) != static_cast<bool>(parts.attach) && parts.close &&
         parts.dropped);
  const State::Adding adding(state, "export", pattern);
  if (options.guarantee == Guarantee::AtLeastOnce) state.make_stream();
  auto route = std::make_unique<State::ExportRoute>(state, options, std::move(parts));
  State::ExportRoute& r = *route;
  {
    const std::lock_guard lock(state.mutex);
    state.exports.push_back(std::move(route));
  }
  if (r.parts.run) {
    r.thread = std::thread([&r] { r.parts.run(r); });
    return;
  }
  try {
    r.parts.attach(r);
  } catch (...) {
    const std::lock_guard lock(state.mutex);
    std::erase_if(state.exports, [&r](const auto& added) { return added.get() == &r; });
    throw;
  }
}

// A core import's route is in its list before it subscribes: the
// subscription's callback gets the route's address, which must stay valid
// until stop() (a list that cannot take the route fails before NATS knows
// of it). stop() cannot see the route before it is whole (Adding).
void Link::State::add_core_import(const std::string& subject, const RouteOptions& route_options,
                                  ImportFunction post) {
  auto owned =
      std::make_unique<CoreImport>(CoreImport{*this, std::move(post), options.prefix.size()});
  CoreImport& route = *owned;
  {
    const std::lock_guard lock(mutex);
    core_imports.push_back(std::move(owned));
  }
  natsSubscription* subscription = nullptr;
  const natsStatus subscribed = natsConnection_Subscribe(&subscription, connection, subject.c_str(),
                                                         &CoreImport::on_message, &route);
  {
    // stats() reads the route's subscription under the lock.
    const std::lock_guard lock(mutex);
    if (subscribed == NATS_OK) {
      route.subscription = subscription;
    } else {
      std::erase_if(core_imports, [&route](const auto& added) { return added.get() == &route; });
    }
  }
  check(subscribed, "subscribing to \"" + subject + "\"");
  if (natsSubscription_SetOnCompleteCB(subscription, &CoreImport::on_complete, &route) != NATS_OK) {
    // Only a subscription closed already is refused: its connection closed
    // for good (reconnects given up) in the microseconds since it was made.
    // Its callback, if a message was in it then, is not waited for: the one
    // case where stop() may free a route under its callback, accepted for a
    // window that short.
    const std::lock_guard lock(mutex);
    route.last_callback_returned = true;
  }
  natsSubscription_SetPendingLimits(subscription, static_cast<int>(route_options.queue_depth), -1);
  // The subscription is on the server once the flush returns: a later
  // publish reaches it. Without a connection, libnats sends it again when it
  // reconnects; until then the route is there but hears nothing (and the
  // flush would wait for its whole timeout).
  const bool up = natsConnection_Status(connection) == NATS_CONN_STATUS_CONNECTED;
  const natsStatus flushed =
      up ? natsConnection_FlushTimeout(connection, kFlushTimeoutMs) : NATS_CONNECTION_DISCONNECTED;
  if (flushed != NATS_OK) {
    report(BridgeFault::Kind::Import, subject,
           std::string("the server has not confirmed the subscription yet (") +
               natsStatus_GetText(flushed) + "): messages published before it does are missed");
  }
}

void Link::add_import(std::string_view pattern, const RouteOptions& options, ImportFunction post) {
  validate_route(options, true);
  const TopicPattern valid(pattern);  // throws, naming it
  State& state = *state_;
  const State::Adding adding(state, "import", pattern);
  if (options.guarantee == Guarantee::AtMostOnce) {
    state.add_core_import(state.options.prefix + std::string(pattern), options, std::move(post));
    return;
  }
  state.make_stream();
  const std::string subject =
      state.options.durable_prefix + state.options.prefix + std::string(pattern);
  auto route = std::make_unique<State::PullImport>(
      State::PullImport{state,
                        std::move(post),
                        state.options.durable_prefix.size() + state.options.prefix.size(),
                        static_cast<int>(std::min<std::size_t>(options.queue_depth, 1U << 20)),
                        nullptr,
                        {}});
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = state.options.stream.c_str();
  sub_options.Config.AckPolicy = js_AckExplicit;
  sub_options.Config.AckWait =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.ack_wait).count();
  sub_options.Config.MaxAckPending = static_cast<int64_t>(options.queue_depth);
  jsErrCode error = static_cast<jsErrCode>(0);
  check(js_PullSubscribe(&route->subscription, state.jetstream, subject.c_str(),
                         options.durable.c_str(), nullptr, &sub_options, &error),
        "the durable consumer \"" + options.durable + "\" on \"" + subject + "\"");
  // Listed, then started; if either throws (bad_alloc, or no thread to be
  // had), neither the route nor its subscription on the server stays behind.
  State::PullImport& listed = *route;
  natsSubscription* const subscription = route->subscription;
  try {
    {
      const std::lock_guard lock(state.mutex);
      state.pull_imports.push_back(std::move(route));
    }
    listed.thread = std::thread([&listed] { listed.run(); });
  } catch (...) {
    {
      const std::lock_guard lock(state.mutex);
      std::erase_if(state.pull_imports,
                    [&listed](const auto& added) { return added.get() == &listed; });
    }
    natsSubscription_Destroy(subscription);
    throw;
  }
}

// A drain posts what the subscription has received. It completes only once
// the server has confirmed it: without a connection, each would wait its
// whole timeout. So the drains start together and are waited for 5 s in
// all, not 5 s each. Then the subscriptions close (what a drain had not
// posted yet is dropped), and stop() waits, without a limit, for the
// callbacks still running (see CoreImport).
void Link::State::drain_core_imports() {
  for (auto& route : core_imports) {
    if (natsSubscription_Drain(route->subscription) != NATS_OK) {
      natsSubscription_Unsubscribe(route->subscription);  // its wait returns at once
    }
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kDrainTimeoutMs);
  for (auto& route : core_imports) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    // At least 1 ms: 0 would mean no limit.
    natsSubscription_WaitForDrainCompletion(route->subscription,
                                            std::max<int64_t>(left.count(), 1));
  }
  for (auto& route : core_imports) natsSubscription_Destroy(route->subscription);
  std::unique_lock lock(mutex);
  changed.wait(lock, [this] {
    return std::ranges::all_of(core_imports,
                               [](const auto& route) { return route->last_callback_returned; });
  });
}

void Link::stop() {
  State& state = *state_;
  // Whichever way this call ends (an exception too), a stop() waiting for it
  // returns: notified under the lock, so that the state may go once it has.
  struct MarkStopped {
    State& state;
    ~MarkStopped() {
      const std::lock_guard lock(state.mutex);
      state.stopped = true;
      state.changed.notify_all();
    }
  };
  {
    std::unique_lock lock(state.mutex);
    if (state.stopping) {
      // Another stop() is under way: return once the bridge has stopped.
      state.changed.wait(lock, [&] { return state.stopped; });
      return;
    }
    state.stopping = true;
    state.stop_flag = true;
    // A route being added is finished first (see Adding): no new one starts.
    state.changed.wait(lock, [&] { return state.adding == 0; });
  }
  const MarkStopped mark{state};
  state.changed.notify_all();
  // One deadline for all the exports' queues (their threads publish at once):
  // 5 s in all to publish what they hold, not 5 s each.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& route : state.exports) route->parts.close(deadline);
  // At-least-once messages that wait to be sent again (refused, or never
  // acknowledged) get their resends within the same deadline: the routes'
  // threads go on sending them once their queues are closed. What still
  // waits then is given up (counted, as the bridge stops).
  state.resender->wait_until_sent(deadline);
  state.publish_errors.fetch_add(state.resender->stop(), std::memory_order_relaxed);
  for (auto& route : state.exports) {
    if (route->thread.joinable()) route->thread.join();
  }
  for (auto& route : state.pull_imports) {
    if (route->thread.joinable()) route->thread.join();
    natsSubscription_Destroy(route->subscription);
  }
  state.drain_core_imports();
  // What the exports published is on the wire before the connection closes.
  if (natsConnection_Status(state.connection) == NATS_CONN_STATUS_CONNECTED) {
    natsConnection_FlushTimeout(state.connection, 2000);
  }
  jsCtx_Destroy(state.jetstream);
  natsConnection_Close(state.connection);
  {
    // The closed callback is libnats's last for this connection.
    std::unique_lock lock(state.mutex);
    state.changed.wait_for(lock, std::chrono::seconds(5), [&] { return state.closed; });
  }
  natsConnection_Destroy(state.connection);
}

BridgeStats Link::stats() const {
  const State& state = *state_;
  BridgeStats stats;
  stats.exported = state.exported.load(std::memory_order_relaxed);
  stats.imported = state.imported.load(std::memory_order_relaxed);
  stats.dropped = state.dropped.load(std::memory_order_relaxed);
  stats.redelivered = state.redelivered.load(std::memory_order_relaxed);
  stats.decode_errors = state.decode_errors.load(std::memory_order_relaxed);
  stats.publish_errors = state.publish_errors.load(std::memory_order_relaxed);
  stats.republished = state.resender->resent();
  auto& mutable_state = const_cast<State&>(state);
  const std::lock_guard lock(mutable_state.mutex);
  for (const auto& route : state.exports) stats.dropped += route->parts.dropped();
  if (!state.stopping) {
    for (const auto& route : state.core_imports) {
      if (route->subscription == nullptr) continue;  // being added
      int64_t lost = 0;
      if (natsSubscription_GetDropped(route->subscription, &lost) == NATS_OK && lost > 0) {
        stats.dropped += static_cast<std::uint64_t>(lost);
      }
    }
  }
  return stats;
}

}  // namespace courier::nats::detail
