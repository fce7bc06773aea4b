/// \file
/// Headers: the string headers an event may carry (Event::headers()), such as
/// `correlation-id` or `reply-to`.
///
/// \code
///   courier::Event<Order> event("orders.new", order);
///   event.set_header("correlation-id", "42").set_header("reply-to", "orders.reply.7");
///   bus.post(std::move(event));
///   ...
///   if (const std::string* reply_to = event.headers().find("reply-to")) { ... }
/// \endcode
///
/// What is valid is what crosses a text protocol unharmed (NATS and HTTP
/// headers): a key of 1 to kMaxKeyBytes visible ASCII characters other than
/// ':'; a value of at most kMaxValueBytes with no control character (bytes
/// below 0x20, and 0x7f; UTF-8 is fine); at most kMaxCount headers. Anything
/// else throws std::invalid_argument naming the key (and the offending
/// character or size) and changes nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "courier/detail/export.hpp"

namespace courier {

/// One header: a key and its value.
struct Header {
  std::string key;    ///< a valid key (see headers.hpp)
  std::string value;  ///< its value
  /// Equal keys and equal values.
  friend bool operator==(const Header&, const Header&) = default;
};

/// An event's headers: an ordered list of distinct keys and their values, in
/// the order they were first set. Small and flat on purpose: events carry a
/// few headers, so a search is a short scan, faster than any map here.
///
/// Thread safety: as for std::vector. Distinct objects: safe. Shared
/// objects: const members only.
class COURIER_EXPORT Headers {
 public:
  static constexpr std::size_t kMaxKeyBytes = 256;     ///< longest key
  static constexpr std::size_t kMaxValueBytes = 8192;  ///< longest value (8 KiB)
  static constexpr std::size_t kMaxCount = 64;         ///< most headers on one event

  using const_iterator = std::vector<Header>::const_iterator;  ///< iterates Header

  /// Sets `key` to `value`, replacing its value if the key is there already
  /// (it keeps its place). Throws std::invalid_argument for an invalid key or
  /// value, or when a new key would make more than kMaxCount headers;
  /// nothing changes then.
  void set(std::string_view key, std::string_view value);
  /// The value of `key`, or null if it is absent. Valid until the headers change.
  const std::string* find(std::string_view key) const noexcept;
  /// True if `key` is present.
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// Removes `key`; true if it was present.
  bool erase(std::string_view key) noexcept;

  /// How many headers there are.
  std::size_t size() const noexcept { return entries_.size(); }
  /// True if there are none.
  bool empty() const noexcept { return entries_.empty(); }
  /// The first header, in the order keys were first set.
  const_iterator begin() const noexcept { return entries_.begin(); }
  /// Past the last header.
  const_iterator end() const noexcept { return entries_.end(); }

  /// The same keys with the same values, in the same order.
  friend bool operator==(const Headers&, const Headers&) = default;

  /// Throws std::invalid_argument, naming the key, unless `key` and `value`
  /// make a valid header (see headers.hpp).
  static void validate(std::string_view key, std::string_view value);

 private:
  std::vector<Header> entries_;
};

}  // namespace courier
