// TopicTrie: the wildcard patterns of a routing snapshot, arranged so that
// finding those matching a topic costs about the same for 1 pattern as for
// thousands (issue 4: post cost within 1.5x from 1 to 64 wildcard patterns).
//
// Structure. A pattern is a path of tokens from the root (topic.hpp: "*" is
// one token, a final ">" one or more). Each node stands for a pattern prefix
// and has:
//   - literal children, one per plain token;
//   - at most one "*" child;
//   - `tails`: the patterns that are this prefix followed by ">";
//   - `ends`: the patterns that are exactly this prefix.
// Patterns sharing a prefix share its nodes, and the same pattern given twice
// sits twice in one list.
//
// Storage. The trie is built once, from all its patterns, and never changes,
// so it is laid out flat: nodes are small structs in one vector, naming each
// other by index; every node's `tails` and `ends` are adjacent ranges of one
// id vector; and the literal children of all nodes are one hash map keyed by
// (parent index, token), searched with a std::string_view into the topic so
// that no string is built. A routing snapshot is rebuilt on every subscribe
// and unsubscribe, so this keeps building 100,000 patterns to a few
// allocations per pattern.
//
// Walk. Starting at the root, for each token of the topic in turn: every
// pattern in the node's `tails` matches (">" takes this token and the rest),
// then the walk goes on into the literal child for the token and into the "*"
// child, whichever exist. When the topic is used up, the node's `ends` match.
// The walk thus follows at most two children per level, and since every
// pattern is a single path it reaches each pattern's list at most once: each
// id is visited at most once per topic, without any bookkeeping. The cost is
// one hash of each token along the way (none at a node without literal
// children) plus one step per match, whatever the number of patterns that do
// not match.
//
// The walk loops down the literal child and recurses only where a "*" child
// is also followed, so its depth is at most the number of "*" tokens in the
// longest pattern; it allocates nothing.
//
// Tokens are split at every dot, as TopicPattern::matches splits them, so the
// two agree on every topic, valid or not.
//
// Thread safety: immutable once built; shared objects: safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace courier::detail {

class TopicTrie {
 public:
  // The trie of `patterns`, each the text of a valid TopicPattern; a pattern's
  // id is its index there. Fewer than 2^32 patterns.
  explicit TopicTrie(std::span<const std::string_view> patterns = {});

  bool empty() const noexcept { return ids_.empty(); }

  // Calls `visit(std::uint32_t id)` once for every pattern matching `topic`,
  // in no particular order. Allocates nothing.
  template <class Visit>
  void for_each_match(std::string_view topic, Visit&& visit) const {
    if (!empty()) visit_from(kRoot, topic, 0, visit);
  }

 private:
  static constexpr std::uint32_t kRoot = 0;
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};

  // The ids of a node's patterns ending in ">" are ids_[tails_begin, ends_begin),
  // those ending at the node ids_[ends_begin, ends_end).
  struct Node {
    std::uint32_t star = kNone;
    std::uint32_t tails_begin = 0;
    std::uint32_t ends_begin = 0;
    std::uint32_t ends_end = 0;
    bool has_literals = false;  // saves hashing the token where there is none
  };

  // A literal child's key: the parent's index and the token.
  struct LiteralEdge {
    std::uint32_t parent;
    std::string token;
  };
  struct LiteralEdgeView {
    std::uint32_t parent;
    std::string_view token;
  };
  struct LiteralEdgeHash {
    using is_transparent = void;
    std::size_t operator()(const LiteralEdgeView& edge) const noexcept {
      return std::hash<std::string_view>{}(edge.token) ^
             (std::size_t{edge.parent} * static_cast<std::size_t>(0x9E3779B97F4A7C15ULL));
    }
    std::size_t operator()(const LiteralEdge& edge) const noexcept {
      return (*this)(LiteralEdgeView{edge.parent, edge.token});
    }
  };
  struct LiteralEdgeEqual {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return a.parent == b.parent && std::string_view(a.token) == std::string_view(b.token);
    }
  };

  // Where a pattern's path ends, and whether it ends in ">" (a tail) there.
  struct Placement {
    std::uint32_t node;
    bool tail;
  };

  // Where the token starting at `begin` ends: at the next dot or the end. A
  // plain loop: tokens are short, and a call to memchr costs more here.
  static std::size_t token_end(std::string_view text, std::size_t begin) noexcept {
    std::size_t end = begin;
    while (end < text.size() && text[end] != '.') ++end;
    return end;
  }

  std::uint32_t literal_child(std::uint32_t parent, std::string_view token) const {
    if (!nodes_[parent].has_literals) return kNone;
    const auto child = literals_.find(LiteralEdgeView{parent, token});
    return child == literals_.end() ? kNone : child->second;
  }

  template <class Visit>
  void visit_ids(std::uint32_t begin, std::uint32_t end, Visit& visit) const {
    for (std::uint32_t i = begin; i < end; ++i) visit(ids_[i]);
  }

  // Visits the patterns below node `index` matching what is left of `topic`
  // from offset `begin` (past its end: no token left).
  template <class Visit>
  void visit_from(std::uint32_t index, std::string_view topic, std::size_t begin,
                  Visit& visit) const {
    for (;;) {
      const Node& node = nodes_[index];
      if (begin > topic.size()) return visit_ids(node.ends_begin, node.ends_end, visit);
      visit_ids(node.tails_begin, node.ends_begin, visit);
      const std::size_t end = token_end(topic, begin);
      const std::uint32_t literal = literal_child(index, topic.substr(begin, end - begin));
      if (literal == kNone && node.star == kNone) return;
      if (literal != kNone && node.star != kNone) visit_from(node.star, topic, end + 1, visit);
      index = literal != kNone ? literal : node.star;
      begin = end + 1;
    }
  }

  Placement place(std::string_view pattern);
  std::uint32_t add_literal_child(std::uint32_t parent, std::string_view token);
  std::uint32_t add_star_child(std::uint32_t parent);
  std::uint32_t add_node();
  void lay_out_ids(const std::vector<Placement>& placements);

  std::vector<Node> nodes_;  // nodes_[kRoot] is the root
  std::vector<std::uint32_t> ids_;
  std::unordered_map<LiteralEdge, std::uint32_t, LiteralEdgeHash, LiteralEdgeEqual> literals_;
};

}  // namespace courier::detail
