#include "courier/pipeline/operators.hpp"

#include <chrono>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

namespace courier {

namespace detail {

TimerService::Duration checked_positive(const char* what, TimerService::Duration duration) {
  if (duration > TimerService::Duration::zero()) return duration;
  throw std::invalid_argument(
      std::string("courier: ") + what + " must be positive, not " +
      std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count()) +
      " ns");
}

std::size_t checked_batch_size(std::size_t count) {
  if (count > 0) return count;
  throw std::invalid_argument("courier: buffer's count must be at least 1, not 0");
}

void report_timer_delivery_failure(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& exception) {
    std::cerr << "courier: an operator's timer delivered to a stage that threw: "
              << exception.what() << " (the item is lost)\n";
  } catch (...) {
    std::cerr << "courier: an operator's timer delivered to a stage that threw a "
                 "non-standard exception (the item is lost)\n";
  }
}

}  // namespace detail

detail::ThrottleOperator throttle(TimerService::Duration interval, TimerService& timers) {
  return {detail::checked_positive("throttle's interval", interval), &timers};
}

detail::DebounceOperator debounce(TimerService::Duration delay, TimerService& timers) {
  return {detail::checked_positive("debounce's delay", delay), &timers};
}

detail::BufferOperator buffer(std::size_t count, TimerService::Duration interval,
                              TimerService& timers) {
  return {detail::checked_batch_size(count),
          detail::checked_positive("buffer's interval", interval), &timers};
}

}  // namespace courier
