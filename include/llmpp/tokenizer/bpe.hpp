// The BPE merge engine shared by SentencePiece-BPE and byte-level BPE.
//
// A word starts as a list of symbols (byte ranges of the text, usually one per UTF-8
// character). Every adjacent pair that the model can merge goes into a priority queue; the
// best pair is popped, its two symbols are joined in a doubly linked list, and the two new
// pairs it forms with its neighbours are pushed. Pairs whose symbols changed since they were
// pushed are recognised as stale and dropped. Each merge costs O(log n), so a word of n
// characters costs O(n log n) — never the O(n^2) rescans of the textbook loop.
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

namespace llmpp::tokenizer {

struct BpeSymbol {
  int32_t prev = -1, next = -1;  // neighbours among the live symbols; -1 at the ends
  uint32_t begin = 0;            // byte offset in the text
  uint32_t length = 0;           // in bytes; 0 once merged into the left neighbour
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

// One symbol per UTF-8 character of `text` (a truncated sequence at the end, or one whose
// continuation bytes are missing, becomes one symbol per byte).
inline void split_utf8_symbols(std::string_view text, std::vector<BpeSymbol>& symbols) {
  symbols.clear();
  size_t offset = 0;
  while (offset < text.size()) {
    size_t length = static_cast<size_t>(utf8_sequence_length(static_cast<uint8_t>(text[offset])));
    if (offset + length > text.size()) length = 1;
    for (size_t k = 1; k < length; ++k)
      if ((static_cast<uint8_t>(text[offset + k]) & 0xC0) != 0x80) length = 1;
    BpeSymbol symbol;
    symbol.prev = static_cast<int32_t>(symbols.size()) - 1;
    symbol.next = static_cast<int32_t>(symbols.size()) + 1;
    symbol.begin = static_cast<uint32_t>(offset);
    symbol.length = static_cast<uint32_t>(length);
    symbols.push_back(symbol);
    offset += length;
  }
  if (!symbols.empty()) symbols.back().next = -1;
}

// Merges adjacent symbols of `text` until no pair applies. `rank(left, right)` returns the
// priority of joining the two byte strings, or std::nullopt when the model has no such merge;
// the lowest priority merges first and ties go to the leftmost pair (as SentencePiece and
// HF tokenizers both do). SentencePiece passes -score of the merged piece, byte-level BPE
// the merge's rank. On return the live symbols are those reachable from symbols[0] via next.
template <typename RankFn>
void bpe_merge(std::string_view text, std::vector<BpeSymbol>& symbols, RankFn&& rank) {
  using Priority = typename decltype(rank(std::string_view(), std::string_view()))::value_type;
  struct Pair {
    Priority priority;
    int32_t left, right;
    uint32_t length;  // bytes of the merged symbol, to detect stale pairs
  };
  struct Worse {
    bool operator()(const Pair& a, const Pair& b) const {
      if (a.priority != b.priority) return b.priority < a.priority;
      return a.left > b.left;
    }
  };
  if (symbols.size() < 2) return;
  std::vector<Pair> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Pair, std::vector<Pair>, Worse> queue(Worse(), std::move(storage));

  auto piece = [&](const BpeSymbol& s) { return text.substr(s.begin, s.length); };
  auto try_add_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const BpeSymbol& a = symbols[left];
    const BpeSymbol& b = symbols[right];
    if (auto priority = rank(piece(a), piece(b))) queue.push(Pair{*priority, left, right, a.length + b.length});
  };

  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) try_add_pair(i, i + 1);

  while (!queue.empty()) {
    const Pair pair = queue.top();
    queue.pop();
    BpeSymbol& left = symbols[pair.left];
    BpeSymbol& right = symbols[pair.right];
    // Stale: one side was merged away, or grew, since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != pair.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = pair.left;
    try_add_pair(left.prev, pair.left);
    try_add_pair(pair.left, left.next);
  }
}

}  // namespace llmpp::tokenizer
