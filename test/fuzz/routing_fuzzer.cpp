// libFuzzer target for routing: who receives which post.
//
// The input is a script, one step a line, its first character the step and the
// rest its argument:
//   s PATTERN   subscribe a Serial int callable        c PATTERN   ... Concurrent
//   d PATTERN   subscribe a Serial double callable     x DIGIT     cancel one handle
//   l PATTERNS  one Serial int callable on several space-separated patterns
//   o PATTERNS  a new Serial int Subscriber object on several patterns, in one call
//   a PATTERN   subscribe the newest object to one more pattern
//   p TOPIC     post an int                            k TOPIC     ... with a key
//   h TOPIC     post an int through bus.topic(TOPIC)   f TOPIC     post a double
// and, for SubscribeOptions and SubscriptionGroup (issue 15):
//   F PATTERN   a Serial int callable with a filter: it admits even posts and
//               throws on those that leave 3 modulo 7
//   r DIGIT PATTERN  a Serial int callable of priority DIGIT - 5
//   g PATTERN   a Serial int callable held by the script's SubscriptionGroup
//   G           cancel that group
//   t PATTERN   a Serial int callable tracking an owner of its own
//   T DIGIT     let go of one of those owners
//   S PATTERN   a filtered int stream (it admits posts not divisible by 3)
// and, for headers and audiences (issue 16 items 1 and 2):
//   i DIGIT PATTERN  a Serial int callable with the identity of user uDIGIT
//   I DIGIT PATTERN  ... a Concurrent one (several on one exact topic form a group)
//   H TOPIC     post an int carrying a header "n" = its number
//   u DIGITS TOPIC  post an int with that header and an audience of the users
//               uD for each digit D (none: nobody); without a space, the
//               whole argument is the topic and the audience is nobody
// Every int subscriber checks that a header "n", if present, is its event's
// number. An event with an audience must reach exactly the matching
// subscribers with an identity whose user is in it; presence(">") must list
// exactly the users of the subscriptions with an identity that hold a pattern.
// The script is played on a synchronous bus and an asynchronous one (which is
// waited idle after each post), interleaved line by line, then on fresh buses
// one after the other. After every post each bus must have delivered it
// exactly once to each subscriber (callable or object) one of whose patterns
// the reference matcher says matches, of the payload's type, however many of
// them match, and counted it dead when there were none. Cancelling a handle
// takes its patterns from its subscriber, which keeps the others. An invalid
// pattern (anywhere in a list) or topic must be refused with
// std::invalid_argument and change nothing. A filter's decision is the
// reference's too, a throwing filter counts as failed once, and on the
// synchronous bus the subscribers of a post run by priority, then in the
// order they were subscribed. has_subscribers(topic) must agree with the
// reference before each post, and a stream must count as received only what
// its filter admitted. This exercises the routing
// snapshots, the wildcard trie, subscribers with overlapping patterns, the
// concurrent groups, topic handles resolved before or after a subscription,
// each thread's cache of its last route and the synchronous post's shortest
// path (a topic posted to three times in a row), across every change of
// subscriptions.
// A disagreement aborts, so libFuzzer saves the input as a crash.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/subscription_group.hpp"
#include "reference_topic_matcher.hpp"

namespace {

constexpr std::size_t kMaxSteps = 48;
constexpr std::size_t kMaxSubscriptions = 12;

[[noreturn]] void disagree(const char* bus, const char* what, std::string_view argument) {
  std::fprintf(stderr, "routing_fuzzer: %s bus: %s\n  at: \"%.*s\"\n", bus, what,
               static_cast<int>(argument.size()), argument.data());
  std::abort();
}

enum class Payload { Int, Double };

// The order in which a bus's subscribers were called, by receiver number.
struct CallLog {
  std::mutex mutex;
  std::vector<std::size_t> calls;
};

// The posts one subscription received, by number.
struct Received {
  std::mutex mutex;
  std::vector<int> posts;
  std::shared_ptr<CallLog> log;
  std::size_t receiver = 0;

