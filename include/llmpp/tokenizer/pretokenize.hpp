// Normalizers and pre-tokenizers of Hugging Face tokenizers, with hand-written scanners in
// place of a regex engine.
//
// A pre-tokenizer cuts a text segment into pieces ("pre-tokens"); BPE then runs inside each
// piece, never across two. The cut points are defined by regexes in tokenizer.json. Rather
// than embed a regex engine (std::regex is slow, has no \p{..} and can recurse without
// bound), each regex that real models use is recognised by its pattern string and run by a
// scanner that reproduces the leftmost-first semantics of Oniguruma (the engine HF uses)
// for that one pattern, in linear time:
//   - GPT-2 (also ByteLevel's use_regex):
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   - Llama 3 / tiktoken cl100k, and Qwen2 (identical but \p{N} instead of \p{N}{1,3}):
//       (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//        ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   - "class runs", the building blocks of the DeepSeek Split sequences:
//       [optional \s?] ATOM [optional +] [optional $], ATOM = [set] | \p{X} | \s,
//       e.g. [\r\n], \s?[A-Za-z...]+, \s+$, [一-龥...]+, \p{N}+.
// An unknown pattern is a ConfigError that quotes it. `$` is taken as the end of the piece
// (Oniguruma's also matches before a '\n'; the DeepSeek sequences split newlines off first).
//
// Text is UTF-8; invalid bytes follow unicode.hpp (each is a symbol of its own, category
// "other"), so every byte of the input lands in exactly one piece.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/tokenizer/unicode.hpp"

namespace llmpp::tokenizer {

// ---------------------------------------------------------------------------------------
// Decoded text: code points with their byte offsets and properties, computed once per piece.

class DecodedText {
 public:
  static constexpr uint8_t kWhiteSpace = 0x08;  // flag bit beside the 3-bit category

  void assign(std::string_view text) {
    if (text.size() >= UINT32_MAX)  // offsets are 32-bit
      throw LimitError("pre-tokenizer: a text segment of " + std::to_string(text.size()) + " bytes exceeds 4 GiB");
    text_ = text;
    code_points_.clear();
    offsets_.clear();
    properties_.clear();
    for (size_t offset = 0; offset < text.size();) {
      const DecodedCodePoint decoded = decode_utf8(text, offset);
      code_points_.push_back(decoded.code_point);
      offsets_.push_back(static_cast<uint32_t>(offset));
      uint8_t property = static_cast<uint8_t>(unicode_category(decoded.code_point));
      if (is_white_space(decoded.code_point)) property |= kWhiteSpace;
      properties_.push_back(property);
      offset += decoded.length;
    }
    offsets_.push_back(static_cast<uint32_t>(text.size()));
  }

  size_t size() const { return code_points_.size(); }
  uint32_t code_point(size_t i) const { return code_points_[i]; }
  UnicodeCategory category(size_t i) const { return static_cast<UnicodeCategory>(properties_[i] & 0x07); }
  bool is_space(size_t i) const { return (properties_[i] & kWhiteSpace) != 0; }
  bool is_letter(size_t i) const { return category(i) == UnicodeCategory::letter; }
  bool is_number(size_t i) const { return category(i) == UnicodeCategory::number; }
  bool is_newline(size_t i) const { return code_points_[i] == '\r' || code_points_[i] == '\n'; }
  // [^\s\p{L}\p{N}]
  bool is_other(size_t i) const { return !is_space(i) && !is_letter(i) && !is_number(i); }

  // Bytes of code points [begin, end).
  std::string_view slice(size_t begin, size_t end) const { return text_.substr(offsets_[begin], offsets_[end] - offsets_[begin]); }

