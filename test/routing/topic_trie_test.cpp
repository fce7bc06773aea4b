// TopicTrie (issue 4): the wildcard index of a routing snapshot must find
// exactly the patterns TopicPattern::matches accepts, each once; and a bus
// routing through it must deliver accordingly.
#include "courier/detail/routing/topic_trie.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/topic.hpp"

namespace {

using courier::TopicPattern;
using courier::detail::TopicTrie;

// The trie of `patterns`: a pattern's id is its index.
TopicTrie trie_of(const std::vector<std::string>& patterns) {
  const std::vector<std::string_view> views(patterns.begin(), patterns.end());
  return TopicTrie(views);
}

// The patterns the trie visits for `topic`, in visit order (duplicates kept).
std::vector<std::string> visited(const TopicTrie& trie, const std::vector<std::string>& patterns,
                                 std::string_view topic) {
  std::vector<std::string> result;
  trie.for_each_match(topic, [&](std::uint32_t id) { result.push_back(patterns.at(id)); });
  return result;
}

// The patterns of `patterns` that TopicPattern::matches says match `topic`.
std::vector<std::string> brute_force(const std::vector<std::string>& patterns,
                                     std::string_view topic) {
  std::vector<std::string> result;
  for (const std::string& pattern : patterns) {
    if (TopicPattern(pattern).matches(topic)) result.push_back(pattern);
  }
  return result;
}

std::vector<std::string> sorted(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  return items;
}

// The patterns of `patterns` matching `topic` according to the trie, sorted.
std::vector<std::string> matches(const std::vector<std::string>& patterns, std::string_view topic) {
  return sorted(visited(trie_of(patterns), patterns, topic));
}

using Patterns = std::vector<std::string>;

TEST(TopicTrie, EmptyTrieMatchesNothing) {
  const TopicTrie trie;
  EXPECT_TRUE(trie.empty());
  EXPECT_TRUE(trie_of({}).empty());
  EXPECT_EQ(visited(trie, {}, "a"), Patterns{});
  EXPECT_FALSE(trie_of({"a.*"}).empty());
}

TEST(TopicTrie, StarMatchesExactlyOneToken) {
  const Patterns patterns{"a.*"};
  EXPECT_EQ(matches(patterns, "a.b"), patterns);
  EXPECT_EQ(matches(patterns, "a.c"), patterns);
  EXPECT_EQ(matches(patterns, "a"), Patterns{});
  EXPECT_EQ(matches(patterns, "a.b.c"), Patterns{});
  EXPECT_EQ(matches(patterns, "b.b"), Patterns{});
  EXPECT_EQ(matches({"*"}, "a"), Patterns{"*"});
  EXPECT_EQ(matches({"*"}, "a.b"), Patterns{});
  EXPECT_EQ(matches({"*.b"}, "x.b"), Patterns{"*.b"});
  EXPECT_EQ(matches({"*.b"}, "x.c"), Patterns{});
}

TEST(TopicTrie, StarInTheMiddleMatchesOneTokenBetweenLiterals) {
  const Patterns patterns{"a.*.c"};
  EXPECT_EQ(matches(patterns, "a.b.c"), patterns);
  EXPECT_EQ(matches(patterns, "a.x.c"), patterns);
  EXPECT_EQ(matches(patterns, "a.b.d"), Patterns{});
  EXPECT_EQ(matches(patterns, "a.c"), Patterns{});
  EXPECT_EQ(matches(patterns, "a.b.c.d"), Patterns{});
  EXPECT_EQ(matches(patterns, "b.b.c"), Patterns{});
}

TEST(TopicTrie, TailMatchesOneOrMoreTrailingTokens) {
  const Patterns patterns{"a.>"};
  EXPECT_EQ(matches(patterns, "a.b"), patterns);
  EXPECT_EQ(matches(patterns, "a.b.c.d"), patterns);
  EXPECT_EQ(matches(patterns, "a"), Patterns{}) << "'>' needs at least one token";
  EXPECT_EQ(matches(patterns, "b.a"), Patterns{});
}

TEST(TopicTrie, TailAloneMatchesEveryTopic) {
  const Patterns patterns{">"};
  EXPECT_EQ(matches(patterns, "a"), patterns);
  EXPECT_EQ(matches(patterns, "a.b.c"), patterns);
}

TEST(TopicTrie, StarThenTailNeedsAtLeastTwoTokens) {
  const Patterns patterns{"*.>"};
  EXPECT_EQ(matches(patterns, "a"), Patterns{});
  EXPECT_EQ(matches(patterns, "a.b"), patterns);
  EXPECT_EQ(matches(patterns, "a.b.c"), patterns);
}

TEST(TopicTrie, FindsEveryPatternMatchingATopicAndNoOther) {
  const Patterns matching{"a.b.c", "a.*.c", "*.b.*", "*.*.*", "a.>", "a.b.>", "*.>", ">", "a.*.>"};
  const Patterns others{"a.b",   "a.*",   "b.>", "*.*.*.*", "a.b.c.>",
                        "*.c.*", "a.b.d", "*",   "a.b.c.d"};
  Patterns patterns = matching;
  patterns.insert(patterns.end(), others.begin(), others.end());
  EXPECT_EQ(matches(patterns, "a.b.c"), sorted(matching));
}

TEST(TopicTrie, VisitsEachIdOnceEvenForSharedPrefixesAndRepeatedPatterns) {
  // The same pattern under three ids, and patterns reachable from the root by
  // both the literal and the "*" branch at every level.
  const Patterns patterns{"a.*", "a.*", "a.*", "a.b", "*.b", "*.*", "a.>", ">", "*.>"};
  const TopicTrie trie = trie_of(patterns);
  std::vector<int> visits(patterns.size(), 0);
  trie.for_each_match("a.b", [&](std::uint32_t id) { ++visits.at(id); });
  EXPECT_EQ(visits, std::vector<int>(patterns.size(), 1));
}

TEST(TopicTrie, LiteralChildrenAreNotConfusedWithPrefixesOfEachOther) {
  const Patterns patterns{"ab.*", "a.*", "abc.>"};
  EXPECT_EQ(matches(patterns, "a.x"), Patterns{"a.*"});
  EXPECT_EQ(matches(patterns, "ab.x"), Patterns{"ab.*"});
  EXPECT_EQ(matches(patterns, "abc.x"), Patterns{"abc.>"});
  EXPECT_EQ(matches(patterns, "abcd.x"), Patterns{});
}

// Random patterns and topics over a three-token alphabet (so that matches are
// frequent), compared with TopicPattern::matches over every pattern.
TEST(TopicTrie, AgreesWithMatchingEveryPatternOneByOne) {
  constexpr std::uint32_t kSeed = 20240604;
  constexpr int kRounds = 300;
  std::mt19937 random(kSeed);
  const std::vector<std::string> alphabet{"a", "b", "c"};
  const auto pick = [&](int low, int high) {
    return std::uniform_int_distribution<int>(low, high)(random);
  };
  const auto random_topic = [&] {
    std::string topic = alphabet[pick(0, 2)];
    for (int n = pick(1, 5); n > 1; --n) topic += "." + alphabet[pick(0, 2)];
    return topic;
  };
  const auto random_pattern = [&] {
    const int length = pick(1, 4);
    std::string pattern;
    for (int i = 0; i < length; ++i) {
      const int choice = pick(0, 5);  // a, b, c, "*" twice as likely, ">" if last
      std::string token = choice < 3 ? alphabet[choice] : "*";
      if (i + 1 == length && choice == 5) token = ">";
      pattern += (i == 0 ? "" : ".") + token;
    }
    return pattern;
  };

  std::size_t total_matches = 0;
  for (int round = 0; round < kRounds; ++round) {
    Patterns patterns;
    for (int n = pick(1, 40); n > 0; --n) patterns.push_back(random_pattern());
    const TopicTrie trie = trie_of(patterns);
    for (int t = 0; t < 30; ++t) {
      const std::string topic = random_topic();
      const Patterns expected = sorted(brute_force(patterns, topic));
      const Patterns actual = sorted(visited(trie, patterns, topic));
      total_matches += expected.size();
      if (actual != expected) {
        std::string listing;
        for (const std::string& pattern : patterns) listing += " " + pattern;
        FAIL() << "seed " << kSeed << ", round " << round << ": topic \"" << topic
               << "\" over patterns" << listing
               << "\n  trie:        " << testing::PrintToString(actual)
               << "\n  brute force: " << testing::PrintToString(expected);
      }
    }
  }
  // Guards the generator: a test where nothing matches would prove nothing.
  EXPECT_GT(total_matches, std::size_t{kRounds * 30});
}

// Through a synchronous bus: exact and wildcard subscriptions, two payload
// types, plain topics and topic handles; every subscription gets exactly the
// events whose topic its pattern matches, once each.
TEST(TopicTrie, BusDeliversEachEventOnceToEverySubscriptionWhosePatternMatches) {
  const Patterns patterns{"a.b", "a.b", "a.*", "*.b", "a.>", ">", "*.*.c", "b.*", "c"};
  const Patterns topics{"a.b", "a.c", "b.b", "a.b.c", "c", "d.e.f"};
  courier::EventBus bus(courier::Options{.synchronous = true});
  std::vector<Patterns> received(patterns.size());  // topics, by subscription
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    bus.subscribe<int>(patterns[i], [&received, i](const courier::Event<int>& event) {
      received[i].emplace_back(event.topic());
    });
  }
  Patterns received_texts;
  bus.subscribe<std::string>("a.*", [&](const courier::Event<std::string>& event) {
    received_texts.emplace_back(event.topic());
  });
  std::vector<courier::Topic> handles;  // resolved in the routing snapshot
  for (const std::string& topic : topics) handles.push_back(bus.topic(topic));

  for (const std::string& topic : topics) bus.post(courier::Event<int>(topic, 0));
  for (const courier::Topic& handle : handles) bus.post(handle, 0);
  bus.post(courier::Event<std::string>("a.c", "text"));

  for (std::size_t i = 0; i < patterns.size(); ++i) {
    Patterns expected;
    for (const std::string& topic : topics) {
      if (TopicPattern(patterns[i]).matches(topic)) expected.push_back(topic);
    }
    Patterns twice = expected;  // by name, then by handle
    twice.insert(twice.end(), expected.begin(), expected.end());
    EXPECT_EQ(received[i], twice) << "pattern " << patterns[i];
  }
  EXPECT_EQ(received_texts, Patterns{"a.c"});
}

}  // namespace
