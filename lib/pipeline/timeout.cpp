#include "courier/pipeline/timeout.hpp"

#include <utility>

namespace courier {

namespace {

// "250 ms", "3 s", "1500 us": the largest unit that states it exactly.
std::string readable(std::chrono::nanoseconds duration) {
  using namespace std::chrono;
  const auto count = duration.count();
  if (count % 1'000'000'000 == 0) return std::to_string(count / 1'000'000'000) + " s";
  if (count % 1'000'000 == 0) return std::to_string(count / 1'000'000) + " ms";
  if (count % 1'000 == 0) return std::to_string(count / 1'000) + " us";
  return std::to_string(count) + " ns";
}

}  // namespace

Timeout::Timeout(std::string pattern, std::chrono::nanoseconds timeout)
    : std::runtime_error("courier: no event on \"" + pattern + "\" within " + readable(timeout)),
      pattern_(std::move(pattern)),
      timeout_(timeout) {}

}  // namespace courier