  void add(int post) {
    {
      std::lock_guard lock(mutex);
      posts.push_back(post);
    }
    std::lock_guard lock(log->mutex);
    log->calls.push_back(receiver);
  }
  std::vector<int> take() {
    std::lock_guard lock(mutex);
    return std::exchange(posts, {});
  }
};

// What an int subscriber does with an event: checks its header (a post's
// number, if the script gave it one), then records it.
void note(Received& received, const courier::Event<int>& event) {
  if (const std::string* number = event.headers().find("n");
      number != nullptr && *number != std::to_string(event.data())) {
    disagree("either", "an event's header changed on its way", *number);
  }
  received.add(event.data());
}

// A Subscriber object, recording as the callables do.
class RecordingObject final : public courier::Subscriber<int> {
 public:
  explicit RecordingObject(std::shared_ptr<Received> received) : received_(std::move(received)) {}
  void process(const courier::Event<int>& event) override { note(*received_, event); }

 private:
  std::shared_ptr<Received> received_;
};

// The F step's filter, and what the reference expects of it.
bool picky_throws(int post) { return post % 7 == 3; }
bool picky_admits(int post) { return post % 2 == 0; }
bool picky_filter(const courier::Event<int>& event) {
  if (picky_throws(event.data())) throw std::runtime_error("picky filter");
  return picky_admits(event.data());
}
// The S step's stream filter.
bool stream_admits(int post) { return post % 3 != 0; }

enum class Filter { None, Picky, Stream };

// One subscriber as the reference sees it: the patterns it holds now.
struct Receiver {
  std::set<std::string> patterns;
  Payload payload;
  std::shared_ptr<Received> received;
  std::shared_ptr<RecordingObject> object = nullptr;  // null for a callable
  Filter filter = Filter::None;
  int priority = 0;
  std::unique_ptr<courier::Stream<int>> stream = nullptr;  // set for a stream
  std::uint64_t stream_admitted = 0;                       // events it should have received
  std::string user = {};  // its identity's user; empty: no identity

  bool admits(int post) const {
    switch (filter) {
      case Filter::Picky:
        return !picky_throws(post) && picky_admits(post);
      case Filter::Stream:
        return stream_admits(post);
      case Filter::None:
        break;
    }
    return true;
  }
};

// A Subscription handle and the patterns it cancels.
struct Handle {
  courier::Subscription subscription;
  std::size_t receiver;
  std::vector<std::string> patterns;
};

// An owner a tracking subscription follows, and that subscription.
struct Owner {
  std::shared_ptr<int> owner;
  std::size_t receiver;
};

std::vector<std::string_view> split_patterns(std::string_view list) {
  std::vector<std::string_view> patterns;
  while (!list.empty()) {
    const std::size_t end = list.find(' ');
    patterns.push_back(list.substr(0, end));
    list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
  }
  return patterns;
}

bool all_valid(const std::vector<std::string_view>& patterns) {
  for (std::string_view pattern : patterns) {
    if (!courier_reference::is_valid_pattern(pattern)) return false;
  }
  return !patterns.empty();
}

// One bus under test and what the reference expects of it.
class Trial {
 public:
  Trial(const char* name, courier::Options options)
      : name_(name), ordered_(options.synchronous), bus_(options) {}

  bool full() const noexcept { return receivers_.size() >= kMaxSubscriptions; }

  // A new callable on `patterns`.
  void subscribe(const std::vector<std::string_view>& patterns, Payload payload,
                 courier::Concurrency concurrency) {
    auto received = new_received();
    const std::vector<std::string> owned(patterns.begin(), patterns.end());
    attempt(
        patterns,
        [&] {
          return payload == Payload::Int
                     ? bus_.subscribe<int>(
                           owned, [received](const courier::Event<int>& e) { note(*received, e); },
                           concurrency)
                     : bus_.subscribe<double>(
                           owned,
                           [received](const courier::Event<double>& e) {
                             received->add(static_cast<int>(e.data()));
                           },
                           concurrency);
        },
        Receiver{{}, payload, received});
  }

  // A new Serial int callable on `pattern` with `options`; `filter` and
  // `priority` are what the reference expects of them.
  void subscribe_with(std::string_view pattern, courier::SubscribeOptions<int> options,
                      Filter filter, int priority) {
    auto received = new_received();
    attempt(
        {pattern},
        [&] {
          return bus_.subscribe<int>(
              pattern, [received](const courier::Event<int>& e) { note(*received, e); },
              std::move(options));
        },
        Receiver{{}, Payload::Int, received, nullptr, filter, priority});
  }

  // A callable with the identity of `user`, Serial or Concurrent.
  void subscribe_identified(std::string_view pattern, std::string user,
                            courier::Concurrency concurrency) {
    auto received = new_received();
    Receiver receiver{{}, Payload::Int, received};
    receiver.user = user;
    attempt(
        {pattern},
        [&] {
          return bus_.subscribe<int>(
              {std::string(pattern)},
              [received](const courier::Event<int>& e) { note(*received, e); }, concurrency,
              {.identity = courier::Identity{.user = user}});
        },
        std::move(receiver));
  }

