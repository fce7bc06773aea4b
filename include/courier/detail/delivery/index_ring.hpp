// IndexRing: a bounded multi-producer multi-consumer FIFO of slot indices.
//
// This is Dmitry Vyukov's bounded MPMC queue
// (https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue).
// Every cell carries a sequence number that tells whose turn it is:
//   - a producer claims position p with one CAS on enqueue_position_ when the
//     cell at p has sequence p (empty, its turn), writes the value, then
//     publishes it by setting the sequence to p + 1;
//   - a consumer claims position p with one CAS on dequeue_position_ when the
//     cell has sequence p + 1 (full), reads the value, then frees the cell for
//     the producer one lap later by setting the sequence to p + size.
// A cell whose sequence is behind the claimant's position means "full" to a
// producer and "empty" to a consumer.
//
// courier keeps the indices of its free event slots here: popping one is how a
// post claims room in the bounded queue, pushing it back is how delivery frees
// it. The ring never holds more indices than it has cells, so a "full" cell at
// push time can only be one whose consumer is still finishing its pop: push()
// waits for it instead of failing (failing would lose a slot for good).
//
// Memory order: the claiming CAS and the reading load of a cell's sequence are
// sequentially consistent; so is the publishing store unless the pusher asks
// for release. The bus relies on that for its wake-up protocol (a releaser
// pushes, then reads the waiter flag; a waiter raises it, then pops): one of
// the two must see the other. With a sequentially consistent publication
// (an xchg on x86) both sides are ordered; where the system has an asymmetric
// fence, the bus publishes with a plain release store and the waiter runs the
// fence instead, before it pops (see BusCore::wait_for_slot).
//
// Thread safety: distinct objects: safe. Shared objects: safe. Never blocks,
// never allocates after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <thread>

#include "courier/detail/cache_line.hpp"
#include "courier/detail/spin.hpp"

namespace courier::detail {

class IndexRing {
 public:
  // Room for at least `capacity` indices (rounded up to a power of two).
  explicit IndexRing(std::size_t capacity) : mask_(round_up_to_power_of_two(capacity) - 1) {
    cells_ = std::make_unique<Cell[]>(mask_ + 1);
    for (std::size_t i = 0; i <= mask_; ++i) {
      cells_[i].sequence.store(sequence_of(i), std::memory_order_relaxed);
    }
  }

  // Thread-safe. Never fails: the caller never holds more indices than the
  // ring has room for. It may still find the cell it claims occupied, when the
  // consumer of that cell's previous lap has claimed it but not yet released
  // it (it is between its CAS and its store, or was preempted there); then it
  // waits for that consumer rather than report a full ring, which would lose
  // the index. Waits are rare and short, but not bounded when the consumer's
  // thread is descheduled, so it yields after a while.
  // `publish`: the order of the store that hands the cell to consumers.
  void push(std::uint32_t value, std::memory_order publish = std::memory_order_seq_cst) noexcept {
    std::size_t position = enqueue_position_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[position & mask_];
      const std::int32_t lag = lag_of(cell.sequence.load(std::memory_order_seq_cst), position);
      if (lag == 0) {
        if (enqueue_position_.compare_exchange_weak(position, position + 1)) {
          cell.value = value;
          publish_cell(cell, position, publish);
          return;
        }
      } else {
        if (lag < 0) wait_for_turn(cell, position);
        position = enqueue_position_.load(std::memory_order_relaxed);
      }
    }
  }

  // Pushes `values` as push() would one by one (the same contract), claiming
  // their cells with one atomic operation. The claim may run ahead of the
  // consumers of those cells' previous lap: the ring never holds more indices
  // than it has cells, so each such consumer has claimed its cell already, and
  // is waited for as push() waits. The last publication has push()'s order.
  void push_all(std::span<const std::uint32_t> values,
                std::memory_order publish = std::memory_order_seq_cst) noexcept {
    if (values.empty()) return;
    const std::size_t first = enqueue_position_.fetch_add(values.size(), std::memory_order_seq_cst);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::size_t position = first + i;
      Cell& cell = cells_[position & mask_];
      if (lag_of(cell.sequence.load(std::memory_order_acquire), position) != 0) {
        wait_for_turn(cell, position);
      }
      cell.value = values[i];
      publish_cell(cell, position, i + 1 == values.size() ? publish : std::memory_order_release);
    }
  }

  // Thread-safe. Never blocks. False if the ring is empty, or if the oldest
  // index is still being pushed (its producer claimed the cell but has not
  // published it yet).
  bool try_pop(std::uint32_t& value) noexcept {
    std::size_t position = dequeue_position_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[position & mask_];
      const std::int32_t lag = lag_of(cell.sequence.load(std::memory_order_seq_cst), position + 1);
      if (lag == 0) {
        if (dequeue_position_.compare_exchange_weak(position, position + 1)) {
          value = cell.value;
          cell.sequence.store(sequence_of(position + mask_ + 1), std::memory_order_release);
          return true;
        }
      } else if (lag < 0) {
        return false;
      } else {
        position = dequeue_position_.load(std::memory_order_relaxed);
      }
    }
  }

  // Thread-safe. Never blocks. Exact when no push or pop is under way, and only
  // approximate while one is (a claimed cell counts before it is published).
  std::size_t size() const noexcept {
    const std::size_t dequeued = dequeue_position_.load(std::memory_order_seq_cst);
    return enqueue_position_.load(std::memory_order_seq_cst) - dequeued;
  }

 private:
  // Eight bytes a cell: sequences are positions modulo 2^32, compared by their
  // signed distance, which stays far from 2^31 because a ring never holds more
  // than 2^30 indices (the bus's capacity limit).
  struct Cell {
    std::atomic<std::uint32_t> sequence{0};
    std::uint32_t value = 0;
  };

  static std::uint32_t sequence_of(std::size_t position) noexcept {
    return static_cast<std::uint32_t>(position);
  }
  // How far `sequence` is ahead of `position` (negative: behind).
  static std::int32_t lag_of(std::uint32_t sequence, std::size_t position) noexcept {
    return static_cast<std::int32_t>(sequence - sequence_of(position));
  }

  // Hands `cell`, filled for `position`, to consumers. Each order is spelled
  // out: given an order known only at run time, g++ makes every store
  // sequentially consistent (an xchg on x86), whatever the order says.
  static void publish_cell(Cell& cell, std::size_t position, std::memory_order order) noexcept {
    if (order == std::memory_order_seq_cst) {
      cell.sequence.store(sequence_of(position + 1), std::memory_order_seq_cst);
    } else {
      cell.sequence.store(sequence_of(position + 1), std::memory_order_release);
    }
  }

  // Waits until the consumer of `cell`'s previous lap has released it for
  // `position`, or the cell has moved on (another producer took it).
  static void wait_for_turn(const Cell& cell, std::size_t position) noexcept {
    for (int attempts = 0; lag_of(cell.sequence.load(std::memory_order_seq_cst), position) < 0;
         ++attempts) {
      if (attempts < 64) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }

  static std::size_t round_up_to_power_of_two(std::size_t n) noexcept {
    std::size_t size = 2;
    while (size < n) size <<= 1;
    return size;
  }

  const std::size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  alignas(kCacheLine) std::atomic<std::size_t> enqueue_position_{0};
  alignas(kCacheLine) std::atomic<std::size_t> dequeue_position_{0};
};

}  // namespace courier::detail
