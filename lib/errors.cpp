#include "courier/errors.hpp"

#include <string>
#include <utility>

namespace courier {

LimitExceeded::LimitExceeded(std::string limit, std::size_t maximum, std::size_t requested)
    : std::length_error("courier: " + limit + " allows at most " + std::to_string(maximum) +
                        ", got " + std::to_string(requested)),
      limit_(std::move(limit)),
      maximum_(maximum),
      requested_(requested) {}

}  // namespace courier
