// quoted (quoted.hpp).
#include "quoted.hpp"

#include <cstdio>

namespace courier::detail {

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text.substr(0, kQuotedBytes)) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += text.size() > kQuotedBytes ? "\"..." : "\"";
  return out;
}

}  // namespace courier::detail