  // A callable held by the group instead of a handle.
  void subscribe_into_group(std::string_view pattern) {
    auto received = new_received();
    const bool valid = courier_reference::is_valid_pattern(pattern);
    try {
      group_.add(bus_.subscribe<int>(
          pattern, [received](const courier::Event<int>& e) { note(*received, e); }));
      if (!valid) disagree(name_, "an invalid pattern was accepted", pattern);
      receivers_.push_back(Receiver{{std::string(pattern)}, Payload::Int, received});
      grouped_.push_back(receivers_.size() - 1);
    } catch (const std::invalid_argument&) {
      if (valid) disagree(name_, "a valid pattern was refused", pattern);
    }
  }

  void cancel_group() {
    group_.cancel();
    if (!group_.empty()) disagree(name_, "a cancelled group still holds subscriptions", "");
    for (std::size_t receiver : std::exchange(grouped_, {})) receivers_[receiver].patterns.clear();
  }

  // A callable tracking an owner of its own.
  void subscribe_tracked(std::string_view pattern) {
    auto owner = std::make_shared<int>(0);
    const std::size_t receivers_before = receivers_.size();
    subscribe_with(pattern, {.track = owner}, Filter::None, 0);
    if (receivers_.size() != receivers_before) {
      owners_.push_back({std::move(owner), receivers_.size() - 1});
    }
  }

  void drop_owner(std::size_t which) {
    if (owners_.empty()) return;
    const std::size_t index = which % owners_.size();
    Owner& owner = owners_[index];
    owner.owner.reset();
    receivers_[owner.receiver].patterns.clear();
    for (const Handle& handle : handles_) {
      if (handle.receiver == owner.receiver && handle.subscription.active()) {
        disagree(name_, "a subscription whose owner is gone is still active", "");
      }
    }
    owners_.erase(owners_.begin() + static_cast<std::ptrdiff_t>(index));
  }

  // A filtered stream on `pattern`, read after every post.
  void open_stream(std::string_view pattern) {
    auto received = new_received();
    const bool valid = courier_reference::is_valid_pattern(pattern);
    try {
      auto stream = std::make_unique<courier::Stream<int>>(bus_.stream<int>(
          pattern, {.depth = 64},
          {.filter = [](const courier::Event<int>& e) { return stream_admits(e.data()); }}));
      if (!valid) disagree(name_, "an invalid pattern was accepted", pattern);
      receivers_.push_back(Receiver{{std::string(pattern)},
                                    Payload::Int,
                                    received,
                                    nullptr,
                                    Filter::Stream,
                                    0,
                                    std::move(stream)});
    } catch (const std::invalid_argument&) {
      if (valid) disagree(name_, "a valid pattern was refused", pattern);
    }
  }

  // A new Subscriber object on `patterns`, subscribed in one call.
  void subscribe_object(const std::vector<std::string_view>& patterns) {
    auto received = new_received();
    auto object = std::make_shared<RecordingObject>(received);
    const std::vector<std::string> owned(patterns.begin(), patterns.end());
    attempt(
        patterns, [&] { return bus_.subscribe(object, owned); },
        Receiver{{}, Payload::Int, received, object});
  }

  // One more pattern for the newest object.
  void add_to_object(std::string_view pattern) {
    for (std::size_t i = receivers_.size(); i-- > 0;) {
      if (receivers_[i].object == nullptr) continue;
      const bool valid = courier_reference::is_valid_pattern(pattern);
      try {
        courier::Subscription subscription = bus_.subscribe(receivers_[i].object, pattern);
        if (!valid) disagree(name_, "an invalid pattern was accepted", pattern);
        if (!bus_.is_subscribed(receivers_[i].object, pattern)) {
          disagree(name_, "is_subscribed denies a pattern just subscribed", pattern);
        }
        receivers_[i].patterns.emplace(pattern);
        handles_.push_back({std::move(subscription), i, {std::string(pattern)}});
      } catch (const std::invalid_argument&) {
        if (valid) disagree(name_, "a valid pattern was refused", pattern);
      }
      return;
    }
  }

