/// \file
/// Identity and Audience (issue 16 item 2): who a subscription is, and whom an
/// event is for.
///
/// \code
///   bus.subscribe<Chat>("room.7", show, {.identity = courier::Identity{.user = "u42"}});
///   courier::Event<Chat> line("room.7", Chat{"hi"});
///   line.set_audience({"u42", "u7"});   // only u42's and u7's subscriptions get it
///   bus.post(std::move(line));
/// \endcode
///
/// An event with an audience reaches only the subscriptions whose
/// Identity::user is in it; subscriptions without an identity are skipped
/// for it. An event without one reaches every matching subscription, as
/// before, and pays nothing for the feature (event.hpp). The audience is
/// checked before a subscription's filter (SubscribeOptions::filter): a
/// filter never sees an event that is not for its subscription. Retained
/// events keep their audience for the subscriptions made later.
///
/// What is valid: a user id of 1 to kMaxUserBytes bytes, none of them a
/// space or a control character (bytes up to 0x20, and 0x7f; UTF-8 is
/// fine); label keys and values as header keys and values are (headers.hpp),
/// at most kMaxLabels of them; an audience of at most Audience::kMaxUsers
/// users. Anything else throws std::invalid_argument naming the bad value,
/// and changes nothing.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "courier/detail/export.hpp"

namespace courier {

/// Who a subscription is (SubscribeOptions::identity): a user id and
/// free-form labels (say `role=admin`), listed by EventBus::presence.
///
/// Thread safety: a plain aggregate; the bus keeps its own copy.
struct Identity {
  /// Longest user id, in bytes.
  static constexpr std::size_t kMaxUserBytes = 256;
  /// Most labels on one identity.
  static constexpr std::size_t kMaxLabels = 64;

  /// The user id an Audience names (see audience.hpp for what is valid).
  std::string user;
  /// Labels, by key; keys and values valid as header keys and values are.
  std::map<std::string, std::string> labels = {};

  /// Throws std::invalid_argument, naming the bad user id or label, unless
  /// this identity is valid (see audience.hpp).
  COURIER_EXPORT void validate() const;

  /// The same user and the same labels.
  friend bool operator==(const Identity&, const Identity&) = default;
};

/// Throws std::invalid_argument, naming `user`, unless it is a valid user id
/// (see audience.hpp).
COURIER_EXPORT void validate_user(std::string_view user);

/// The users an event is for (Event::set_audience): a set of valid user ids,
/// kept sorted, without repeats.
///
/// Thread safety: as for std::vector. Distinct objects: safe. Shared
/// objects: const members only.
class COURIER_EXPORT Audience {
 public:
  /// Most users in one audience.
  static constexpr std::size_t kMaxUsers = 4096;

  using const_iterator = std::vector<std::string>::const_iterator;  ///< iterates user ids

  /// Nobody.
  Audience() = default;
  ///@{
  /// These users (repeats count once). Throws std::invalid_argument naming
  /// the first invalid user id, or when there are more than kMaxUsers.
  Audience(std::initializer_list<std::string_view> users);
  explicit Audience(const std::vector<std::string>& users);
  ///@}

  /// True if `user` is one of them. O(log n), no allocation.
  bool contains(std::string_view user) const noexcept;
  /// How many users.
  std::size_t size() const noexcept { return users_.size(); }
  /// True if nobody.
  bool empty() const noexcept { return users_.empty(); }
  /// The first user id, in byte-wise order.
  const_iterator begin() const noexcept { return users_.begin(); }
  /// Past the last user id.
  const_iterator end() const noexcept { return users_.end(); }

  /// The same users.
  friend bool operator==(const Audience&, const Audience&) = default;

 private:
  template <class Range>
  void assign(const Range& users);

  std::vector<std::string> users_;  // sorted, unique
};

}  // namespace courier
