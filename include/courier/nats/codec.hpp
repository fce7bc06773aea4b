/// \file
/// Codec<T>: how a payload of type T becomes the bytes of a NATS message and back.
///
/// A codec is a type with two static functions:
/// \code
///   struct ReadingCodec {
///     static void encode(const Reading& value, std::string& out);  // append to out
///     static Reading decode(std::span<const std::byte> bytes);     // throw if bad
///   };
///   bridge.export_topics<Reading, ReadingCodec>("metrics.>");
/// \endcode
/// encode appends to `out`, which the bridge clears and reuses (no allocation
/// in steady state); if it throws (anything derived from std::exception), the
/// event is not published: the bridge counts it (BridgeStats::publish_errors),
/// reports it (Bridge::on_error, BridgeFault::Kind::Publish) and goes on.
/// decode throws anything derived from std::exception for
/// bytes it cannot read: the bridge counts the message (BridgeStats::decode_errors),
/// reports it (Bridge::on_error) and goes on.
///
/// Built in (Codec<T>): std::string, std::vector<std::byte>,
/// std::vector<std::uint8_t>, and trivially copyable types (their bytes as in
/// memory: the same build on both sides; decode requires the exact size).
#pragma once

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace courier::nats {

/// Thrown by the built-in codecs for bytes they cannot decode.
class DecodeError : public std::runtime_error {
 public:
  /// `what`: why.
  explicit DecodeError(const std::string& what) : std::runtime_error(what) {}
};

/// A codec for T: `encode(const T&, std::string&)` and `decode(bytes) -> T`.
template <class C, class T>
concept CodecFor = requires(const T& value, std::string& out, std::span<const std::byte> bytes) {
  C::encode(value, out);
  { C::decode(bytes) } -> std::convertible_to<T>;
};

/// The built-in codec for T; undefined for other types (give your own).
template <class T>
struct Codec;

/// Text as it is.
template <>
struct Codec<std::string> {
  /// Appends the text.
  static void encode(const std::string& value, std::string& out) { out.append(value); }
  /// The bytes as text; never throws but std::bad_alloc.
  static std::string decode(std::span<const std::byte> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
};

/// Bytes as they are.
template <>
struct Codec<std::vector<std::byte>> {
  /// Appends the bytes.
  static void encode(const std::vector<std::byte>& value, std::string& out) {
    out.append(reinterpret_cast<const char*>(value.data()), value.size());
  }
  /// The bytes.
  static std::vector<std::byte> decode(std::span<const std::byte> bytes) {
    return {bytes.begin(), bytes.end()};
  }
};

/// Bytes as they are.
template <>
struct Codec<std::vector<std::uint8_t>> {
  /// Appends the bytes.
  static void encode(const std::vector<std::uint8_t>& value, std::string& out) {
    out.append(reinterpret_cast<const char*>(value.data()), value.size());
  }
  /// The bytes.
  static std::vector<std::uint8_t> decode(std::span<const std::byte> bytes) {
    const auto* first = reinterpret_cast<const std::uint8_t*>(bytes.data());
    return {first, first + bytes.size()};
  }
};

/// A trivially copyable value: its bytes as in memory.
template <class T>
requires(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T>) struct Codec<T> {
  /// Appends sizeof(T) bytes.
  static void encode(const T& value, std::string& out) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  /// Throws DecodeError, naming both sizes, unless there are sizeof(T) bytes.
  static T decode(std::span<const std::byte> bytes) {
    if (bytes.size() != sizeof(T)) {
      throw DecodeError("courier::nats: expected " + std::to_string(sizeof(T)) +
                        " bytes for a trivially copyable payload, got " +
                        std::to_string(bytes.size()));
    }
    std::array<std::byte, sizeof(T)> raw;
    std::memcpy(raw.data(), bytes.data(), sizeof(T));
    return std::bit_cast<T>(raw);
  }
};

}  // namespace courier::nats
