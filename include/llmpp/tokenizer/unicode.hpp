// UTF-8 decoding and the Unicode properties the pre-tokenizer regexes ask about.
//
// Decoding never fails and never loses a byte. A byte that does not start a well-formed
// UTF-8 sequence (a stray continuation byte, an overlong form, a surrogate, a value above
// U+10FFFF, a sequence cut short) decodes as a "code point" of its own, length 1, with the
// value invalid_byte_base + byte. Such a value lies outside Unicode, so it is no letter, no
// number and no white space: the regexes treat it like any other symbol ([^\s\p{L}\p{N}]),
// and the byte-level encoder maps the raw byte like any other byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "llmpp/tokenizer/unicode_tables.hpp"

namespace llmpp::tokenizer {

constexpr uint32_t invalid_byte_base = 0x110000;  // invalid byte b decodes as 0x110000 + b

struct DecodedCodePoint {
  uint32_t code_point;
  uint32_t length;  // bytes consumed, 1..4
};

// Decodes the character at `offset` (< text.size()) per RFC 3629 (well-formed sequences only).
inline DecodedCodePoint decode_utf8(std::string_view text, size_t offset) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t first = byte(offset);
  const DecodedCodePoint invalid{invalid_byte_base + first, 1};
  if (first < 0x80) return {first, 1};
  uint32_t length, code_point, min_value;
  if ((first & 0xE0) == 0xC0) {
    length = 2, code_point = first & 0x1F, min_value = 0x80;
  } else if ((first & 0xF0) == 0xE0) {
    length = 3, code_point = first & 0x0F, min_value = 0x800;
  } else if ((first & 0xF8) == 0xF0) {
    length = 4, code_point = first & 0x07, min_value = 0x10000;
  } else {
    return invalid;  // continuation byte or 0xF8..0xFF
  }
  if (offset + length > text.size()) return invalid;
  for (uint32_t k = 1; k < length; ++k) {
    const uint8_t next = byte(offset + k);
    if ((next & 0xC0) != 0x80) return invalid;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  const bool overlong = code_point < min_value;
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (overlong || surrogate || code_point > 0x10FFFF) return invalid;
  return {code_point, length};
}

// Appends the UTF-8 encoding of `code_point`; an invalid-byte value appends its raw byte.
inline void append_utf8(uint32_t code_point, std::string& out) {
  if (code_point >= invalid_byte_base) {
    out += static_cast<char>(code_point - invalid_byte_base);
  } else if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// General category group of `code_point`, by binary search over the generated ranges.
inline UnicodeCategory unicode_category_search(uint32_t code_point) {
  if (code_point > 0x10FFFF) return UnicodeCategory::other;  // includes invalid bytes
  const auto* ranges = unicode_tables::category_ranges;
  size_t low = 0, high = std::size(unicode_tables::category_ranges);  // answer in [low, high)
  while (high - low > 1) {
    const size_t middle = (low + high) / 2;
    if (ranges[middle].first <= code_point) low = middle; else high = middle;
  }
  return ranges[low].category;
}

// The same, with a table for ASCII, which dominates most text.
inline UnicodeCategory unicode_category(uint32_t code_point) {
  struct AsciiTable {
    UnicodeCategory category[0x80];
    AsciiTable() {
      for (uint32_t c = 0; c < 0x80; ++c) category[c] = unicode_category_search(c);
    }
  };
  static const AsciiTable ascii;
  return code_point < 0x80 ? ascii.category[code_point] : unicode_category_search(code_point);
}

// \s: the White_Space property.
inline bool is_white_space(uint32_t code_point) {
  if (code_point < 0x80) return code_point == ' ' || (code_point >= 0x09 && code_point <= 0x0D);
  for (const auto& range : unicode_tables::white_space_ranges)
    if (code_point >= range[0] && code_point <= range[1]) return true;
  return false;
}

inline bool is_letter(uint32_t code_point) {
  if (code_point < 0x80) return (code_point | 0x20) >= 'a' && (code_point | 0x20) <= 'z';
  return unicode_category(code_point) == UnicodeCategory::letter;
}

inline bool is_number(uint32_t code_point) {
  if (code_point < 0x80) return code_point >= '0' && code_point <= '9';
  return unicode_category(code_point) == UnicodeCategory::number;
}

}  // namespace llmpp::tokenizer
