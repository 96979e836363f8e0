// Incremental detokenization for generation: ids arrive one at a time and the text is
// printed as it comes, but a token may carry only part of a UTF-8 character (byte-fallback
// <0xE2> <0x96> <0x81>, or a byte-level token that splits an emoji). StreamingDecoder holds
// such bytes back until the character is complete, so every string it returns is valid UTF-8.
//
// Invalid bytes: a byte that cannot start a character, or a sequence cut short by a byte that
// cannot continue it, is replaced by one U+FFFD per maximal invalid subpart (the W3C/WHATWG
// "substitution of maximal subparts" practice) as soon as it is proven invalid — that is,
// when the byte that breaks it arrives, never earlier. flush() replaces a trailing incomplete
// sequence by U+FFFD.
//
// Leading space: unlike decode(), which treats its ids as a whole text, a stream may be a
// continuation, so the dummy prefix's space is dropped only from the piece right after BOS
// (as llama2.c prints). Push the prompt's ids too (with or without printing them) so that
// the first generated piece is treated right.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "llmpp/tokenizer/tokenizer.hpp"

namespace llmpp::tokenizer {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Appends the valid UTF-8 characters at the front of `bytes` to `out`, replacing invalid
// bytes by U+FFFD, and returns how many bytes were consumed. It stops before a trailing
// sequence that is incomplete but could still become valid, unless `final` is set.
inline size_t append_valid_utf8(std::string_view bytes, bool final, std::string& out) {
  size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<uint8_t>(bytes[i]);
    if (lead < 0x80) {
      out += bytes[i++];
      continue;
    }
    // Number of continuation bytes and the allowed range of the first one (Unicode Table 3-7:
    // excludes overlong forms, surrogates and code points above U+10FFFF).
    int n_continuation = 0;
    uint8_t first_min = 0x80, first_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) n_continuation = 1;
    else if (lead == 0xE0) n_continuation = 2, first_min = 0xA0;
    else if (lead == 0xED) n_continuation = 2, first_max = 0x9F;
    else if (lead >= 0xE1 && lead <= 0xEF) n_continuation = 2;
    else if (lead == 0xF0) n_continuation = 3, first_min = 0x90;
    else if (lead == 0xF4) n_continuation = 3, first_max = 0x8F;
    else if (lead >= 0xF1 && lead <= 0xF3) n_continuation = 3;
    if (n_continuation == 0) {  // cannot start a character: 80..C1, F5..FF
      out += kReplacementCharacter;
      ++i;
      continue;
    }
    size_t length = 1;  // bytes of the sequence that are valid so far
    bool broken = false;
    while (length <= static_cast<size_t>(n_continuation) && i + length < bytes.size()) {
      const auto byte = static_cast<uint8_t>(bytes[i + length]);
      const uint8_t min = length == 1 ? first_min : 0x80, max = length == 1 ? first_max : 0xBF;
      if (byte < min || byte > max) {
        broken = true;
        break;
      }
      ++length;
    }
    if (broken) {  // the maximal subpart bytes[i, i + length) becomes one U+FFFD
      out += kReplacementCharacter;
      i += length;
    } else if (length == static_cast<size_t>(n_continuation) + 1) {
      out.append(bytes.data() + i, length);
      i += length;
    } else {  // ran out of bytes mid-character
      if (!final) return i;
      out += kReplacementCharacter;
      i += length;
    }
  }
  return i;
}

class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = true)
      : tokenizer_(tokenizer), skip_special_(skip_special) {
    state_.at_text_start = false;
  }

  // Feeds one id and returns the text it completes (possibly empty).
  std::string push(int32_t id) {
    tokenizer_.append_piece(id, skip_special_, state_, pending_);
    std::string text;
    const size_t consumed = append_valid_utf8(pending_, false, text);
    pending_.erase(0, consumed);
    return text;
  }

  // Returns the held-back bytes of an unfinished character as U+FFFD and starts afresh for
  // the next message.
  std::string flush() {
    std::string text;
    append_valid_utf8(pending_, true, text);
    pending_.clear();
    state_.at_text_start = false;
    return text;
  }

  // Bytes held back, waiting for the rest of their character (at most 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  DecodeState state_;
  std::string pending_;
};

}  // namespace llmpp::tokenizer
