// Identity and Audience (audience.hpp): validation, and the sorted set.
#include "courier/audience.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "courier/headers.hpp"
#include "quoted.hpp"

namespace courier {
namespace {

using detail::quoted;

bool is_control_or_space(unsigned char c) noexcept { return c <= 0x20 || c == 0x7f; }

[[noreturn]] void reject_user(std::string_view user, const std::string& why) {
  throw std::invalid_argument("courier: invalid user id " + quoted(user) + ": " + why);
}

}  // namespace

void validate_user(std::string_view user) {
  if (user.empty()) reject_user(user, "it is empty");
  if (user.size() > Identity::kMaxUserBytes) {
    reject_user(user, "it has " + std::to_string(user.size()) + " bytes, more than " +
                          std::to_string(Identity::kMaxUserBytes));
  }
  const auto bad = std::find_if(user.begin(), user.end(), [](char c) {
    return is_control_or_space(static_cast<unsigned char>(c));
  });
  if (bad != user.end()) {
    reject_user(user, "it has the character " + quoted(std::string_view(&*bad, 1)) + " at byte " +
                          std::to_string(bad - user.begin()) +
                          " (no spaces or control characters)");
  }
}

void Identity::validate() const {
  validate_user(user);
  if (labels.size() > kMaxLabels) {
    throw std::invalid_argument("courier: the identity of user " + quoted(user) + " has " +
                                std::to_string(labels.size()) + " labels, more than " +
                                std::to_string(kMaxLabels));
  }
  for (const auto& [key, value] : labels) {
    try {
      Headers::validate(key, value);
    } catch (const std::invalid_argument& error) {
      // The same rules as a header's, named as a label.
      std::string why = error.what();
      const std::string prefix = "courier: invalid header ";
      if (why.starts_with(prefix)) why.erase(0, prefix.size());
      throw std::invalid_argument("courier: invalid label of user " + quoted(user) + ": " + why);
    }
  }
}

template <class Range>
void Audience::assign(const Range& users) {
  std::vector<std::string> sorted;
  sorted.reserve(std::min<std::size_t>(std::size(users), kMaxUsers));
  for (const auto& user : users) {
    validate_user(user);
    sorted.emplace_back(user);
  }
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  if (sorted.size() > kMaxUsers) {
    throw std::invalid_argument("courier: an audience of " + std::to_string(sorted.size()) +
                                " users, more than " + std::to_string(kMaxUsers));
  }
  users_ = std::move(sorted);
}

Audience::Audience(std::initializer_list<std::string_view> users) { assign(users); }

Audience::Audience(const std::vector<std::string>& users) { assign(users); }

bool Audience::contains(std::string_view user) const noexcept {
  const auto found =
      std::lower_bound(users_.begin(), users_.end(), user,
                       [](const std::string& a, std::string_view b) { return a < b; });
  return found != users_.end() && *found == user;
}

}  // namespace courier
