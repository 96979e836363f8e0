// UTF-8 decoding and the Unicode properties the pre-tokenizer regexes ask about.
//
// Decoding never fails and never loses a byte. A byte that does not start a well-formed
// UTF-8 sequence (a stray continuation byte, an overlong form, a surrogate, a value above
// U+10FFFF, a sequence cut short) decodes as a "code point" of its own, length 1, with the
// value invalid_byte_base + byte. Such a value lies outside Unicode, so it is no letter, no
// number and no white space: the regexes treat it like any other symbol ([^\s\p{L}\p{N}]),
// and the byte-level encoder maps the raw byte like any other byte.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

// ---------------------------------------------------------------------------------------
// NFC (Unicode Standard Annex #15): canonical decomposition, canonical ordering by combining
// class, then canonical composition. Invalid bytes (invalid_byte_base + b) pass through as
// starters that compose with nothing.

inline uint8_t combining_class(uint32_t code_point) {
  const auto& ranges = unicode_tables::combining_class_ranges;
  const auto it = std::lower_bound(std::begin(ranges), std::end(ranges), code_point,
                                   [](const unicode_tables::CombiningClassRange& range, uint32_t value) { return range.last < value; });
  return it != std::end(ranges) && it->first <= code_point ? it->combining_class : 0;
}

namespace nfc_detail {

// Hangul syllables decompose and compose by arithmetic (Unicode Standard, sec. 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

inline const unicode_tables::CanonicalDecomposition* find_decomposition(uint32_t code_point) {
  const auto& table = unicode_tables::canonical_decompositions;
  const auto it = std::lower_bound(std::begin(table), std::end(table), code_point,
                                   [](const unicode_tables::CanonicalDecomposition& d, uint32_t value) { return d.code_point < value; });
  return it != std::end(table) && it->code_point == code_point ? &*it : nullptr;
}

inline void decompose(uint32_t code_point, std::vector<uint32_t>& out) {
  if (code_point >= kSBase && code_point < kSBase + kSCount) {
    const uint32_t index = code_point - kSBase;
    out.push_back(kLBase + index / kNCount);
    out.push_back(kVBase + (index % kNCount) / kTCount);
    if (index % kTCount) out.push_back(kTBase + index % kTCount);
    return;
  }
  if (const auto* decomposition = find_decomposition(code_point)) {
    decompose(decomposition->first, out);
    if (decomposition->second) decompose(decomposition->second, out);
    return;
  }
  out.push_back(code_point);
}

// The primary composite of (starter, next), or 0.
inline uint32_t compose(uint32_t starter, uint32_t next) {
  if (starter >= kLBase && starter < kLBase + kLCount && next >= kVBase && next < kVBase + kVCount)
    return kSBase + ((starter - kLBase) * kVCount + (next - kVBase)) * kTCount;
  if (starter >= kSBase && starter < kSBase + kSCount && (starter - kSBase) % kTCount == 0 && next > kTBase && next < kTBase + kTCount)
    return starter + (next - kTBase);
  static const std::unordered_map<uint64_t, uint32_t> pairs = [] {
    std::unordered_map<uint64_t, uint32_t> map;
    for (const auto& d : unicode_tables::canonical_decompositions)
      if (d.composes) map.emplace(uint64_t{d.first} << 32 | d.second, d.code_point);
    return map;
  }();
  const auto it = pairs.find(uint64_t{starter} << 32 | next);
  return it == pairs.end() ? 0 : it->second;
}

}  // namespace nfc_detail

// UAX #15's quick check: true when `text` is certainly in NFC already (no character whose
// NFC_Quick_Check is No or Maybe, combining marks in canonical order).
inline bool is_nfc_quick(std::string_view text) {
  uint8_t last_class = 0;
  for (size_t offset = 0; offset < text.size();) {
    const DecodedCodePoint decoded = decode_utf8(text, offset);
    offset += decoded.length;
    const uint32_t code_point = decoded.code_point;
    if (code_point < 0x300 || code_point >= invalid_byte_base) {  // no class, quick check Yes
      last_class = 0;
      continue;
    }
    const uint8_t current_class = combining_class(code_point);
    if (current_class != 0 && last_class > current_class) return false;
    const auto& ranges = unicode_tables::nfc_quick_check_ranges;
    const auto it = std::lower_bound(std::begin(ranges), std::end(ranges), code_point,
                                     [](const uint32_t* range, uint32_t value) { return range[1] < value; });
    if (it != std::end(ranges) && (*it)[0] <= code_point) return false;
    last_class = current_class;
  }
  return true;
}

// `text` in Normalization Form C.
inline std::string to_nfc(std::string_view text) {
  if (is_nfc_quick(text)) return std::string(text);

  std::vector<uint32_t> code_points;  // (n) after full canonical decomposition
  code_points.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const DecodedCodePoint decoded = decode_utf8(text, offset);
    nfc_detail::decompose(decoded.code_point, code_points);
    offset += decoded.length;
  }
  // Canonical ordering: each run of non-starters sorted by class, stably (O(k log k) per run).
  for (size_t begin = 0; begin < code_points.size();) {
    if (combining_class(code_points[begin]) == 0) {
      ++begin;
      continue;
    }
    size_t end = begin;
    while (end < code_points.size() && combining_class(code_points[end]) != 0) ++end;
    std::stable_sort(code_points.begin() + begin, code_points.begin() + end,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    begin = end;
  }
  // Canonical composition: a character joins the last starter unless blocked by a character
  // in between of class 0 or of a class at least its own.
  std::vector<uint32_t> composed;  // (<= n)
  composed.reserve(code_points.size());
  size_t starter = SIZE_MAX;
  uint8_t last_class = 0;
  for (uint32_t code_point : code_points) {
    const uint8_t current_class = combining_class(code_point);
    const bool adjacent_to_starter = starter != SIZE_MAX && starter + 1 == composed.size();
    if (starter != SIZE_MAX && (adjacent_to_starter || (last_class != 0 && last_class < current_class))) {
      if (const uint32_t composite = nfc_detail::compose(composed[starter], code_point)) {
        composed[starter] = composite;
        continue;
      }
    }
    if (current_class == 0) starter = composed.size();
    last_class = current_class;
    composed.push_back(code_point);
  }
  std::string result;
  result.reserve(text.size());
  for (uint32_t code_point : composed) append_utf8(code_point, result);
  return result;
}

}  // namespace llmpp::tokenizer