  void cancel(std::size_t which) {
    if (handles_.empty()) return;
    const std::size_t index = which % handles_.size();
    Handle& handle = handles_[index];
    handle.subscription.cancel();
    for (const std::string& pattern : handle.patterns) {
      receivers_[handle.receiver].patterns.erase(pattern);
    }
    handles_.erase(handles_.begin() + static_cast<std::ptrdiff_t>(index));
  }

  enum class Via { String, Keyed, Handle, Header, Audience };

  // Posts number `post` to `topic` (for Via::Audience, to `audience`) and
  // checks who got it.
  void post(std::string_view topic, Payload payload, Via via, int post,
            const std::vector<std::string>& audience = {}) {
    check_presence();
    const bool valid = courier_reference::is_valid_topic(topic);
    if (valid) check_has_subscribers(topic);
    const courier::Stats before = bus_.stats();
    const std::uint64_t dead_before = before.dead;
    {
      std::lock_guard lock(log_->mutex);
      log_->calls.clear();
    }
    try {
      send(topic, payload, via, post, audience);
      if (!valid) disagree(name_, "an invalid topic was accepted", topic);
    } catch (const std::invalid_argument&) {
      if (valid) disagree(name_, "a valid topic was refused", topic);
    }
    // A Block stream's consumer takes its events from the bus itself (until
    // then they are the bus's, and wait_idle() waits for them): take them
    // first. read_stream checks what was taken below.
    for (Receiver& receiver : receivers_) {
      if (receiver.stream == nullptr) continue;
      while (std::optional<courier::Event<int>> event =
                 receiver.stream->next(std::chrono::milliseconds(0))) {
        receiver.received->add(event->data());
      }
    }
    bus_.wait_idle();
    bool any = false;
    std::uint64_t throws = 0;
    std::vector<std::size_t> expected_calls;
    for (std::size_t index = 0; index < receivers_.size(); ++index) {
      Receiver& receiver = receivers_[index];
      const bool matches = valid && receiver.payload == payload &&
                           std::any_of(receiver.patterns.begin(), receiver.patterns.end(),
                                       [&](const std::string& pattern) {
                                         return courier_reference::matches(pattern, topic);
                                       });
      const bool in_audience = via != Via::Audience || (!receiver.user.empty() &&
                                                        std::find(audience.begin(), audience.end(),
                                                                  receiver.user) != audience.end());
      const bool expected = matches && receiver.admits(post) && in_audience;
      // The audience is checked first: a filter never sees an event not for it.
      if (matches && in_audience && receiver.filter == Filter::Picky && picky_throws(post)) {
        ++throws;
      }
      if (expected && receiver.stream == nullptr) expected_calls.push_back(index);
      if (receiver.stream != nullptr) read_stream(receiver, expected);
      const std::vector<int> got = receiver.received->take();
      if (got != (expected ? std::vector<int>{post} : std::vector<int>{})) {
        disagree(name_,
                 expected ? "a matching subscriber did not get the post exactly once"
                          : "a subscriber got a post none of its patterns matches",
                 receiver.patterns.empty() ? std::string_view() : *receiver.patterns.begin());
      }
      any |= expected;
    }
    const std::uint64_t dead = bus_.stats().dead - dead_before;
    if (dead != (valid && !any ? 1u : 0u)) {
      disagree(name_, "a post that reached no one was not counted dead once (or one was)", topic);
    }
    if (bus_.stats().failed - before.failed != throws) {
      disagree(name_, "a throwing filter was not counted failed once per subscriber", topic);
    }
    if (ordered_) check_call_order(std::move(expected_calls), topic);
  }

 private:
  std::shared_ptr<Received> new_received() {
    auto received = std::make_shared<Received>();
    received->log = log_;
    received->receiver = receivers_.size();
    return received;
  }

  // Whatever the stream holds now goes to its Received; it must count as
  // received exactly what its filter admitted.
  void read_stream(Receiver& receiver, bool expected) {
    if (expected) ++receiver.stream_admitted;
    while (std::optional<courier::Event<int>> event =
               receiver.stream->next(std::chrono::milliseconds(0))) {
      receiver.received->add(event->data());
    }
    if (receiver.stream->stats().received != receiver.stream_admitted) {
      disagree(name_, "a stream counted as received what its filter declined", "");
    }
  }

  // presence(">") lists every subscription with an identity that holds a
  // pattern: compared as sorted lists of users.
  void check_presence() const {
    std::vector<std::string> expected;
    for (const Receiver& receiver : receivers_) {
      if (!receiver.user.empty() && !receiver.patterns.empty()) expected.push_back(receiver.user);
    }
    std::vector<std::string> listed;
    for (const courier::Identity& identity : bus_.presence(">")) listed.push_back(identity.user);
    std::sort(expected.begin(), expected.end());
    std::sort(listed.begin(), listed.end());
    if (listed != expected) disagree(name_, "presence disagrees with the reference", "");
  }

