// Tokenizer: added/special tokens, BOS/EOS, decode, the streaming decoder, and robustness
// (invalid UTF-8, NUL bytes, round trips, a 10 MB single word in bounded time).
#include <chrono>
#include <random>

#include "llmpp/tokenizer/sentencepiece_model.hpp"
#include "llmpp/tokenizer/spm.hpp"
#include "llmpp/tokenizer/streaming.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"
#include "test_util.hpp"

namespace llmpp::tokenizer {
namespace {

const std::string kSpace(kSpmSpace);

// A character-level SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens (3..258),
// '▁' (259), the letters a..z (260..285) and the added tokens' pieces (286...).
Vocab make_vocab(const std::vector<std::string>& added) {
  Vocab vocab;
  vocab.tokens = {"<unk>", "<s>", "</s>"};
  vocab.types = {TokenType::unknown, TokenType::control, TokenType::control};
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    vocab.tokens.push_back(name);
    vocab.types.push_back(TokenType::byte);
  }
  vocab.tokens.push_back(kSpace);
  vocab.types.push_back(TokenType::normal);
  for (char c = 'a'; c <= 'z'; ++c) {
    vocab.tokens.push_back(std::string(1, c));
    vocab.types.push_back(TokenType::normal);
  }
  for (const std::string& piece : added) {
    vocab.tokens.push_back(piece);
    vocab.types.push_back(TokenType::user_defined);
  }
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.build_index("test");
  return vocab;
}

constexpr int32_t kSpaceId = 259;
int32_t letter(char c) { return 260 + (c - 'a'); }
int32_t byte_token(uint8_t b) { return 3 + b; }

Tokenizer make_tokenizer(const std::vector<AddedToken>& added, bool add_bos = true, bool add_eos = false) {
  std::vector<std::string> pieces;
  for (const AddedToken& token : added) pieces.push_back(token.content);
  Vocab vocab = make_vocab(pieces);
  TokenizerOptions options;
  options.strip_leading_space_after_bos = true;
  options.add_bos = add_bos;
  options.add_eos = add_eos;
  options.added_tokens = added;
  for (size_t i = 0; i < options.added_tokens.size(); ++i) options.added_tokens[i].id = 286 + static_cast<int32_t>(i);
  auto encoder = std::make_unique<SpmEncoder>(vocab, SpmOptions{});
  return Tokenizer(std::move(vocab), std::move(encoder), std::move(options));
}

AddedToken added(const std::string& content, bool special, bool lstrip = false, bool rstrip = false) {
  AddedToken token;
  token.content = content;
  token.special = special;
  token.lstrip = lstrip;
  token.rstrip = rstrip;
  return token;
}

TEST(Tokenizer, BosEosFollowThePostProcessor) {
  const Tokenizer with_both = make_tokenizer({}, true, true);
  EXPECT_EQ(with_both.encode("ab"), (std::vector<int32_t>{1, kSpaceId, letter('a'), letter('b'), 2}));
  EXPECT_EQ(with_both.encode("ab", /*add_special=*/false), (std::vector<int32_t>{kSpaceId, letter('a'), letter('b')}));
  EXPECT_EQ(with_both.encode(""), (std::vector<int32_t>{1, 2}));
  EXPECT_TRUE(with_both.is_eog(2));
  EXPECT_FALSE(with_both.is_eog(1));
}

TEST(Tokenizer, SpecialTokensOnlyWhenAsked) {
  const Tokenizer tokenizer = make_tokenizer({added("<|end|>", true)});
  const int32_t end = 286;
  // By default a user's "<|end|>" is text ('<', '|' have no pieces: byte fallback).
  const std::vector<int32_t> plain = tokenizer.encode("a<|end|>", false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), end), 0);
  EXPECT_EQ(plain.front(), kSpaceId);
  // With parse_special it is one token, and the text after it gets the dummy prefix again.
  EXPECT_EQ(tokenizer.encode("a<|end|>b", false, true), (std::vector<int32_t>{kSpaceId, letter('a'), end, kSpaceId, letter('b')}));
  EXPECT_EQ(tokenizer.encode("<|end|>", true, true), (std::vector<int32_t>{1, end}));
  // decode skips special tokens unless asked.
  EXPECT_EQ(tokenizer.decode({1, kSpaceId, letter('a'), end}), "a");
  EXPECT_EQ(tokenizer.decode({1, kSpaceId, letter('a'), end}, false), "<s>a<|end|>");
}

