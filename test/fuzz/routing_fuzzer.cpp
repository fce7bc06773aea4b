// libFuzzer target for routing: who receives which post.
//
// The input is a script, one step a line, its first character the step and the
// rest its argument:
//   s PATTERN   subscribe a Serial int subscriber      c PATTERN   ... Concurrent
//   d PATTERN   subscribe a Serial double subscriber   x DIGIT     cancel one
//   p TOPIC     post an int                            k TOPIC     ... with a key
//   h TOPIC     post an int through bus.topic(TOPIC)   f TOPIC     post a double
// The script is played on a synchronous bus and an asynchronous one (which is
// waited idle after each post), interleaved line by line, then on fresh buses
// one after the other. After every post each bus must have delivered it
// exactly to the subscriptions that the reference matcher says match, of the
// payload's type, and counted it dead when there were none. An invalid pattern
// or topic must be refused with std::invalid_argument and change nothing. This
// exercises the routing snapshots, the wildcard trie, the concurrent groups,
// topic handles resolved before or after a subscription, each thread's cache
// of its last route and the synchronous post's shortest path (a topic posted
// to three times in a row), across every change of subscriptions.
// A disagreement aborts, so libFuzzer saves the input as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
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

struct Subscribed {
  std::string pattern;
  Payload payload;
  courier::Subscription handle;
  std::shared_ptr<Received> received;
};

// One bus under test and what the reference expects of it.
class Trial {
 public:
  Trial(const char* name, courier::Options options) : name_(name), bus_(options) {}

  void subscribe(std::string_view pattern, Payload payload, courier::Concurrency concurrency) {
    const bool valid = courier_reference::is_valid_pattern(pattern);
    auto received = std::make_shared<Received>();
    try {
      courier::Subscription handle =
          payload == Payload::Int
              ? bus_.subscribe<int>(
                    pattern, [received](const courier::Event<int>& e) { received->add(e.data()); },
                    concurrency)
              : bus_.subscribe<double>(
                    pattern,
                    [received](const courier::Event<double>& e) {
                      received->add(static_cast<int>(e.data()));
                    },
                    concurrency);
      if (!valid) disagree(name_, "an invalid pattern was accepted", pattern);
      subscribed_.push_back({std::string(pattern), payload, std::move(handle), received});
    } catch (const std::invalid_argument&) {
      if (valid) disagree(name_, "a valid pattern was refused", pattern);
    }
  }

  std::size_t subscriptions() const noexcept { return subscribed_.size(); }

  void cancel(std::size_t which) {
    if (subscribed_.empty()) return;
    const std::size_t index = which % subscribed_.size();
    subscribed_[index].handle.cancel();
    subscribed_.erase(subscribed_.begin() + static_cast<std::ptrdiff_t>(index));
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
    for (Subscribed& subscription : subscribed_) {
      const bool expected = valid && subscription.payload == payload &&
                            courier_reference::matches(subscription.pattern, topic);
      const std::vector<int> got = subscription.received->take();
      if (got != (expected ? std::vector<int>{post} : std::vector<int>{})) {
        disagree(name_,
                 expected ? "a matching subscription did not get the post exactly once"
                          : "a subscription got a post it does not match",
                 subscription.pattern);
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
      auto found = handles_.find(text);
      if (found == handles_.end()) found = handles_.emplace(text, bus_.topic(text)).first;
      bus_.post(found->second, post);
    } else {
      bus_.post(courier::Event<int>(text, post));
    }
  }

  const char* name_;
  courier::EventBus bus_;
  std::vector<Subscribed> subscribed_;
  std::map<std::string, courier::Topic> handles_;
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
  if (step == 's' || step == 'c' || step == 'd') {
    if (trial.subscriptions() >= kMaxSubscriptions) return;
    trial.subscribe(argument, step == 'd' ? Payload::Double : Payload::Int,
                    step == 'c' ? courier::Concurrency::Concurrent : courier::Concurrency::Serial);
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
