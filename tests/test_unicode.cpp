// UTF-8 decoding (RFC 3629 well-formedness, invalid bytes kept one by one) and the generated
// Unicode property tables, checked against code points whose properties the Unicode
// Character Database states (UnicodeData.txt / PropList.txt, Unicode 15).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmpp/tokenizer/unicode.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"
#include "test_util.hpp"

namespace llmpp::tokenizer {
namespace {

std::vector<uint32_t> decode_all(std::string_view text) {
  std::vector<uint32_t> code_points;
  for (size_t offset = 0; offset < text.size();) {
    const DecodedCodePoint decoded = decode_utf8(text, offset);
    EXPECT_GE(decoded.length, 1u);
    code_points.push_back(decoded.code_point);
    offset += decoded.length;
  }
  return code_points;
}

constexpr uint32_t invalid(uint8_t byte) { return invalid_byte_base + byte; }

TEST(Utf8, DecodesWellFormedSequences) {
  EXPECT_EQ(decode_all("A\xC3\xA9\xE2\x82\xAC\xF0\x9F\xA6\x99"), (std::vector<uint32_t>{0x41, 0xE9, 0x20AC, 0x1F999}));
  EXPECT_EQ(decode_all(std::string("\0", 1)), (std::vector<uint32_t>{0}));
  EXPECT_EQ(decode_all("\xF4\x8F\xBF\xBF"), (std::vector<uint32_t>{0x10FFFF}));
}

// Each ill-formed byte is one symbol of its own; the bytes after it decode normally.
TEST(Utf8, InvalidBytesBecomeSingleSymbols) {
  EXPECT_EQ(decode_all("\x80"), (std::vector<uint32_t>{invalid(0x80)}));                          // lone continuation
  EXPECT_EQ(decode_all("\xC3"), (std::vector<uint32_t>{invalid(0xC3)}));                          // truncated at end
  EXPECT_EQ(decode_all("\xC3x"), (std::vector<uint32_t>{invalid(0xC3), 'x'}));                    // missing continuation
  EXPECT_EQ(decode_all("\xC0\xAF"), (std::vector<uint32_t>{invalid(0xC0), invalid(0xAF)}));      // overlong '/'
  EXPECT_EQ(decode_all("\xE0\x80\xAF"), (std::vector<uint32_t>{invalid(0xE0), invalid(0x80), invalid(0xAF)}));
  EXPECT_EQ(decode_all("\xED\xA0\x80"), (std::vector<uint32_t>{invalid(0xED), invalid(0xA0), invalid(0x80)}));  // surrogate
  EXPECT_EQ(decode_all("\xF4\x90\x80\x80").front(), invalid(0xF4));                               // above U+10FFFF
  EXPECT_EQ(decode_all("\xFF\xFE"), (std::vector<uint32_t>{invalid(0xFF), invalid(0xFE)}));
  EXPECT_EQ(decode_all("\xE2\x82"), (std::vector<uint32_t>{invalid(0xE2), invalid(0x82)}));
}

TEST(Utf8, EncodeRoundTripsEveryCodePointAndInvalidByte) {
  std::string text;
  for (uint32_t code_point = 0; code_point <= 0x10FFFF; code_point += (code_point < 0x3000 ? 1 : 97)) {
    if (code_point >= 0xD800 && code_point <= 0xDFFF) continue;
    text.clear();
    append_utf8(code_point, text);
    const DecodedCodePoint decoded = decode_utf8(text, 0);
    ASSERT_EQ(decoded.code_point, code_point);
    ASSERT_EQ(decoded.length, text.size());
  }
  for (int byte = 0x80; byte < 0x100; ++byte) {
    text.clear();
    append_utf8(invalid(static_cast<uint8_t>(byte)), text);
    EXPECT_EQ(text, std::string(1, static_cast<char>(byte)));
  }
}

TEST(UnicodeTables, CoverAllCodePointsInOrder) {
  uint32_t next = 0;
  for (const auto& range : unicode_tables::category_ranges) {
    ASSERT_EQ(range.first, next);
    ASSERT_LE(range.first, range.last);
    next = range.last + 1;
  }
  EXPECT_EQ(next, 0x110000u);
}

TEST(UnicodeTables, GeneralCategories) {
  struct Expected {
    uint32_t code_point;
    UnicodeCategory category;
  };
  const Expected cases[] = {
      {'A', UnicodeCategory::letter},      {'z', UnicodeCategory::letter},       {0xAA, UnicodeCategory::letter},   // ª Lo
      {0xB5, UnicodeCategory::letter},     {0x01C5, UnicodeCategory::letter},    {0x02B0, UnicodeCategory::letter}, // Lt, Lm
      {0x4E00, UnicodeCategory::letter},   {0x9FFF, UnicodeCategory::letter},    {0xAC00, UnicodeCategory::letter}, // CJK, Hangul ranges
      {0x20000, UnicodeCategory::letter},  {0x0301, UnicodeCategory::mark},      {0x0903, UnicodeCategory::mark},   // Mc
      {0x20DD, UnicodeCategory::mark},     {'0', UnicodeCategory::number},       {0x0663, UnicodeCategory::number}, // Me, Arabic-Indic 3
      {0x216B, UnicodeCategory::number},   {0xBD, UnicodeCategory::number},      {0xB2, UnicodeCategory::number},   // Nl, No
      {'!', UnicodeCategory::punctuation}, {'_', UnicodeCategory::punctuation},  {0x2018, UnicodeCategory::punctuation},
      {0x3002, UnicodeCategory::punctuation}, {'$', UnicodeCategory::symbol},    {'+', UnicodeCategory::symbol},
      {'^', UnicodeCategory::symbol},      {0x1F999, UnicodeCategory::symbol},   {0x20AC, UnicodeCategory::symbol},
      {' ', UnicodeCategory::separator},   {0xA0, UnicodeCategory::separator},   {0x2028, UnicodeCategory::separator},
      {0x3000, UnicodeCategory::separator}, {'\n', UnicodeCategory::other},      {0xAD, UnicodeCategory::other},    // Cf
      {0x200D, UnicodeCategory::other},    {0xE000, UnicodeCategory::other},     {0xD800, UnicodeCategory::other},  // Co, Cs
      {0x0378, UnicodeCategory::other},    {0x10FFFF, UnicodeCategory::other},   {invalid(0x80), UnicodeCategory::other},
  };
  for (const Expected& expected : cases)
    EXPECT_EQ(static_cast<int>(unicode_category(expected.code_point)), static_cast<int>(expected.category))
        << "U+" << std::hex << expected.code_point;
}

// \s is the White_Space property: 0009..000D, 0020, 0085, 00A0, 1680, 2000..200A, 2028,
// 2029, 202F, 205F, 3000, and nothing else (not U+001C..U+001F, not U+200B, not U+FEFF).
TEST(UnicodeTables, WhiteSpace) {
  const std::vector<uint32_t> white_space = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2005,
                                             0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  size_t count = 0;
  for (uint32_t code_point = 0; code_point <= 0x10FFFF; ++code_point) {
    const bool expected = std::find(white_space.begin(), white_space.end(), code_point) != white_space.end() ||
                          (code_point >= 0x2000 && code_point <= 0x200A);
    ASSERT_EQ(is_white_space(code_point), expected) << "U+" << std::hex << code_point;
    count += expected;
  }
  EXPECT_EQ(count, 25u);
  EXPECT_FALSE(is_white_space(invalid(0x20)));
}

// NFC against the Unicode Consortium's NormalizationTest.txt (a sample in tests/data, see
// scripts/reference/gen_nfc_cases.py).
TEST(Nfc, MatchesNormalizationTest) {
  const nlohmann::json golden = nlohmann::json::parse(read_text_file(test::data_path("nfc_cases.json")));
  size_t passed = 0, total = 0;
  for (const auto& test_case : golden.at("cases")) {
    const std::string input = test_case[0], expected = test_case[1];
    ++total;
    const std::string got = to_nfc(input);
    if (got == expected) ++passed;
    else if (total - passed <= 10) ADD_FAILURE() << "NFC of case " << total << " differs";
  }
  std::printf("[ nfc ] %zu/%zu NormalizationTest cases\n", passed, total);
  EXPECT_EQ(passed, total);
}

TEST(Nfc, KeepsInvalidBytesAndAscii) {
  EXPECT_EQ(to_nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(to_nfc("e\xCC\x81"), "\xC3\xA9");                          // e + U+0301 -> é
  EXPECT_EQ(to_nfc("\x80" "e\xCC\x81\xFF"), "\x80\xC3\xA9\xFF");   // invalid bytes stay, in place
  EXPECT_EQ(to_nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");    // Hangul L + V -> 가
  // A long run of alternating marks U+0323 (class 220) and U+0301 (230) is reordered in
  // O(n log n): a + U+0323 -> U+1EA1, then the other 220s, then the 230s.
  std::string many_marks = "a";
  for (int i = 0; i < (1 << 18); ++i) many_marks += (i % 2) ? "\xCC\x81" : "\xCC\xA3";
  const std::string normalized = to_nfc(many_marks);
  EXPECT_EQ(normalized.size(), many_marks.size());
  EXPECT_EQ(normalized.substr(0, 5), "\xE1\xBA\xA1\xCC\xA3");
  EXPECT_EQ(normalized.substr(normalized.size() - 2), "\xCC\x81");
}

}  // namespace
}  // namespace llmpp::tokenizer