TEST(Tokenizer, NonSpecialAddedTokensAlwaysMatchLongestFirst) {
  const Tokenizer tokenizer = make_tokenizer({added("xy", false), added("xyz", false)});
  const int32_t xy = 286, xyz = 287;
  EXPECT_EQ(tokenizer.encode("xyzxy", false), (std::vector<int32_t>{xyz, xy}));
  EXPECT_EQ(tokenizer.encode("axyz", false), (std::vector<int32_t>{kSpaceId, letter('a'), xyz}));
  EXPECT_EQ(tokenizer.decode({xyz, xy}), "xyzxy");
}

TEST(Tokenizer, LstripRstripSwallowWhitespace) {
  const Tokenizer tokenizer = make_tokenizer({added("<m>", true, /*lstrip=*/true, /*rstrip=*/true)});
  const int32_t mask = 286;
  EXPECT_EQ(tokenizer.encode("a  <m>  b", false, true),
            (std::vector<int32_t>{kSpaceId, letter('a'), mask, kSpaceId, letter('b')}));
  const Tokenizer plain = make_tokenizer({added("<m>", true)});
  EXPECT_EQ(plain.encode("a <m> b", false, true),
            (std::vector<int32_t>{kSpaceId, letter('a'), kSpaceId, mask, kSpaceId, kSpaceId, letter('b')}));
}

TEST(Tokenizer, RejectsBadAddedTokens) {
  Vocab vocab = make_vocab({});
  TokenizerOptions options;
  options.added_tokens = {added("<x>", true)};
  options.added_tokens[0].id = 100000;
  EXPECT_THROW(Tokenizer(vocab, std::make_unique<SpmEncoder>(vocab, SpmOptions{}), options), ConfigError);
}

