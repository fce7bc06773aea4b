// Resender (lib/nats/resender.hpp): the algorithm is described there.
#include "resender.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "courier/nats/detail/reserved_headers.hpp"

namespace courier::nats::detail {

namespace {

// The send `msg` was: 1 unless a Resender copy says otherwise, at most
// `attempts` (publish() drops the header from events; this bounds it anyway).
int attempt_of(natsMsg* msg, int attempts) {
  const char* value = nullptr;
  int attempt = 1;
  if (natsMsgHeader_Get(msg, kAttemptHeader.data(), &value) == NATS_OK && value != nullptr) {
    std::from_chars(value, value + std::strlen(value), attempt);
  }
  return std::clamp(attempt, 1, attempts);
}

// Frees what libnats allocated with malloc for a header list.
void free_list(const char** list) {
  std::free(static_cast<void*>(list));  // NOLINT(cppcoreguidelines-no-malloc): libnats's malloc
}

// A copy of `msg` with its headers (Nats-Msg-Id among them) and the attempt
// header set to `attempt`. A copy, because the original is libnats's (the
// error handler's is destroyed when the handler returns) and may still hold
// the reply subject libnats gave it for the answer, which js_PublishMsgAsync
// refuses. Null if libnats has no memory for it.
natsMsg* copy_for_attempt(natsMsg* msg, int attempt) {
  natsMsg* copy = nullptr;
  if (natsMsg_Create(&copy, natsMsg_GetSubject(msg), nullptr, natsMsg_GetData(msg),
                     natsMsg_GetDataLength(msg)) != NATS_OK) {
    return nullptr;
  }
  const char** keys = nullptr;
  int key_count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &key_count) == NATS_OK) {
    for (int i = 0; i < key_count; ++i) {
      if (kAttemptHeader == keys[i]) continue;
      const char** values = nullptr;
      int value_count = 0;
      if (natsMsgHeader_Values(msg, keys[i], &values, &value_count) != NATS_OK) continue;
      for (int j = 0; j < value_count; ++j) natsMsgHeader_Add(copy, keys[i], values[j]);
      free_list(values);
    }
    free_list(keys);
  }
  if (natsMsgHeader_Set(copy, kAttemptHeader.data(), std::to_string(attempt).c_str()) != NATS_OK) {
    natsMsg_Destroy(copy);
    return nullptr;
  }
  return copy;
}

}  // namespace

void Resender::keep(natsMsg* msg, std::string_view reason) {
  const std::string subject = natsMsg_GetSubject(msg);
  const int attempt = attempt_of(msg, attempts_) + 1;
  if (attempt > attempts_) {
    give_up_(subject, std::string(reason) + " (sent " + std::to_string(attempts_) + " times)");
    return;
  }
  natsMsg* copy = copy_for_attempt(msg, attempt);
  if (copy == nullptr) {
    give_up_(subject, std::string(reason) + " (no memory to keep it for a resend)");
    return;
  }
  // Attempt 2 waits first_wait, each later one twice the one before.
  const auto wait = std::min<std::chrono::milliseconds>(
      first_wait_ * (std::int64_t{1} << std::min(attempt - 2, 16)), kLongestWait);
  bool kept = false;
  {
    const std::lock_guard lock(mutex_);
    if (!stopping_) {
      kept_.push_back(Kept{copy, std::chrono::steady_clock::now() + wait});
      count_.store(kept_.size(), std::memory_order_release);
      kept = true;
    }
  }
  if (kept) {
    changed_.notify_all();  // it may be due before the one resend() waits for
    return;
  }
  natsMsg_Destroy(copy);
  give_up_(subject, std::string(reason) + " (the bridge is stopping)");
}

void Resender::reclaim_unacknowledged(jsCtx* jetstream) {
  natsMsgList pending{nullptr, 0};
  if (js_PublishAsyncGetPendingList(&pending, jetstream) != NATS_OK) return;
  for (int i = 0; i < pending.Count; ++i) keep(pending.Msgs[i], "no acknowledgement came");
  natsMsgList_Destroy(&pending);
}

void Resender::resend(jsCtx* jetstream) {
  std::vector<natsMsg*> due;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (kept_.empty() || stopping_) return;
        const auto now = std::chrono::steady_clock::now();
        const auto earliest = std::min_element(
            kept_.begin(), kept_.end(), [](const Kept& a, const Kept& b) { return a.due < b.due; });
        if (earliest->due <= now) break;
        // A copy: wait_until reads it again after each wake-up, and by then
        // keep() may have moved kept_'s elements, or stop() freed them.
        const std::chrono::steady_clock::time_point wake_at = earliest->due;
        changed_.wait_until(lock, wake_at);
      }
      const auto now = std::chrono::steady_clock::now();
      const auto later = std::stable_partition(kept_.begin(), kept_.end(),
                                               [now](const Kept& kept) { return kept.due > now; });
      for (auto it = later; it != kept_.end(); ++it) due.push_back(it->msg);
      kept_.erase(later, kept_.end());
      count_.store(kept_.size(), std::memory_order_release);
    }
    changed_.notify_all();  // for wait_until_sent
    for (natsMsg* msg : due) {
      // Counted first: the server's answer may come before the call returns.
      resent_.fetch_add(1, std::memory_order_relaxed);
      const natsStatus status = js_PublishMsgAsync(jetstream, &msg, nullptr);
      if (status != NATS_OK) {  // else libnats owns it now
        keep(msg, natsStatus_GetText(status));
        natsMsg_Destroy(msg);
      }
    }
    due.clear();
  }
}

void Resender::wait_until_sent(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [this] { return kept_.empty() || stopping_; });
}

std::size_t Resender::stop() {
  std::vector<Kept> left;
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(kept_);
    count_.store(0, std::memory_order_release);
  }
  changed_.notify_all();
  for (const Kept& kept : left) natsMsg_Destroy(kept.msg);
  return left.size();
}

}  // namespace courier::nats::detail
