#include "courier/pipeline/timer_service.hpp"

namespace courier {

TimerService::~TimerService() = default;

}  // namespace courier