TEST(Utf8, ValidPrefixAndReplacement) {
  auto run = [](const std::string& bytes, bool final, size_t* consumed = nullptr) {
    std::string out;
    const size_t n = append_valid_utf8(bytes, final, out);
    if (consumed) *consumed = n;
    return out;
  };
  const std::string fffd(kReplacementCharacter);
  size_t consumed = 0;
  EXPECT_EQ(run("a\xC3\xA9", false), "a\xC3\xA9");
  EXPECT_EQ(run("a\xF0\x9F\xA6", false, &consumed), "a");  // incomplete: held back
  EXPECT_EQ(consumed, 1u);
  EXPECT_EQ(run("a\xF0\x9F\xA6", true), "a" + fffd);        // final: one U+FFFD for the subpart
  EXPECT_EQ(run("\x80", false), fffd);                     // lone continuation byte
  EXPECT_EQ(run("\xC3" "a", false), fffd + "a");           // cut short by an ASCII byte
  EXPECT_EQ(run("\xE0\x80", false), fffd + fffd);          // overlong: E0 must be followed by A0..BF
  EXPECT_EQ(run("\xED\xA0\x80", false), fffd + fffd + fffd);  // UTF-16 surrogate
  EXPECT_EQ(run("\xF4\x90\x80\x80", false), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(run("\xFF\xC0\xC1", false), fffd + fffd + fffd);
  EXPECT_EQ(run(std::string("\0", 1), false), std::string("\0", 1));
}

TEST(StreamingDecoder, HoldsMultiByteCharactersUntilComplete) {
  const Tokenizer tokenizer = make_tokenizer({});
  StreamingDecoder stream(tokenizer);
  // "a 🦙é": '🦙' = F0 9F A6 99 and 'é' = C3 A9 arrive as byte tokens.
  EXPECT_EQ(stream.push(1), "");
  EXPECT_EQ(stream.push(kSpaceId), "");  // the dummy prefix's space is dropped
  EXPECT_EQ(stream.push(letter('a')), "a");
  EXPECT_EQ(stream.push(kSpaceId), " ");
  EXPECT_EQ(stream.push(byte_token(0xF0)), "");
  EXPECT_EQ(stream.push(byte_token(0x9F)), "");
  EXPECT_EQ(stream.push(byte_token(0xA6)), "");
  EXPECT_EQ(stream.pending_bytes(), 3u);
  EXPECT_EQ(stream.push(byte_token(0x99)), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(stream.push(byte_token(0xC3)), "");
  EXPECT_EQ(stream.push(byte_token(0xA9)), "\xC3\xA9");
  EXPECT_EQ(stream.push(2), "");  // EOS skipped
  EXPECT_EQ(stream.flush(), "");
  // Without BOS the stream is a continuation: its first space is real.
  EXPECT_EQ(stream.push(kSpaceId), " ");
  EXPECT_EQ(stream.push(letter('b')), "b");
}

TEST(StreamingDecoder, ReplacesInvalidBytesOnceProven) {
  const Tokenizer tokenizer = make_tokenizer({});
  const std::string fffd(kReplacementCharacter);
  StreamingDecoder stream(tokenizer);
  EXPECT_EQ(stream.push(byte_token(0xE2)), "");              // could still become a character
  EXPECT_EQ(stream.push(letter('a')), fffd + "a");           // now proven invalid
  EXPECT_EQ(stream.push(byte_token(0x80)), fffd);            // lone continuation: invalid at once
  EXPECT_EQ(stream.push(byte_token(0xF0)), "");
  EXPECT_EQ(stream.flush(), fffd);                           // unfinished at the end
  // Streaming gives the same text as decode for valid UTF-8, whatever the split.
  const std::vector<int32_t> ids = tokenizer.encode("ab \xE4\xB8\xAD\xF0\x9F\xA6\x99 c\xC3\xA9");
  std::string streamed;
  for (int32_t id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  EXPECT_EQ(streamed, tokenizer.decode(ids));
  EXPECT_EQ(streamed, "ab \xE4\xB8\xAD\xF0\x9F\xA6\x99 c\xC3\xA9");
}

class Llama2Tokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    LLMPP_REQUIRE_SHARED("tokenizers/llama2-spm/tokenizer.model");
    tokenizer_ = std::make_unique<Tokenizer>(load_sentencepiece_model(test::shared_path("tokenizers/llama2-spm/tokenizer.model")));
  }
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(Llama2Tokenizer, RoundTripsArbitraryBytes) {
  const std::vector<std::string> texts = {
      "Hello world", " Hello  world ", "\n\n\tcode(x) { return x*2; }\n", "Führer ½ 中文 🦙 Привет",
      std::string("nul\0byte\0", 9), "\xFF\xFE invalid \x80\x80 lone \xC3", "\xED\xA0\x80 surrogate", "   ", "a"};
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tokenizer_->encode(text);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), 1);
    // Exact up to the dummy prefix, which decode removes again.
    EXPECT_EQ(tokenizer_->decode(ids), text) << "text '" << text << "'";
  }
}

TEST_F(Llama2Tokenizer, RandomBytesRoundTrip) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::string text(1 + rng() % 64, '\0');
    for (char& c : text) c = static_cast<char>(rng());
    EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(text)), text);
  }
}

double seconds_to_encode(const Tokenizer& tokenizer, const std::string& text, size_t* n_ids) {
  const auto start = std::chrono::steady_clock::now();
  *n_ids = tokenizer.encode(text, false).size();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A 10 MB "word" (no spaces) is one BPE sequence: the heap-based merge keeps it O(n log n).
// A quadratic encoder would need hours; the bound below (60 s) only catches that, the
// timings themselves are reported by bench_tokenizer.
TEST_F(Llama2Tokenizer, TenMegabyteWordInBoundedTime) {
  std::mt19937 rng(5);
  std::string word(10u << 20, 'a');
  for (char& c : word) c = static_cast<char>('a' + rng() % 26);
  size_t n_ids = 0;
  const double seconds = seconds_to_encode(*tokenizer_, word, &n_ids);
  std::printf("10 MB single word: %zu ids in %.2f s\n", n_ids, seconds);
  EXPECT_GT(n_ids, word.size() / 8);
  EXPECT_LT(seconds, 60.0);

  std::string small(1u << 20, 'a');
  for (char& c : small) c = static_cast<char>('a' + rng() % 26);
  size_t n_small = 0;
  const double small_seconds = seconds_to_encode(*tokenizer_, small, &n_small);
  std::printf("1 MB single word: %.3f s, 10x input takes %.1fx the time\n", small_seconds, seconds / small_seconds);
  EXPECT_LT(seconds / small_seconds, 40.0);  // loose: a shared machine; quadratic would be ~100
}

}  // namespace
}  // namespace llmpp::tokenizer