  void check_has_subscribers(std::string_view topic) const {
    bool any = false, any_int = false;
    for (const Receiver& receiver : receivers_) {
      for (const std::string& pattern : receiver.patterns) {
        if (!courier_reference::matches(pattern, topic)) continue;
        any = true;
        any_int |= receiver.payload == Payload::Int;
      }
    }
    if (bus_.has_subscribers(topic) != any || bus_.has_subscribers<int>(topic) != any_int) {
      disagree(name_, "has_subscribers disagrees with the reference", topic);
    }
  }

  // Callables only (a stream's consumer is not called by the bus): by
  // priority, then in the order they were subscribed, which receivers_ keeps.
  void check_call_order(std::vector<std::size_t> expected, std::string_view topic) {
    std::stable_sort(expected.begin(), expected.end(), [&](std::size_t a, std::size_t b) {
      return receivers_[a].priority > receivers_[b].priority;
    });
    std::vector<std::size_t> calls;
    {
      std::lock_guard lock(log_->mutex);
      calls = std::exchange(log_->calls, {});
    }
    std::erase_if(calls,
                  [&](std::size_t receiver) { return receivers_[receiver].stream != nullptr; });
    if (calls != expected) disagree(name_, "subscribers ran out of priority order", topic);
  }

  void send(std::string_view topic, Payload payload, Via via, int post,
            const std::vector<std::string>& audience) {
    const std::string text(topic);
    if (via == Via::Header || via == Via::Audience) {
      courier::Event<int> event(text, post);
      event.set_header("n", std::to_string(post));
      if (via == Via::Audience) event.set_audience(courier::Audience(audience));
      bus_.post(std::move(event));
    } else if (payload == Payload::Double) {
      bus_.post(courier::Event<double>(text, static_cast<double>(post)));
    } else if (via == Via::Keyed) {
      bus_.post(courier::Event<int>(text, post, "key"));
    } else if (via == Via::Handle) {
      auto found = topics_.find(text);
      if (found == topics_.end()) found = topics_.emplace(text, bus_.topic(text)).first;
      bus_.post(found->second, post);
    } else {
      bus_.post(courier::Event<int>(text, post));
    }
  }

  // Subscribes through `make` (which returns the handle); on success the
  // reference adds `receiver` with `patterns`.
  template <class Make>
  void attempt(const std::vector<std::string_view>& patterns, Make make, Receiver receiver) {
    const bool valid = all_valid(patterns);
    const std::string_view shown = patterns.empty() ? std::string_view() : patterns.front();
    try {
      courier::Subscription subscription = make();
      if (!valid) disagree(name_, "an invalid list of patterns was accepted", shown);
      receiver.patterns.insert(patterns.begin(), patterns.end());
      receivers_.push_back(std::move(receiver));
      handles_.push_back({std::move(subscription), receivers_.size() - 1,
                          std::vector<std::string>(patterns.begin(), patterns.end())});
    } catch (const std::invalid_argument&) {
      if (valid) disagree(name_, "a valid list of patterns was refused", shown);
    }
  }