 private:
  std::string_view text_;
  std::vector<uint32_t> code_points_;  // (n)
  std::vector<uint32_t> offsets_;      // (n + 1) byte offset of each code point, then text size
  std::vector<uint8_t> properties_;    // (n) UnicodeCategory | kWhiteSpace
};

// ---------------------------------------------------------------------------------------
// The regex scanners.

namespace scan {

// The end of the run of code points from `i` on that satisfy `predicate`.
template <typename Predicate>
size_t run_end(const DecodedText& text, size_t i, Predicate&& predicate) {
  while (i < text.size() && predicate(i)) ++i;
  return i;
}

// Whether code point i equals the lowercase ASCII letter `c` under Unicode simple case
// folding: c, its uppercase, and for 's' also U+017F LATIN SMALL LETTER LONG S.
inline bool folds_to(const DecodedText& text, size_t i, char c) {
  const uint32_t code_point = text.code_point(i);
  return (code_point | 0x20) == static_cast<uint32_t>(c) || (c == 's' && code_point == 0x17F);
}

// 's|'t|'re|'ve|'m|'ll|'d at i (case-insensitively when `ignore_case`): the match end, or i.
inline size_t contraction(const DecodedText& text, size_t i, bool ignore_case) {
  if (text.code_point(i) != '\'' || i + 1 >= text.size()) return i;
  const auto is = [&](size_t k, char c) {
    return k < text.size() && (ignore_case ? folds_to(text, k, c) : text.code_point(k) == static_cast<uint32_t>(c));
  };
  if (is(i + 1, 's') || is(i + 1, 't') || is(i + 1, 'm') || is(i + 1, 'd')) return i + 2;
  if ((is(i + 1, 'r') || is(i + 1, 'v')) && is(i + 2, 'e')) return i + 3;
  if (is(i + 1, 'l') && is(i + 2, 'l')) return i + 3;
  return i;
}

// \s+(?!\S)|\s+ at a white-space code point i: the whole run if it ends the text or is a
// single character, else the run minus its last character (which then leads the next word).
inline size_t trailing_space(const DecodedText& text, size_t i) {
  const size_t end = run_end(text, i, [&](size_t k) { return text.is_space(k); });
  if (end == text.size() || end - i == 1) return end;
  return end - 1;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Every code point starts some alternative, so a match always begins at i.
inline size_t gpt2(const DecodedText& text, size_t i) {
  if (size_t end = contraction(text, i, false); end > i) return end;
  const size_t start = (text.code_point(i) == ' ' && i + 1 < text.size() && !text.is_space(i + 1)) ? i + 1 : i;
  if (text.is_letter(start)) return run_end(text, start, [&](size_t k) { return text.is_letter(k); });
  if (text.is_number(start)) return run_end(text, start, [&](size_t k) { return text.is_number(k); });
  if (text.is_other(start)) return run_end(text, start, [&](size_t k) { return text.is_other(k); });
  return trailing_space(text, i);
}

// Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
inline size_t llama3(const DecodedText& text, size_t i, size_t max_digits) {
  if (size_t end = contraction(text, i, true); end > i) return end;
  const auto letter_run = [&](size_t k) { return run_end(text, k, [&](size_t m) { return text.is_letter(m); }); };
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (text.is_letter(i)) return letter_run(i);
  if (!text.is_newline(i) && !text.is_number(i) && i + 1 < text.size() && text.is_letter(i + 1)) return letter_run(i + 1);
  // \p{N}{1,3}
  if (text.is_number(i)) {
    size_t end = i + 1;
    while (end < text.size() && end - i < max_digits && text.is_number(end)) ++end;
    return end;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t start = (text.code_point(i) == ' ' && i + 1 < text.size() && text.is_other(i + 1)) ? i + 1 : i;
  if (text.is_other(start)) {
    const size_t end = run_end(text, start, [&](size_t k) { return text.is_other(k); });
    return run_end(text, end, [&](size_t k) { return text.is_newline(k); });
  }
  // \s*[\r\n]+ : through the last newline of the white-space run.
  const size_t space_end = run_end(text, i, [&](size_t k) { return text.is_space(k); });
  for (size_t k = space_end; k > i; --k)
    if (text.is_newline(k - 1)) return k;
  return trailing_space(text, i);
}

// A set of code points: explicit ranges plus whole categories and/or \s. Call finalize()
// after filling it.
struct CharSet {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive; sorted and disjoint after finalize()
  uint8_t category_mask = 0;                          // bit (1 << UnicodeCategory)
  bool white_space = false;
  uint64_t ascii[2] = {0, 0};                         // membership of U+0000..U+007F, after finalize()

  void finalize() {
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (const auto& range : ranges) {
      if (!merged.empty() && range.first <= merged.back().second + 1) merged.back().second = std::max(merged.back().second, range.second);
      else merged.push_back(range);
    }
    ranges.swap(merged);
    ascii[0] = ascii[1] = 0;
    for (uint32_t code_point = 0; code_point < 0x80; ++code_point)
      if (contains_slow(code_point, unicode_category(code_point), is_white_space(code_point)))
        ascii[code_point >> 6] |= uint64_t{1} << (code_point & 63);
  }

  bool contains(const DecodedText& text, size_t i) const {
    const uint32_t code_point = text.code_point(i);
    if (code_point < 0x80) return (ascii[code_point >> 6] >> (code_point & 63)) & 1;
    return contains_slow(code_point, text.category(i), text.is_space(i));
  }

 private:
  bool contains_slow(uint32_t code_point, UnicodeCategory category, bool is_space) const {
    if (white_space && is_space) return true;
    if (category_mask & (1u << static_cast<unsigned>(category))) return true;
    // The first range that ends at or after code_point.
    const auto it = std::lower_bound(ranges.begin(), ranges.end(), code_point,
                                     [](const std::pair<uint32_t, uint32_t>& range, uint32_t value) { return range.second < value; });
    return it != ranges.end() && it->first <= code_point;
  }
};

// [\s?] ATOM [+] [$]
struct ClassRun {
  bool optional_leading_space = false;
  CharSet atom;
  bool repeat = false;      // ATOM+ rather than one ATOM
  bool end_anchor = false;  // $

  // Leftmost match at or after `from`; false if there is none.
  bool find(const DecodedText& text, size_t from, size_t& begin, size_t& end) const {
    for (size_t i = from; i < text.size(); ++i) {
      if (!atom.contains(text, i)) continue;
      end = repeat ? run_end(text, i, [&](size_t k) { return atom.contains(text, k); }) : i + 1;
      if (end_anchor && end != text.size()) {
        if (repeat) i = end - 1;  // no start inside this run can reach the end either
        continue;
      }
      // \s? takes the white space just before the atom (an earlier start cannot match).
      begin = (optional_leading_space && i > from && text.is_space(i - 1)) ? i - 1 : i;
      return true;
    }
    return false;
  }
};

}  // namespace scan

// A Split pattern, recognised from its regex string.
class SplitPattern {
 public:
  enum class Kind { gpt2, llama3, qwen2, class_run };

  static constexpr std::string_view kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static constexpr std::string_view kLlama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static constexpr std::string_view kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

  static SplitPattern gpt2() { return SplitPattern(Kind::gpt2); }
  static SplitPattern llama3() { return SplitPattern(Kind::llama3); }
  static SplitPattern qwen2() { return SplitPattern(Kind::qwen2); }

  // `source` names the file for the error on an unsupported pattern.
  static SplitPattern parse(std::string_view regex, const std::string& source) {
    if (regex == kGpt2) return gpt2();
    if (regex == kLlama3) return llama3();
    // llama.cpp's spelling of the case-insensitive group.
    if (regex == R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)")
      return llama3();
    if (regex == kQwen2) return qwen2();
    SplitPattern pattern(Kind::class_run);
    if (!parse_class_run(regex, pattern.class_run_))
      throw ConfigError(source, "pre_tokenizer.pattern", "unsupported split regex '" + std::string(regex) +
                                                             "' (known: GPT-2, Llama 3, Qwen2 and [\\s?]CLASS[+][$] forms)");
    return pattern;
  }

  // Leftmost match at or after code point `from`: [begin, end), begin < end; false if none.
  bool find(const DecodedText& text, size_t from, size_t& begin, size_t& end) const {
    if (from >= text.size()) return false;
    begin = from;
    switch (kind_) {
      case Kind::gpt2: end = scan::gpt2(text, from); return true;
      case Kind::llama3: end = scan::llama3(text, from, 3); return true;
      case Kind::qwen2: end = scan::llama3(text, from, 1); return true;
      case Kind::class_run: return class_run_.find(text, from, begin, end);
    }
    return false;
  }

 private:
  explicit SplitPattern(Kind kind) : kind_(kind) {}

  // One code point of a bracket set or an escape: \r \n \t \\ \- \[ \] \/ or a literal.
  static bool parse_set_char(std::string_view regex, size_t& offset, uint32_t& code_point) {
    if (offset >= regex.size()) return false;
    if (regex[offset] == '\\') {
      if (offset + 1 >= regex.size()) return false;
      const char escaped = regex[offset + 1];
      offset += 2;
      switch (escaped) {
        case 'r': code_point = '\r'; return true;
        case 'n': code_point = '\n'; return true;
        case 't': code_point = '\t'; return true;
        case '\\': case '-': case '[': case ']': case '/': case '^': case '$': case '.':
          code_point = static_cast<uint32_t>(escaped);
          return true;
        default: return false;
      }
    }
    const DecodedCodePoint decoded = decode_utf8(regex, offset);
    if (decoded.code_point >= invalid_byte_base) return false;
    code_point = decoded.code_point;
    offset += decoded.length;
    return true;
  }

  // \p{X} at offset: adds category X to `set`.
  static bool parse_category(std::string_view regex, size_t& offset, scan::CharSet& set) {
    if (regex.substr(offset, 3) != "\\p{" || offset + 5 > regex.size() || regex[offset + 4] != '}') return false;
    static constexpr std::pair<char, UnicodeCategory> kCategories[] = {
        {'L', UnicodeCategory::letter}, {'M', UnicodeCategory::mark}, {'N', UnicodeCategory::number},
        {'P', UnicodeCategory::punctuation}, {'S', UnicodeCategory::symbol}, {'Z', UnicodeCategory::separator},
        {'C', UnicodeCategory::other}};
    for (const auto& [letter, category] : kCategories) {
      if (regex[offset + 3] == letter) {
        set.category_mask |= static_cast<uint8_t>(1u << static_cast<unsigned>(category));
        offset += 5;
        return true;
      }
    }
    return false;
  }

  static bool parse_class_run(std::string_view regex, scan::ClassRun& run) {
    size_t offset = 0;
    if (regex.substr(0, 3) == "\\s?") {
      run.optional_leading_space = true;
      offset = 3;
    }
    if (regex.substr(offset, 2) == "\\s") {
      run.atom.white_space = true;
      offset += 2;
    } else if (regex.substr(offset, 3) == "\\p{") {
      if (!parse_category(regex, offset, run.atom)) return false;
    } else if (offset < regex.size() && regex[offset] == '[') {
      ++offset;
      if (offset < regex.size() && regex[offset] == '^') return false;  // negated sets: not needed yet
      while (offset < regex.size() && regex[offset] != ']') {
        if (regex.substr(offset, 3) == "\\p{") {
          if (!parse_category(regex, offset, run.atom)) return false;
          continue;
        }
        if (regex.substr(offset, 2) == "\\s") {
          run.atom.white_space = true;
          offset += 2;
          continue;
        }
        uint32_t first = 0, last = 0;
        if (!parse_set_char(regex, offset, first)) return false;
        last = first;
        if (offset + 1 < regex.size() && regex[offset] == '-' && regex[offset + 1] != ']') {
          ++offset;
          if (!parse_set_char(regex, offset, last) || last < first) return false;
        }
        run.atom.ranges.emplace_back(first, last);
      }
      if (offset >= regex.size()) return false;
      ++offset;  // ']'
    } else {
      return false;
    }
    if (offset < regex.size() && regex[offset] == '+') {
      run.repeat = true;
      ++offset;
    }
    if (offset < regex.size() && regex[offset] == '$') {
      run.end_anchor = true;
      ++offset;
    }
    run.atom.finalize();
    return offset == regex.size();
  }

  Kind kind_;
  scan::ClassRun class_run_;
};

// DeepSeek LLM's pre-tokenizer: a Sequence of Isolated Splits with these regexes (from its
// tokenizer.json). Three range ends in the letter set are Greek Extended letters written as
// escapes because NFC would turn them into look-alikes: U+1F7D, U+1FD3, U+1FDB.
inline const std::vector<std::string>& deepseek_llm_split_regexes() {
  static const std::vector<std::string> regexes = {
      "[\\r\\n]",
      "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373"
      "\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F"
      "\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77"
      "\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D"
      "\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4"
      "\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139"
      "\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D"
      "\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A"
      "\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2"
      "\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943]+",
      "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
      "\\s+$",
      "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
      "\\p{N}+",
  };
  return regexes;
}

// ---------------------------------------------------------------------------------------
// Normalizers: text -> text, applied to each segment between added tokens.

class Normalizer {
 public:
  enum class Kind { prepend, replace, nfc };
  struct Step {
    Kind kind;
    std::string pattern, content;  // prepend: content; replace: pattern -> content
  };

  void add_prepend(std::string content) { steps_.push_back({Kind::prepend, {}, std::move(content)}); }
  void add_replace(std::string pattern, std::string content) {
    if (pattern.empty()) throw InvalidArgument("Normalizer: Replace with an empty pattern");
    steps_.push_back({Kind::replace, std::move(pattern), std::move(content)});
  }
  void add_nfc() { steps_.push_back({Kind::nfc, {}, {}}); }

  bool empty() const { return steps_.empty(); }

  void apply(std::string& text) const {
    for (const Step& step : steps_) {
      switch (step.kind) {
        case Kind::prepend:
          if (!text.empty()) text.insert(0, step.content);  // HF prepends to non-empty text only
          break;
        case Kind::replace: text = replace_all(text, step.pattern, step.content); break;
        case Kind::nfc: text = to_nfc(text); break;
      }
    }
  }

  static std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content) {
    std::string result;
    result.reserve(text.size());
    size_t begin = 0;
    for (size_t found; (found = text.find(pattern, begin)) != std::string_view::npos; begin = found + pattern.size()) {
      result.append(text, begin, found - begin);
      result.append(content);
    }
    result.append(text, begin, std::string_view::npos);
    return result;
  }

 private:
  std::vector<Step> steps_;
};

// ---------------------------------------------------------------------------------------
// Pre-tokenizers: a Sequence of steps, each cutting every current piece further.

// How a Split keeps its matches (HF SplitDelimiterBehavior).
enum class SplitBehavior { isolated, removed, merged_with_previous, merged_with_next, contiguous };

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68
// (controls, space, 0x7F-0xA0, 0xAD) map to U+0100.. in byte order, so every byte has a
// visible, non-space character and BPE never sees raw white space.
class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet() {
    std::fill(std::begin(byte_of_code_point_), std::end(byte_of_code_point_), int16_t{-1});
    uint32_t next_extra = 0x100;
    for (uint32_t byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
      const uint32_t code_point = printable ? byte : next_extra++;
      encoded_[byte].clear();
      append_utf8(code_point, encoded_[byte]);
      byte_of_code_point_[code_point] = static_cast<int16_t>(byte);
    }
  }

