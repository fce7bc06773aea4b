// Mailbox: the intrusive multi-producer single-consumer FIFO behind every lane.
//
// This is Dmitry Vyukov's intrusive MPSC node-based queue
// (https://www.1024cores.net/home/lock-free-algorithms/queues/intrusive-mpsc-node-based-queue).
// Producers append with a single atomic exchange on `back_`, then link the
// previous back node to the new one; the one consumer walks `front_` along the
// links. A stub node keeps the list non-empty so that neither side ever needs a
// lock or a CAS loop:
//
//   push(n):  n.next = null;  previous = back_.exchange(n);  previous.next = n
//   pop():    follow front_.next; when the last real node is reached, re-append
//             the stub behind it so the real node can be handed out.
//
// Between a producer's exchange and its link the list is briefly cut: pop()
// then returns null although a node is on its way. The consumer tells that case
// from a truly empty mailbox with maybe_nonempty() and comes back later; it
// never spins waiting for the link.
//
// Nodes belong to the caller. A node returned by pop() is out of the mailbox and
// may be pushed again (to any mailbox) at once.
//
// Thread safety: push() and pushed_since_empty() are safe from any number of
// threads at once; pop() and maybe_nonempty() are for the one consumer that
// currently owns the mailbox.
#pragma once

#include <atomic>

#include "courier/detail/cache_line.hpp"

namespace courier::detail {

struct Envelope;

// One delivery of one event to one lane; envelopes own these (see envelope.hpp).
struct DeliveryNode {
  std::atomic<DeliveryNode*> next{nullptr};
  Envelope* envelope = nullptr;
};

class Mailbox {
 public:
  Mailbox() noexcept : back_(&stub_), front_(&stub_) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Thread-safe (any number of producers). Never blocks. Wait-free.
  //
  // The exchange is sequentially consistent: the lane's scheduling handshake
  // (lane.hpp) reads back_ after clearing its flag and relies on seeing it.
  void push(DeliveryNode& node) noexcept {
    node.next.store(nullptr, std::memory_order_relaxed);
    DeliveryNode* previous = back_.exchange(&node, std::memory_order_seq_cst);
    previous->next.store(&node, std::memory_order_release);
  }

  // Consumer only. The oldest node, or null if the mailbox is empty or the next
  // node's producer is between its exchange and its link.
  DeliveryNode* pop() noexcept {
    DeliveryNode* front = front_;
    DeliveryNode* next = front->next.load(std::memory_order_acquire);
    if (front == &stub_) {
      if (next == nullptr) return nullptr;
      front_ = front = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      front_ = next;
      return front;
    }
    if (front != back_.load(std::memory_order_seq_cst)) return nullptr;  // a link is on its way
    push(stub_);
    next = front->next.load(std::memory_order_acquire);
    if (next == nullptr) return nullptr;  // another producer slipped in before the stub
    front_ = next;
    return front;
  }

  // Consumer only. False only if the mailbox is certainly empty; true if a node
  // is in it or on its way.
  bool maybe_nonempty() const noexcept {
    const DeliveryNode* back = back_.load(std::memory_order_seq_cst);
    return !(back == &stub_ && front_ == &stub_);
  }

  // Any thread. For a consumer that found the mailbox empty (maybe_nonempty()
  // false) and then gave up ownership, so may no longer read front_: true if a
  // node has been pushed since. An empty mailbox's back is the stub, and only
  // a push moves it.
  bool pushed_since_empty() const noexcept {
    return back_.load(std::memory_order_seq_cst) != &stub_;
  }

 private:
  // Producers' end and consumer's end on lines of their own: the consumer
  // writes front_ on every pop, producers exchange back_ on every push.
  alignas(kCacheLine) std::atomic<DeliveryNode*> back_;
  alignas(kCacheLine) DeliveryNode* front_;
  DeliveryNode stub_;
};

}  // namespace courier::detail
