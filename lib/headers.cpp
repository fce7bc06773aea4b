// Headers (headers.hpp): validation and the flat list.
#include "courier/headers.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "courier/event.hpp"
#include "quoted.hpp"

namespace courier {
namespace {

using detail::quoted;

bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

// A visible ASCII character other than ':' (what NATS and HTTP take in a key).
bool is_key_char(unsigned char c) noexcept { return c > 0x20 && c < 0x7f && c != ':'; }

[[noreturn]] void reject(std::string_view key, const std::string& why) {
  throw std::invalid_argument("courier: invalid header " + quoted(key) + ": " + why);
}

void check_key(std::string_view key) {
  if (key.empty()) reject(key, "the key is empty");
  if (key.size() > Headers::kMaxKeyBytes) {
    reject(key, "the key has " + std::to_string(key.size()) + " bytes, more than " +
                    std::to_string(Headers::kMaxKeyBytes));
  }
  const auto bad = std::find_if_not(
      key.begin(), key.end(), [](char c) { return is_key_char(static_cast<unsigned char>(c)); });
  if (bad != key.end()) {
    reject(key, "the key has the character " + quoted(std::string_view(&*bad, 1)) + " at byte " +
                    std::to_string(bad - key.begin()) + " (keys are visible ASCII without ':')");
  }
}

void check_value(std::string_view key, std::string_view value) {
  if (value.size() > Headers::kMaxValueBytes) {
    reject(key, "the value has " + std::to_string(value.size()) + " bytes, more than " +
                    std::to_string(Headers::kMaxValueBytes));
  }
  const auto bad = std::find_if(value.begin(), value.end(),
                                [](char c) { return is_control(static_cast<unsigned char>(c)); });
  if (bad != value.end()) {
    reject(key, "the value has the control character " + quoted(std::string_view(&*bad, 1)) +
                    " at byte " + std::to_string(bad - value.begin()));
  }
}

}  // namespace

void Headers::validate(std::string_view key, std::string_view value) {
  check_key(key);
  check_value(key, value);
}

void Headers::set(std::string_view key, std::string_view value) {
  validate(key, value);
  for (Header& header : entries_) {
    if (header.key == key) {
      header.value.assign(value);
      return;
    }
  }
  if (entries_.size() == kMaxCount) {
    reject(key, "an event has at most " + std::to_string(kMaxCount) + " headers");
  }
  entries_.push_back(Header{std::string(key), std::string(value)});
}

const std::string* Headers::find(std::string_view key) const noexcept {
  for (const Header& header : entries_) {
    if (header.key == key) return &header.value;
  }
  return nullptr;
}

bool Headers::erase(std::string_view key) noexcept {
  const auto found = std::find_if(entries_.begin(), entries_.end(),
                                  [key](const Header& header) { return header.key == key; });
  if (found == entries_.end()) return false;
  entries_.erase(found);
  return true;
}

namespace detail {

const Headers& no_headers() noexcept {
  static const Headers none;
  return none;
}

}  // namespace detail
}  // namespace courier
