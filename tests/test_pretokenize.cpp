// Pre-tokenizer scanners against an independent regex engine: tests/data/pretokenize_splits.json
// holds the pieces that Python's `regex` module (leftmost-first like Oniguruma, \p{..} from
// Unicode 15) cuts from the vocab test strings and extra hard cases, for the GPT-2, Llama 3,
// Qwen2 and DeepSeek LLM patterns (scripts/reference/gen_pretokenize.py).
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmpp/tokenizer/byte_level.hpp"
#include "llmpp/tokenizer/pretokenize.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"
#include "test_util.hpp"

namespace llmpp::tokenizer {
namespace {

PreTokenizer pre_tokenizer_named(const std::string& name) {
  PreTokenizer pre_tokenizer;
  if (name == "gpt2") {
    pre_tokenizer.add_split(SplitPattern::parse(SplitPattern::kGpt2, "test"), SplitBehavior::isolated);
  } else if (name == "llama3") {
    pre_tokenizer.add_split(SplitPattern::parse(SplitPattern::kLlama3, "test"), SplitBehavior::isolated);
  } else if (name == "qwen2") {
    pre_tokenizer.add_split(SplitPattern::parse(SplitPattern::kQwen2, "test"), SplitBehavior::isolated);
  } else if (name == "deepseek-llm") {
    for (const std::string& regex : deepseek_llm_split_regexes())
      pre_tokenizer.add_split(SplitPattern::parse(regex, "test"), SplitBehavior::isolated);
  }
  return pre_tokenizer;
}

std::vector<std::string> pieces_of(const PreTokenizer& pre_tokenizer, std::string_view text) {
  std::vector<std::string> pieces;
  pre_tokenizer.apply(text, true, pieces);
  return pieces;
}

TEST(PreTokenize, MatchesReferenceRegexEngine) {
  const nlohmann::json golden = nlohmann::json::parse(read_text_file(test::data_path("pretokenize_splits.json")));
  std::map<std::string, std::pair<int, int>> passed_total;  // pattern -> (passed, total)
  std::map<std::string, PreTokenizer> pre_tokenizers;
  for (const auto& test_case : golden.at("cases")) {
    const std::string pattern = test_case.at("pattern");
    const std::string text = test_case.at("text");
    const std::vector<std::string> expected = test_case.at("pieces");
    if (!pre_tokenizers.count(pattern)) pre_tokenizers.emplace(pattern, pre_tokenizer_named(pattern));
    const std::vector<std::string> got = pieces_of(pre_tokenizers.at(pattern), text);
    auto& [passed, total] = passed_total[pattern];
    ++total;
    if (got == expected) {
      ++passed;
      continue;
    }
    std::string got_joined, expected_joined;
    for (const auto& piece : got) got_joined += "[" + piece + "]";
    for (const auto& piece : expected) expected_joined += "[" + piece + "]";
    ADD_FAILURE() << pattern << " on '" << text << "'\n  got      " << got_joined << "\n  expected " << expected_joined;
  }
  for (const auto& [pattern, counts] : passed_total)
    std::printf("[ splits ] %-14s %d/%d match the regex module\n", pattern.c_str(), counts.first, counts.second);
  EXPECT_EQ(passed_total.size(), 4u);
}

TEST(PreTokenize, UnknownPatternNamesIt) {
  try {
    SplitPattern::parse("(?<=x)y+", "tokenizer.json");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("(?<=x)y+"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(PreTokenize, ClassRunForms) {
  PreTokenizer newline;
  newline.add_split(SplitPattern::parse("[\\r\\n]", "test"), SplitBehavior::isolated);
  EXPECT_EQ(pieces_of(newline, "a\r\nb"), (std::vector<std::string>{"a", "\r", "\n", "b"}));

  PreTokenizer trailing;
  trailing.add_split(SplitPattern::parse("\\s+$", "test"), SplitBehavior::isolated);
  EXPECT_EQ(pieces_of(trailing, "a  b   "), (std::vector<std::string>{"a  b", "   "}));

  PreTokenizer removed;
  removed.add_split(SplitPattern::parse("[,]", "test"), SplitBehavior::removed);
  EXPECT_EQ(pieces_of(removed, "a,b,,c"), (std::vector<std::string>{"a", "b", "c"}));

  PreTokenizer digits;
  digits.add_digits(true);
  EXPECT_EQ(pieces_of(digits, "ab12c"), (std::vector<std::string>{"ab", "1", "2", "c"}));
  PreTokenizer digit_runs;
  digit_runs.add_digits(false);
  EXPECT_EQ(pieces_of(digit_runs, "ab12c"), (std::vector<std::string>{"ab", "12", "c"}));
}

TEST(PreTokenize, Metaspace) {
  const std::string space = "\xE2\x96\x81";
  PreTokenizer metaspace;
  metaspace.add_metaspace(space, true, false, true);
  EXPECT_EQ(pieces_of(metaspace, "Hello  world"),
            (std::vector<std::string>{space + "Hello", space, space + "world"}));
  PreTokenizer no_split;
  no_split.add_metaspace(space, false, false, false);
  EXPECT_EQ(pieces_of(no_split, "a b"), (std::vector<std::string>{"a" + space + "b"}));
}

TEST(PreTokenize, NormalizerPrependReplace) {
  Normalizer normalizer;
  normalizer.add_prepend("\xE2\x96\x81");
  normalizer.add_replace(" ", "\xE2\x96\x81");
  std::string text = "a b";
  normalizer.apply(text);
  EXPECT_EQ(text, "\xE2\x96\x81" "a" "\xE2\x96\x81" "b");
  std::string empty;
  normalizer.apply(empty);
  EXPECT_EQ(empty, "");  // Prepend leaves empty text alone
}

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100.. in order
// (space is 'Ġ' U+0120, newline 'Ċ' U+010A, 0xAD the last one, U+0143).
TEST(PreTokenize, ByteLevelAlphabet) {
  const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::instance();
  EXPECT_EQ(alphabet.encode(static_cast<uint8_t>('A')), "A");
  EXPECT_EQ(alphabet.encode(static_cast<uint8_t>(' ')), "\xC4\xA0");
  EXPECT_EQ(alphabet.encode(static_cast<uint8_t>('\n')), "\xC4\x8A");
  EXPECT_EQ(alphabet.encode(0x00), "\xC4\x80");
  EXPECT_EQ(alphabet.encode(0xAD), "\xC5\x83");
  EXPECT_EQ(alphabet.encode(0xFF), "\xC3\xBF");
  std::string all_bytes, encoded, decoded;
  for (int byte = 0; byte < 256; ++byte) all_bytes += static_cast<char>(byte);
  alphabet.encode(all_bytes, encoded);
  ASSERT_TRUE(alphabet.decode(encoded, decoded));
  EXPECT_EQ(decoded, all_bytes);
  std::string out;
  EXPECT_FALSE(alphabet.decode("\xE2\x96\x81", out));  // '▁' is not in the alphabet
}

// Invalid UTF-8 becomes pieces of "other" symbols: every byte is kept, in order.
TEST(PreTokenize, InvalidUtf8KeepsEveryByte) {
  const std::string text = std::string("ab\x80\xC3 \xFF\xFE") + '\0' + "cd\xE2\x82 \xED\xA0\x80 end";
  for (const char* name : {"gpt2", "llama3", "qwen2", "deepseek-llm"}) {
    std::string joined;
    for (const std::string& piece : pieces_of(pre_tokenizer_named(name), text)) joined += piece;
    EXPECT_EQ(joined, text) << name;
  }
}

// Linear time on inputs that would make a naive scanner quadratic: long runs of white space
// not at the end (\s+(?!\S), \s+$ retried at every start), long words, long digit runs.
// Time is CPU time of this process, so that a busy machine does not fail the test.
TEST(PreTokenize, LongRunsInBoundedTime) {
  const size_t n = 1 << 20;  // 1 MiB per run
  const std::vector<std::string> texts = {std::string(n, ' ') + "x", std::string(n, 'a'), std::string(n, '7'),
                                          std::string(n, '\n') + " x", std::string(n, '!')};
  for (const char* name : {"gpt2", "llama3", "qwen2", "deepseek-llm"}) {
    const PreTokenizer pre_tokenizer = pre_tokenizer_named(name);
    for (const std::string& text : texts) {
      const std::clock_t start = std::clock();
      size_t total = 0;
      for (const std::string& piece : pieces_of(pre_tokenizer, text)) total += piece.size();
      const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
      EXPECT_EQ(total, text.size()) << name;
      EXPECT_LT(seconds, 5.0) << name << " took " << seconds << " s on a " << text.size() << "-byte run";
    }
  }
}

}  // namespace
}  // namespace llmpp::tokenizer
