// The BPE merge engine shared by SentencePiece-BPE and byte-level BPE.
//
// A word starts as a list of symbols (byte ranges of the text, usually one per UTF-8
// character). Every adjacent pair that the model can merge goes into a priority queue; the
// best pair is popped, its two symbols are joined in a doubly linked list, and the two new
// pairs it forms with its neighbours are pushed. Pairs whose symbols changed since they were
// pushed are recognised as stale and dropped. Each merge costs O(log n), so a word of n
// characters costs O(n log n) — never the O(n^2) rescans of the textbook loop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace llmpp::tokenizer {

struct BpeSymbol {
  int32_t prev = -1, next = -1;  // neighbours among the live symbols; -1 at the ends
  uint32_t begin = 0;            // byte offset in the text
  uint32_t length = 0;           // in bytes; 0 once merged into the left neighbour
  int32_t id = -1;               // the model's id for this symbol, when the caller tracks ids
};

// Bytes in the UTF-8 sequence that `first` starts; 1 for a stray or invalid lead byte, so
// that malformed text still splits into symbols (its bytes go to the byte fallback).
inline int utf8_sequence_length(uint8_t first) {
  if (first < 0x80) return 1;
  if ((first & 0xE0) == 0xC0 && first >= 0xC2) return 2;
  if ((first & 0xF0) == 0xE0) return 3;
  if ((first & 0xF8) == 0xF0 && first <= 0xF4) return 4;
  return 1;
}

// Length of the character at `offset` in `text`: its UTF-8 sequence, or 1 byte when the
// sequence is truncated or its continuation bytes are missing.
inline size_t utf8_character_length(std::string_view text, size_t offset) {
  size_t length = static_cast<size_t>(utf8_sequence_length(static_cast<uint8_t>(text[offset])));
  if (offset + length > text.size()) return 1;
  for (size_t k = 1; k < length; ++k)
    if ((static_cast<uint8_t>(text[offset + k]) & 0xC0) != 0x80) return 1;
  return length;
}

// Appends a symbol covering text[begin, begin + length) to the end of the list.
inline void push_symbol(std::vector<BpeSymbol>& symbols, size_t begin, size_t length, int32_t id = -1) {
  BpeSymbol symbol;
  symbol.prev = static_cast<int32_t>(symbols.size()) - 1;
  symbol.next = -1;
  symbol.begin = static_cast<uint32_t>(begin);
  symbol.length = static_cast<uint32_t>(length);
  symbol.id = id;
  if (!symbols.empty()) symbols.back().next = static_cast<int32_t>(symbols.size());
  symbols.push_back(symbol);
}

// One symbol per character of `text` (see utf8_character_length).
inline void split_utf8_symbols(std::string_view text, std::vector<BpeSymbol>& symbols) {
  symbols.clear();
  for (size_t offset = 0; offset < text.size();) {
    const size_t length = utf8_character_length(text, offset);
    push_symbol(symbols, offset, length);
    offset += length;
  }
}

// Hash map from 64-bit keys (usually a pair of 32-bit ids) to non-negative int32 values, with
// open addressing and linear probing: one cache line per lookup instead of the pointer
// chasing of std::unordered_map, which matters because BPE looks up every candidate pair.
class IdPairMap {
 public:
  static uint64_t pair_key(int32_t left, int32_t right) {
    return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
  }

  // Adds key -> value unless the key is present (the first value wins).
  void insert(uint64_t key, int32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    Slot& slot = slots_[probe(key)];
    if (slot.value < 0) {
      slot = Slot{key, value};
      ++size_;
    }
  }

  // The value of `key`, or -1.
  int32_t find(uint64_t key) const {
    if (slots_.empty()) return -1;
    return slots_[probe(key)].value;
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    int32_t value = -1;  // -1: empty
  };

  size_t probe(uint64_t key) const {
    const size_t mask = slots_.size() - 1;
    size_t index = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;  // Fibonacci hashing
    while (slots_[index].value >= 0 && slots_[index].key != key) index = (index + 1) & mask;
    return index;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    size_ = 0;
    for (const Slot& slot : old)
      if (slot.value >= 0) insert(slot.key, slot.value);
  }

  std::vector<Slot> slots_;  // (capacity) a power of two, at most half full
  size_t size_ = 0;
};

// The outcome of joining two symbols: its priority (lowest merges first) and the id of the
// joined symbol.
template <typename Priority>
struct BpeMerge {
  Priority priority;
  int32_t id;
};

// A queued candidate merge of two adjacent symbols.
template <typename Priority>
struct BpePair {
  Priority priority;
  int32_t left, right;  // symbol indices
  uint32_t length;      // bytes of the merged symbol, to detect stale pairs
  int32_t id;           // of the merged symbol

  // Heap order: lowest priority on top, then the leftmost pair.
  friend bool operator<(const BpePair& a, const BpePair& b) {
    if (a.priority != b.priority) return b.priority < a.priority;
    return a.left > b.left;
  }
};

// Merges adjacent symbols until no pair applies. `merge(left, right)` looks at two live
// symbols and returns std::optional<BpeMerge<P>> (nullopt when the model cannot join them);
// the lowest priority merges first and ties go to the leftmost pair (as SentencePiece and
// HF tokenizers both do). The joined symbol takes the returned id. On return the live
// symbols are those reachable from symbols[0] via next. `heap` is scratch space, passed in
// so that a caller encoding many words allocates it once.
template <typename Priority, typename MergeFn>
void bpe_merge_symbols(std::vector<BpeSymbol>& symbols, std::vector<BpePair<Priority>>& heap, MergeFn&& merge) {
  heap.clear();
  if (symbols.size() < 2) return;
  auto try_add_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const BpeSymbol& a = symbols[left];
    const BpeSymbol& b = symbols[right];
    if (const auto joined = merge(a, b)) {
      heap.push_back(BpePair<Priority>{joined->priority, left, right, a.length + b.length, joined->id});
      std::push_heap(heap.begin(), heap.end());
    }
  };

  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) try_add_pair(i, i + 1);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const BpePair<Priority> pair = heap.back();
    heap.pop_back();
    BpeSymbol& left = symbols[pair.left];
    BpeSymbol& right = symbols[pair.right];
    // Stale: one side was merged away, or grew, since the pair was queued. Symbols only
    // grow, so equal lengths mean both are unchanged.
    if (left.length == 0 || right.length == 0 || left.length + right.length != pair.length) continue;
    left.length += right.length;
    left.id = pair.id;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = pair.left;
    try_add_pair(left.prev, pair.left);
    try_add_pair(pair.left, left.next);
  }
}

// The same on byte strings: `rank(left, right)` gets the two symbols' bytes in `text` and
// returns std::optional<P>, the priority of joining them (SentencePiece: -score of the merged
// piece; byte-level BPE: the merge's rank). Symbol ids are left untouched.
template <typename RankFn>
void bpe_merge(std::string_view text, std::vector<BpeSymbol>& symbols, RankFn&& rank) {
  using Priority = typename decltype(rank(std::string_view(), std::string_view()))::value_type;
  std::vector<BpePair<Priority>> heap;
  bpe_merge_symbols(symbols, heap, [&](const BpeSymbol& left, const BpeSymbol& right) -> std::optional<BpeMerge<Priority>> {
    const auto priority = rank(text.substr(left.begin, left.length), text.substr(right.begin, right.length));
    if (!priority) return std::nullopt;
    return BpeMerge<Priority>{*priority, -1};
  });
}

}  // namespace llmpp::tokenizer
