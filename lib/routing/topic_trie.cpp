#include "courier/detail/routing/topic_trie.hpp"

#include <algorithm>

namespace courier::detail {
namespace {

std::size_t token_count(std::span<const std::string_view> patterns) {
  std::size_t tokens = 0;
  for (std::string_view pattern : patterns)
    tokens += static_cast<std::size_t>(std::ranges::count(pattern, '.')) + 1;
  return tokens;
}

}  // namespace

TopicTrie::TopicTrie(std::span<const std::string_view> patterns) {
  add_node();  // the root
  // At most one literal child per token: reserved, the edge map never rehashes.
  literals_.reserve(token_count(patterns));
  std::vector<Placement> placements;  // by id
  placements.reserve(patterns.size());
  for (std::string_view pattern : patterns) placements.push_back(place(pattern));
  lay_out_ids(placements);
}

// Follows `pattern` from the root, adding the nodes it lacks.
TopicTrie::Placement TopicTrie::place(std::string_view pattern) {
  std::uint32_t node = kRoot;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = token_end(pattern, begin);
    const std::string_view token = pattern.substr(begin, end - begin);
    const bool last = end == pattern.size();
    if (last && token == ">") return {node, true};
    node = token == "*" ? add_star_child(node) : add_literal_child(node, token);
    if (last) return {node, false};
    begin = end + 1;
  }
}

// The child for `token`, made if there is none yet.
std::uint32_t TopicTrie::add_literal_child(std::uint32_t parent, std::string_view token) {
  if (const std::uint32_t child = literal_child(parent, token); child != kNone) return child;
  const std::uint32_t child = add_node();
  literals_.emplace(LiteralEdge{parent, std::string(token)}, child);
  nodes_[parent].has_literals = true;
  return child;
}

// The "*" child, made if there is none yet.
std::uint32_t TopicTrie::add_star_child(std::uint32_t parent) {
  if (nodes_[parent].star == kNone) {
    const std::uint32_t child = add_node();  // before indexing: it may move nodes_
    nodes_[parent].star = child;
  }
  return nodes_[parent].star;
}

std::uint32_t TopicTrie::add_node() {
  nodes_.emplace_back();
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

// Gives every node its ranges of ids_ (a counting sort of the placements by
// node), each range in increasing id order.
void TopicTrie::lay_out_ids(const std::vector<Placement>& placements) {
  // Per node: first the number of tails and ends, then where the next one goes.
  std::vector<std::uint32_t> tails(nodes_.size(), 0), ends(nodes_.size(), 0);
  for (const Placement& placement : placements) ++(placement.tail ? tails : ends)[placement.node];
  std::uint32_t offset = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    Node& node = nodes_[i];
    node.tails_begin = offset;
    node.ends_begin = node.tails_begin + tails[i];
    node.ends_end = node.ends_begin + ends[i];
    offset = node.ends_end;
    tails[i] = node.tails_begin;
    ends[i] = node.ends_begin;
  }
  ids_.resize(placements.size());
  for (std::uint32_t id = 0; id < placements.size(); ++id) {
    const Placement& placement = placements[id];
    ids_[(placement.tail ? tails : ends)[placement.node]++] = id;
  }
}

}  // namespace courier::detail