  static const ByteLevelAlphabet& instance() {
    static const ByteLevelAlphabet alphabet;
    return alphabet;
  }

  // The UTF-8 text of the character standing for `byte`.
  const std::string& encode(uint8_t byte) const { return encoded_[byte]; }

  void encode(std::string_view bytes, std::string& out) const {
    out.clear();
    for (char c : bytes) out += encoded_[static_cast<uint8_t>(c)];
  }

  // Inverse mapping of a whole token; false (out untouched beyond its old size) if some
  // character of `text` is not in the alphabet.
  bool decode(std::string_view text, std::string& out) const {
    const size_t old_size = out.size();
    for (size_t offset = 0; offset < text.size();) {
      const DecodedCodePoint decoded = decode_utf8(text, offset);
      if (decoded.code_point >= 0x144 || byte_of_code_point_[decoded.code_point] < 0) {
        out.resize(old_size);
        return false;
      }
      out += static_cast<char>(byte_of_code_point_[decoded.code_point]);
      offset += decoded.length;
    }
    return true;
  }

 private:
  std::string encoded_[256];
  int16_t byte_of_code_point_[0x144];  // U+0000..U+0143 -> byte, or -1
};

class PreTokenizer {
 public:
  // Split(pattern, behavior), HF's invert = false.
  void add_split(SplitPattern pattern, SplitBehavior behavior) {
    Step step;
    step.kind = Kind::split;
    step.pattern = std::make_shared<SplitPattern>(std::move(pattern));
    step.behavior = behavior;
    steps_.push_back(std::move(step));
  }
  // Digits: each \p{N} alone (individual_digits) or runs of them, isolated.
  void add_digits(bool individual_digits) {
    Step step;
    step.kind = Kind::split;
    step.pattern = std::make_shared<SplitPattern>(SplitPattern::parse(individual_digits ? "\\p{N}" : "\\p{N}+", "Digits"));
    step.behavior = SplitBehavior::isolated;
    steps_.push_back(std::move(step));
  }
  // ByteLevel: optional leading space, optional GPT-2 split, then bytes -> alphabet.
  void add_byte_level(bool add_prefix_space, bool use_regex) {
    Step step;
    step.kind = Kind::byte_level;
    step.add_prefix_space = add_prefix_space;
    if (use_regex) step.pattern = std::make_shared<SplitPattern>(SplitPattern::gpt2());
    steps_.push_back(std::move(step));
  }
  // Metaspace: ' ' -> replacement; prepend it to the first piece (prepend_first) or to every
  // piece (prepend_always); split before each replacement character (split).
  void add_metaspace(std::string replacement, bool prepend_always, bool prepend_first, bool split) {
    Step step;
    step.kind = Kind::metaspace;
    step.replacement = std::move(replacement);
    step.prepend_always = prepend_always;
    step.prepend_first = prepend_first;
    step.split = split;
    steps_.push_back(std::move(step));
  }

