// quoted: a bad value as an error message quotes it (headers, user ids).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace courier::detail {

// At most this much of a bad value is quoted in an error message, so that a
// megabyte value does not make a megabyte message.
inline constexpr std::size_t kQuotedBytes = 64;

// `text` in double quotes for an error message: cut to kQuotedBytes (then
// followed by "..."), control bytes written as \xNN.
std::string quoted(std::string_view text);

}  // namespace courier::detail
