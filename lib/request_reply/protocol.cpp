// The request-reply protocol's helpers and errors (request_reply/protocol.hpp,
// request_reply/errors.hpp).
#include "courier/request_reply/protocol.hpp"

#include <atomic>
#include <charconv>
#include <cstdio>
#include <exception>
#include <random>

#include "courier/request_reply/errors.hpp"

namespace courier {

NoResponders::NoResponders(std::string topic)
    : std::runtime_error("courier: no server took the request on \"" + topic + "\""),
      topic_(std::move(topic)) {}

RemoteError::RemoteError(std::string topic, std::string message)
    : std::runtime_error("courier: the server of \"" + topic + "\" threw: " + message),
      topic_(std::move(topic)),
      remote_message_(std::move(message)) {}

RequestAbandoned::RequestAbandoned(const std::string& topic)
    : std::runtime_error("courier: the requester of a request on \"" + topic +
                         "\" was destroyed before its reply came") {}

namespace detail {
namespace {

// Drawn once per process: inboxes of two processes bridged together differ.
std::string process_token() {
  std::random_device device;
  const std::uint64_t token = (std::uint64_t{device()} << 32) ^ device();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(token));
  return text;
}

}  // namespace

std::string new_inbox_topic() {
  static const std::string token = process_token();
  static std::atomic<std::uint64_t> next{1};
  return "_courier.inbox." + token + "." + std::to_string(next.fetch_add(1));
}

std::optional<std::uint64_t> correlation_id_of(const Headers& headers) noexcept {
  const std::string* text = headers.find(kCorrelationIdHeader);
  if (text == nullptr) return std::nullopt;
  std::uint64_t id = 0;
  const char* end = text->data() + text->size();
  const auto [parsed_to, error] = std::from_chars(text->data(), end, id);
  if (error != std::errc() || parsed_to != end) return std::nullopt;
  return id;
}

std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& exception) {
    return exception.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace detail
}  // namespace courier