  bool empty() const { return steps_.empty(); }
  // True when a ByteLevel step maps the pieces to the GPT-2 alphabet.
  bool byte_level() const {
    return std::any_of(steps_.begin(), steps_.end(), [](const Step& s) { return s.kind == Kind::byte_level; });
  }

  // Cuts `text` into `pieces`. `at_start`: the text begins the input (Metaspace "first").
  void apply(std::string_view text, bool at_start, std::vector<std::string>& pieces) const {
    pieces.clear();
    if (text.empty()) return;
    pieces.emplace_back(text);
    std::vector<std::string> next;
    DecodedText decoded;
    for (const Step& step : steps_) {
      next.clear();
      for (size_t index = 0; index < pieces.size(); ++index) {
        std::string& piece = pieces[index];
        switch (step.kind) {
          case Kind::split: split(*step.pattern, step.behavior, piece, decoded, next); break;
          case Kind::byte_level: {
            if (step.add_prefix_space && (piece.empty() || piece[0] != ' ')) piece.insert(0, " ");
            const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::instance();
            std::vector<std::string> parts;
            if (step.pattern) split(*step.pattern, SplitBehavior::isolated, piece, decoded, parts);
            else parts.push_back(std::move(piece));
            for (const std::string& part : parts) {
              next.emplace_back();
              alphabet.encode(part, next.back());
            }
            break;
          }
          case Kind::metaspace: {
            std::string replaced = Normalizer::replace_all(piece, " ", step.replacement);
            const bool first = at_start && index == 0;
            if ((step.prepend_always || (step.prepend_first && first)) &&
                replaced.compare(0, step.replacement.size(), step.replacement) != 0)
              replaced.insert(0, step.replacement);
            if (!step.split) {
              next.push_back(std::move(replaced));
              break;
            }
            // MergedWithNext on the replacement character: each piece starts at one.
            size_t begin = 0;
            for (size_t found; (found = replaced.find(step.replacement, begin + 1)) != std::string::npos;) {
              next.push_back(replaced.substr(begin, found - begin));
              begin = found;
            }
            if (begin < replaced.size()) next.push_back(replaced.substr(begin));
            break;
          }
        }
      }
      pieces.swap(next);
    }
  }

