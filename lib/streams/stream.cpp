// The non-template half of a pull stream's queue (detail/streams/stream_queue.hpp).
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/error.hpp>

#include "courier/detail/streams/stream_queue.hpp"
#include "courier/errors.hpp"

namespace courier::detail {
namespace {

const StreamOptions& validated(const StreamOptions& options) {
  if (options.depth > StreamOptions::kMaxDepth) {
    throw LimitExceeded("StreamOptions::depth", StreamOptions::kMaxDepth, options.depth);
  }
  if (options.depth == 0 && options.overflow != Overflow::Block) {
    throw std::invalid_argument(
        "courier: StreamOptions::depth 0 (a rendezvous) needs Overflow::Block");
  }
  if (options.heartbeat.count() < 0) {
    throw std::invalid_argument("courier: StreamOptions::heartbeat must not be negative, got " +
                                std::to_string(options.heartbeat.count()) + " ms");
  }
  return options;
}

}  // namespace

StreamQueueBase::StreamQueueBase(const StreamOptions& options, bool synchronous_bus)
    : options_(validated(options)), synchronous_bus_(synchronous_bus) {}

void StreamQueueBase::connect(
    std::function<void()> resume,
    std::function<void(std::string_view topic, std::uint64_t dropped)> report_drop) {
  resume_ = std::move(resume);
  report_drop_ = std::move(report_drop);
}

bool StreamQueueBase::has_room(std::size_t queued) const noexcept {
  if (options_.depth == 0) return waiting_ > queued;
  return queued < options_.depth;
}

void StreamQueueBase::after_take(bool resume) const {
  if (resume && resume_) resume_();
}

void StreamQueueBase::store_waiter_locked(std::unique_ptr<AsyncWaiterBase> waiter,
                                          std::weak_ptr<StreamQueueBase> self) {
  const std::uint64_t number = ++waiter_number_;
  if (options_.heartbeat.count() > 0) {
    waiter->arm_heartbeat(last_activity_ + options_.heartbeat, [self, number] {
      if (const std::shared_ptr<StreamQueueBase> source = self.lock())
        source->heartbeat_due(number);
    });
  }
  waiter->arm_cancellation([self = std::move(self), number] {
    if (const std::shared_ptr<StreamQueueBase> source = self.lock()) source->cancel_waiter(number);
  });
  waiter_ = std::move(waiter);
  ++waiting_;
}

void StreamQueueBase::heartbeat_due(std::uint64_t number) {
  std::unique_lock lock(mutex_);
  if (waiter_ == nullptr || number != waiter_number_) return;
  std::unique_ptr<AsyncWaiterBase> waiter = take_waiter_locked();
  last_activity_ = Clock::now();
  lock.unlock();
  waiter->finish({});
}

void StreamQueueBase::cancel_waiter(std::uint64_t number) {
  std::unique_lock lock(mutex_);
  if (waiter_ == nullptr || number != waiter_number_) return;
  std::unique_ptr<AsyncWaiterBase> waiter = take_waiter_locked();
  lock.unlock();
  waiter->finish(boost::asio::error::operation_aborted);
}

}  // namespace courier::detail
