// SmallText: the text of an event's topic or ordering key.
//
// Why not std::string: every post builds an Event, moves it into the bus and
// destroys both, and libstdc++'s std::string calls memcpy for each of those
// steps on a short string (a move copies the small buffer with a length known
// only at run time): about 70 of the 363 instructions of an asynchronous post
// (callgrind, W2's posting thread).
// Topics are short, so a SmallText keeps up to kInlineCapacity bytes in
// itself and the rest of the object is plain words: a move copies four words
// and empties the source, a copy of inline text does the same without the
// emptying, and destruction is one comparison. Longer text lives on the heap.
//
// Only the bytes of the text are written: an empty SmallText is one store
// (its size), and a copy of inline text is the object's words, once. The
// bytes past the text stay indeterminate, which is fine for a union: its
// implicit copy copies the object representation (C++20 [class.copy.ctor]/15),
// and nothing reads them as characters. A synchronous post's time tracks its
// instructions and its stores (W1: ~45 stores a post; four more cost 6%),
// and zeroing the buffers first cost five of them. g++ takes such a copy for a read of
// uninitialised bytes: the warnings are silenced below, for this header, but
// g++ 12 does not honour that at link time, so -flto with -Werror and
// -Wmaybe-uninitialized on the link line reports them.
//
// Thread safety: as for std::string. Distinct objects: safe. Shared objects:
// const members only.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

// g++ 12 sees a literal topic of 3 bytes flow into the branches for longer
// text, which the length it cannot bound would take, and warns (with -Werror,
// fails the including program); it also takes the copy of a union whose
// bytes are partly indeterminate for a read of them (see above why it is
// not). Silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#if __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
#endif

namespace courier::detail {

class SmallText {
 public:
  static constexpr std::size_t kInlineCapacity = 24;

  SmallText() noexcept = default;

  explicit SmallText(std::string_view text) {
    words_.size = text.size();
    if (on_heap()) {
      words_.storage.heap_text = heap_copy(text);
    } else {
      copy_short(words_.storage.inline_text, text.data(), text.size());
    }
  }

  SmallText(const SmallText& other) : words_(other.words_) {
    if (on_heap()) words_.storage.heap_text = heap_copy(other.view());
  }

  SmallText(SmallText&& other) noexcept : words_(other.words_) { other.become_empty(); }

  SmallText& operator=(const SmallText& other) {
    if (this != &other) *this = SmallText(other);
    return *this;
  }

  SmallText& operator=(SmallText&& other) noexcept {
    if (this != &other) {
      release();
      words_ = other.words_;
      other.become_empty();
    }
    return *this;
  }

  ~SmallText() { release(); }

  std::string_view view() const noexcept {
    return {on_heap() ? words_.storage.heap_text : words_.storage.inline_text, words_.size};
  }
  bool empty() const noexcept { return words_.size == 0; }
  // True if the text lives on the heap (its destructor then frees it).
  bool on_heap() const noexcept { return words_.size > kInlineCapacity; }

 private:
  void release() noexcept {
    if (on_heap()) delete[] words_.storage.heap_text;
  }

  static char* heap_copy(std::string_view text) {
    char* const copy = new char[text.size()];
    std::memcpy(copy, text.data(), text.size());
    return copy;
  }

  // What the storage held is now the other object's: with a size of zero it
  // is neither read nor freed here.
  void become_empty() noexcept { words_.size = 0; }

  // Copies `size` <= kInlineCapacity bytes with fixed-size moves that the
  // compiler inlines (overlapping where the size falls between two widths)
  // instead of a call to memcpy with a run-time length. memcpy throughout,
  // single bytes too: it creates the characters it writes, in a buffer no
  // member of which was made active.
  static void copy_short(char* to, const char* from, std::size_t size) noexcept {
    if (size >= 8) {
      copy_word<8>(to, from);
      if (size > 16) copy_word<8>(to + 8, from + 8);
      copy_word<8>(to + size - 8, from + size - 8);
    } else if (size >= 4) {
      copy_word<4>(to, from);
      copy_word<4>(to + size - 4, from + size - 4);
    } else if (size > 0) {
      copy_word<1>(to, from);
      copy_word<1>(to + size / 2, from + size / 2);
      copy_word<1>(to + size - 1, from + size - 1);
    }
  }

  template <std::size_t kBytes>
  static void copy_word(char* to, const char* from) noexcept {
    std::memcpy(to, from, kBytes);
  }

  // Trivially copyable, so that copying and moving copy the object whole, in
  // as few stores as its size allows (two on x86-64).
  struct Words {
    union Storage {
      char inline_text[kInlineCapacity];
      char* heap_text;
    } storage;  // indeterminate past the text: see the top of this file
    std::size_t size = 0;
  };
  Words words_;
};

}  // namespace courier::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
