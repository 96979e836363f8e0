// The model-specific half of a tokenizer: how plain text (no special tokens) becomes ids and
// what bytes each id stands for. Tokenizer does the rest (special tokens, BOS/EOS, decode).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmpp::tokenizer {

class SegmentEncoder {
 public:
  virtual ~SegmentEncoder() = default;

  // Appends the ids of `text`, which contains no special tokens. `at_start`: this segment
  // begins the input or follows a special token, so SentencePiece's dummy prefix applies
  // (llama.cpp and HF's per-segment normalizer both prefix every such segment).
  virtual void encode(std::string_view text, bool at_start, std::vector<int32_t>& out) const = 0;

  // The bytes one token contributes to decoded text (SPM: '▁' -> ' ', <0xNN> -> that byte;
  // byte-level: the inverse of bytes_to_unicode). Never throws for an id inside the vocab.
  virtual std::string token_bytes(int32_t id) const = 0;

};

}  // namespace llmpp::tokenizer