  const char* name_;
  const bool ordered_;  // a synchronous bus: check the order of calls
  std::shared_ptr<CallLog> log_ = std::make_shared<CallLog>();
  courier::EventBus bus_;
  std::vector<Receiver> receivers_;
  std::vector<Handle> handles_;
  std::map<std::string, courier::Topic> topics_;
  courier::SubscriptionGroup group_;
  std::vector<std::size_t> grouped_;  // receivers held by group_
  std::vector<Owner> owners_;
};

// The post steps of a script: what each posts, and how.
struct PostStep {
  char step;
  Payload payload;
  Trial::Via via;
};
constexpr PostStep kPostSteps[] = {
    {'p', Payload::Int, Trial::Via::String}, {'k', Payload::Int, Trial::Via::Keyed},
    {'h', Payload::Int, Trial::Via::Handle}, {'f', Payload::Double, Trial::Via::String},
    {'H', Payload::Int, Trial::Via::Header},
};

// The u step: "DIGITS TOPIC" posts to users uD; without a space, the
// argument is the topic and the audience nobody.
void post_to_audience(Trial& trial, std::string_view argument, int post) {
  const std::size_t space = argument.find(' ');
  std::vector<std::string> users;
  if (space != std::string_view::npos) {
    for (char c : argument.substr(0, space)) {
      if (c >= '0' && c <= '9') users.push_back(std::string("u") + c);
    }
    argument = argument.substr(space + 1);
  }
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  trial.post(argument, Payload::Int, Trial::Via::Audience, post, users);
}

// The steps that subscribe with SubscribeOptions, into the group, or a stream.
void play_options_step(Trial& trial, char step, std::string_view argument) {
  switch (step) {
    case 'F':
      return trial.subscribe_with(argument, {.filter = picky_filter}, Filter::Picky, 0);
    case 'r': {
      const int priority = argument.empty() ? 0 : (argument[0] - '0') % 10 - 5;
      const std::string_view pattern = argument.empty() ? argument : argument.substr(1);
      return trial.subscribe_with(pattern, {.priority = priority}, Filter::None, priority);
    }
    case 'g':
      return trial.subscribe_into_group(argument);
    case 't':
      return trial.subscribe_tracked(argument);
    case 'i':
    case 'I': {
      const std::string user =
          argument.empty()
              ? std::string("u0")
              : std::string("u") +
                    static_cast<char>('0' + static_cast<unsigned char>(argument[0]) % 10);
      const std::string_view pattern = argument.empty() ? argument : argument.substr(1);
      return trial.subscribe_identified(
          pattern, user,
          step == 'I' ? courier::Concurrency::Concurrent : courier::Concurrency::Serial);
    }
    default:
      return trial.open_stream(argument);
  }
}

void play(Trial& trial, char step, std::string_view argument, int post) {
  if (step == 's' || step == 'c' || step == 'd' || step == 'l') {
    if (trial.full()) return;
    const std::vector<std::string_view> patterns =
        step == 'l' ? split_patterns(argument) : std::vector<std::string_view>{argument};
    trial.subscribe(patterns, step == 'd' ? Payload::Double : Payload::Int,
                    step == 'c' ? courier::Concurrency::Concurrent : courier::Concurrency::Serial);
  } else if (step == 'o') {
    if (!trial.full()) trial.subscribe_object(split_patterns(argument));
  } else if (step == 'a') {
    trial.add_to_object(argument);
  } else if (step == 'x') {
    trial.cancel(argument.empty() ? 0 : static_cast<unsigned char>(argument[0]));
  } else if (step == 'F' || step == 'r' || step == 'g' || step == 't' || step == 'S' ||
             step == 'i' || step == 'I') {
    if (!trial.full()) play_options_step(trial, step, argument);
  } else if (step == 'G') {
    trial.cancel_group();
  } else if (step == 'T') {
    trial.drop_owner(argument.empty() ? 0 : static_cast<unsigned char>(argument[0]));
  } else if (step == 'u') {
    post_to_audience(trial, argument, post);
  } else {
    for (const PostStep& post_step : kPostSteps) {
      if (post_step.step == step) trial.post(argument, post_step.payload, post_step.via, post);
    }
  }
}

// Plays `script` on `trials` line by line, each line on each trial in turn.
void play_script(std::string_view script, std::initializer_list<Trial*> trials) {
  int post = 0;
  for (std::size_t step = 0; step < kMaxSteps && !script.empty(); ++step) {
    const std::size_t end = script.find('\n');
    const std::string_view line = script.substr(0, end);
    script = end == std::string_view::npos ? std::string_view() : script.substr(end + 1);
    if (line.empty()) continue;
    for (Trial* trial : trials) play(*trial, line[0], line.substr(1), post);
    ++post;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view script(reinterpret_cast<const char*>(data), size);
  {
    // Interleaved: the posting thread switches buses at every post.
    Trial synchronous("synchronous", courier::Options{.synchronous = true});
    Trial asynchronous("asynchronous", courier::Options{.threads = 2, .queue_capacity = 64});
    play_script(script, {&synchronous, &asynchronous});
  }
  // In turn: posts to one bus in a row, as a thread repeating a topic makes
  // them (the synchronous post's shortest path needs the thread's previous
  // post to have gone to the same bus).
  Trial synchronous("synchronous", courier::Options{.synchronous = true});
  play_script(script, {&synchronous});
  Trial asynchronous("asynchronous", courier::Options{.threads = 2, .queue_capacity = 64});
  play_script(script, {&asynchronous});
  return 0;
}