  // Cuts `piece` at the matches of `pattern` and appends the parts to `out`.
  static void split(const SplitPattern& pattern, SplitBehavior behavior, std::string_view piece, DecodedText& decoded,
                    std::vector<std::string>& out) {
    decoded.assign(piece);
    const size_t first_out = out.size();
    bool previous_was_match = false;
    const auto emit = [&](size_t begin, size_t end, bool is_match) {
      const std::string_view part = decoded.slice(begin, end);
      const bool can_merge = out.size() > first_out;
      switch (behavior) {
        case SplitBehavior::isolated: out.emplace_back(part); break;
        case SplitBehavior::removed:
          if (!is_match) out.emplace_back(part);
          break;
        case SplitBehavior::merged_with_previous:
          if (is_match && can_merge && !previous_was_match) out.back() += part;
          else out.emplace_back(part);
          break;
        case SplitBehavior::merged_with_next:
          if (!is_match && can_merge && previous_was_match) out.back() += part;
          else out.emplace_back(part);
          break;
        case SplitBehavior::contiguous:
          if (is_match && can_merge && previous_was_match) out.back() += part;
          else out.emplace_back(part);
          break;
      }
      previous_was_match = is_match;
    };
    size_t position = 0;
    size_t match_begin = 0, match_end = 0;
    while (position < decoded.size() && pattern.find(decoded, position, match_begin, match_end)) {
      if (match_begin > position) emit(position, match_begin, false);
      emit(match_begin, match_end, true);
      position = match_end;
    }
    if (position < decoded.size()) emit(position, decoded.size(), false);
  }

 private:
  enum class Kind { split, byte_level, metaspace };
  struct Step {
    Kind kind = Kind::split;
    std::shared_ptr<const SplitPattern> pattern;  // split, or byte_level's regex (may be null)
    SplitBehavior behavior = SplitBehavior::isolated;
    bool add_prefix_space = false;
    std::string replacement;
    bool prepend_always = false, prepend_first = false, split = false;
  };
  std::vector<Step> steps_;
};

}  // namespace llmpp::tokenizer
