// The header names nats::Bridge reserves for itself (documented on Bridge):
// shared by the bridge's templates, its link and its resender.
#pragma once

#include <string_view>

namespace courier::nats::detail {

inline constexpr std::string_view kIdHeader = "courier-id";
inline constexpr std::string_view kTimestampHeader = "courier-timestamp";
inline constexpr std::string_view kOrderingKeyHeader = "courier-ordering-key";
inline constexpr std::string_view kOriginHeader = "courier-origin";
inline constexpr std::string_view kImportedHeader = "courier-imported";
inline constexpr std::string_view kRedeliveredHeader = "courier-redelivered";
inline constexpr std::string_view kAttemptHeader = "courier-attempt";

}  // namespace courier::nats::detail
