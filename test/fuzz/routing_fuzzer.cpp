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
// The script is played on a synchronous bus and an asynchronous one (which is
// waited idle after each post), interleaved line by line, then on fresh buses
// one after the other. After every post each bus must have delivered it
// exactly once to each subscriber (callable or object) one of whose patterns
// the reference matcher says matches, of the payload's type, however many of
// them match, and counted it dead when there were none. Cancelling a handle
// takes its patterns from its subscriber, which keeps the others. An invalid
// pattern (anywhere in a list) or topic must be refused with
// std::invalid_argument and change nothing. This exercises the routing
// snapshots, the wildcard trie, subscribers with overlapping patterns, the
// concurrent groups, topic handles resolved before or after a subscription,
// each thread's cache of its last route and the synchronous post's shortest
// path (a topic posted to three times in a row), across every change of
// subscriptions.
// A disagreement aborts, so libFuzzer saves the input as a crash.
#include <algorithm>
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

// The posts one subscription received, by number.
struct Received {
  std::mutex mutex;
  std::vector<int> posts;

  void add(int post) {
    std::lock_guard lock(mutex);
    posts.push_back(post);
  }
  std::vector<int> take() {
    std::lock_guard lock(mutex);
    return std::exchange(posts, {});
  }
};

// A Subscriber object, recording as the callables do.
class RecordingObject final : public courier::Subscriber<int> {
 public:
  explicit RecordingObject(std::shared_ptr<Received> received) : received_(std::move(received)) {}
  void process(const courier::Event<int>& event) override { received_->add(event.data()); }

 private:
  std::shared_ptr<Received> received_;
};

// One subscriber as the reference sees it: the patterns it holds now.
struct Receiver {
  std::set<std::string> patterns;
  Payload payload;
  std::shared_ptr<Received> received;
  std::shared_ptr<RecordingObject> object;  // null for a callable
};

// A Subscription handle and the patterns it cancels.
struct Handle {
  courier::Subscription subscription;
  std::size_t receiver;
  std::vector<std::string> patterns;
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
  Trial(const char* name, courier::Options options) : name_(name), bus_(options) {}

  bool full() const noexcept { return receivers_.size() >= kMaxSubscriptions; }

  // A new callable on `patterns`.
  void subscribe(const std::vector<std::string_view>& patterns, Payload payload,
                 courier::Concurrency concurrency) {
    auto received = std::make_shared<Received>();
    const std::vector<std::string> owned(patterns.begin(), patterns.end());
    attempt(
        patterns,
        [&] {
          return payload == Payload::Int
                     ? bus_.subscribe<int>(
                           owned,
                           [received](const courier::Event<int>& e) { received->add(e.data()); },
                           concurrency)
                     : bus_.subscribe<double>(
                           owned,
                           [received](const courier::Event<double>& e) {
                             received->add(static_cast<int>(e.data()));
                           },
                           concurrency);
        },
        Receiver{{}, payload, received, nullptr});
  }

  // A new Subscriber object on `patterns`, subscribed in one call.
  void subscribe_object(const std::vector<std::string_view>& patterns) {
    auto received = std::make_shared<Received>();
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

  enum class Via { String, Keyed, Handle };

  // Posts number `post` to `topic` and checks who got it.
  void post(std::string_view topic, Payload payload, Via via, int post) {
    const bool valid = courier_reference::is_valid_topic(topic);
    const std::uint64_t dead_before = bus_.stats().dead;
    try {
      send(topic, payload, via, post);
      if (!valid) disagree(name_, "an invalid topic was accepted", topic);
    } catch (const std::invalid_argument&) {
      if (valid) disagree(name_, "a valid topic was refused", topic);
    }
    bus_.wait_idle();
    bool any = false;
    for (Receiver& receiver : receivers_) {
      const bool expected = valid && receiver.payload == payload &&
                            std::any_of(receiver.patterns.begin(), receiver.patterns.end(),
                                        [&](const std::string& pattern) {
                                          return courier_reference::matches(pattern, topic);
                                        });
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
  }

 private:
  void send(std::string_view topic, Payload payload, Via via, int post) {
    const std::string text(topic);
    if (payload == Payload::Double) {
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
  courier::EventBus bus_;
  std::vector<Receiver> receivers_;
  std::vector<Handle> handles_;
  std::map<std::string, courier::Topic> topics_;
};

// The post steps of a script: what each posts, and how.
struct PostStep {
  char step;
  Payload payload;
  Trial::Via via;
};
constexpr PostStep kPostSteps[] = {
    {'p', Payload::Int, Trial::Via::String},
    {'k', Payload::Int, Trial::Via::Keyed},
    {'h', Payload::Int, Trial::Via::Handle},
    {'f', Payload::Double, Trial::Via::String},
};

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
