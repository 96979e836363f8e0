// SentencePiece-BPE: the merge order, byte fallback and normalizer on small hand-built
// vocabularies (expected ids worked out by hand from sentencepiece's rules), the fast encoder
// against a textbook O(n^2) implementation on the Llama 2 vocabulary, and the tokenizer.model
// / tokenizer.bin readers on hostile bytes.
#include <cstring>
#include <fstream>
#include <random>
#include <tuple>

#include "llmpp/tokenizer/llama2c_tokenizer.hpp"
#include "llmpp/tokenizer/sentencepiece_model.hpp"
#include "llmpp/tokenizer/spm.hpp"
#include "test_util.hpp"

namespace llmpp::tokenizer {
namespace {

const std::string kSpace(kSpmSpace);

// The merge engine alone, on the classic "aaabdaaabac" example: aa (rank 0) merges left to
// right, then ab (1), then aa + ab = aaab (2).
TEST(BpeMerge, MergesByRankThenLeftmost) {
  const std::string text = "aaabdaaabac";
  std::vector<BpeSymbol> symbols;
  split_utf8_symbols(text, symbols);
  bpe_merge(text, symbols, [](std::string_view left, std::string_view right) -> std::optional<int> {
    const std::string pair = std::string(left) + std::string(right);
    if (pair == "aa") return 0;
    if (pair == "ab") return 1;
    if (pair == "aaab") return 2;
    return std::nullopt;
  });
  std::vector<std::string> pieces;
  for (int32_t i = 0; i != -1; i = symbols[i].next) pieces.push_back(text.substr(symbols[i].begin, symbols[i].length));
  EXPECT_EQ(pieces, (std::vector<std::string>{"aaab", "d", "aaab", "a", "c"}));

  // Malformed UTF-8 splits into single bytes; a valid character stays whole.
  split_utf8_symbols("\xC3\xA9\xC3" "a\xE2\x82", symbols);
  ASSERT_EQ(symbols.size(), 5u);
  EXPECT_EQ(symbols[0].length, 2u);
  EXPECT_EQ(symbols[4].length, 1u);
}

// Appends the byte tokens <0x00> .. <0xNN> for the first n_bytes byte values.
void add_byte_pieces(Vocab& vocab, int n_bytes) {
  for (int byte = 0; byte < n_bytes; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    vocab.tokens.push_back(name);
    vocab.types.push_back(TokenType::byte);
  }
}

// <unk>, <s>, </s>, the 256 byte tokens (ids 3..258), then `pieces` with their scores.
Vocab make_vocab(const std::vector<std::pair<std::string, float>>& pieces) {
  Vocab vocab;
  vocab.tokens = {"<unk>", "<s>", "</s>"};
  vocab.types = {TokenType::unknown, TokenType::control, TokenType::control};
  add_byte_pieces(vocab, 256);
  vocab.scores.assign(vocab.tokens.size(), 0.0f);
  for (const auto& [piece, score] : pieces) {
    vocab.tokens.push_back(piece);
    vocab.types.push_back(TokenType::normal);
    vocab.scores.push_back(score);
  }
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.build_index("test");
  return vocab;
}

constexpr int32_t kFirstPiece = 259;

std::vector<int32_t> encode(const Vocab& vocab, const std::string& text, SpmOptions options = SpmOptions{}) {
  SpmEncoder encoder(vocab, options);
  std::vector<int32_t> ids;
  encoder.encode(text, /*at_start=*/true, ids);
  return ids;
}

TEST(SpmEncoder, MergesHighestScoreFirst) {
  // 259 ▁, 260 a, 261 b, 262 ab, 263 ▁a, 264 ▁ab
  const Vocab vocab = make_vocab({{kSpace, -1}, {"a", -2}, {"b", -3}, {"ab", -0.5f}, {kSpace + "a", -0.7f}, {kSpace + "ab", -0.2f}});
  // "▁ab": ab (-0.5) beats ▁a (-0.7), then ▁ + ab = ▁ab.
  EXPECT_EQ(encode(vocab, "ab"), (std::vector<int32_t>{264}));
  // "▁ba": no pair is a piece.
  EXPECT_EQ(encode(vocab, "ba"), (std::vector<int32_t>{259, 261, 260}));
  // Without ▁ab the order decides: ab first gives ▁ ab, ▁a first gives ▁a b.
  const Vocab ab_first = make_vocab({{kSpace, -1}, {"a", -2}, {"b", -3}, {"ab", -0.5f}, {kSpace + "a", -0.7f}});
  EXPECT_EQ(encode(ab_first, "ab"), (std::vector<int32_t>{259, 262}));
  const Vocab space_a_first = make_vocab({{kSpace, -1}, {"a", -2}, {"b", -3}, {"ab", -0.9f}, {kSpace + "a", -0.1f}});
  EXPECT_EQ(encode(space_a_first, "ab"), (std::vector<int32_t>{263, 261}));
}

TEST(SpmEncoder, TiesGoToTheLeftmostPair) {
  const Vocab vocab = make_vocab({{"a", -1}, {"aa", -0.5f}});
  SpmOptions no_prefix;
  no_prefix.add_dummy_prefix = false;
  EXPECT_EQ(encode(vocab, "aaa", no_prefix), (std::vector<int32_t>{260, 259}));  // aa a, not a aa
}

TEST(SpmEncoder, ByteFallbackAndUnknown) {
  const Vocab vocab = make_vocab({{kSpace, -1}, {"a", -2}});
  // 'é' = C3 A9 is not a piece: its bytes' tokens.
  EXPECT_EQ(encode(vocab, "a\xC3\xA9"), (std::vector<int32_t>{259, 260, 3 + 0xC3, 3 + 0xA9}));
  // Invalid UTF-8, a lone continuation byte and NUL go through the byte fallback too.
  EXPECT_EQ(encode(vocab, std::string("\xFF\x80\0", 3)), (std::vector<int32_t>{259, 3 + 0xFF, 3 + 0x80, 3 + 0x00}));

  // Without byte tokens, a run of unknown characters is one <unk> (sentencepiece, HF fuse_unk).
  Vocab no_bytes;
  no_bytes.tokens = {"<unk>", kSpace, "a"};
  no_bytes.types = {TokenType::unknown, TokenType::normal, TokenType::normal};
  no_bytes.scores = {0, -1, -2};
  no_bytes.unk_id = 0;
  no_bytes.build_index("test");
  EXPECT_EQ(encode(no_bytes, "a\xC3\xA9\xC3\xA9" "a"), (std::vector<int32_t>{1, 2, 0, 2}));
}

// Some byte pieces missing: a byte without its piece is <unk> (SentencePiece's PieceToId of
// "<0xNN>"), and without <unk> encoding throws instead of returning id -1 (found by the
// sentencepiece_model fuzz target).
TEST(SpmEncoder, ByteFallbackWithMissingBytePieces) {
  Vocab vocab;
  vocab.tokens = {"<unk>", kSpace, "a"};
  vocab.types = {TokenType::unknown, TokenType::normal, TokenType::normal};
  add_byte_pieces(vocab, 0x80);  // ids 3..130: the ASCII bytes only
  vocab.scores.assign(vocab.tokens.size(), 0.0f);
  vocab.unk_id = 0;
  vocab.build_index("test");
  EXPECT_EQ(encode(vocab, "a\xC3\xA9\t"), (std::vector<int32_t>{1, 2, 0, 0, 3 + '\t'}));
  vocab.unk_id = -1;
  EXPECT_EQ(encode(vocab, "a\t"), (std::vector<int32_t>{1, 2, 3 + '\t'}));
  EXPECT_THROW(encode(vocab, "a\xC3\xA9"), InvalidArgument);
}

TEST(SpmEncoder, Normalizer) {
  const Vocab vocab = make_vocab({{kSpace, -1}});
  SpmOptions llama;  // add_dummy_prefix, spaces kept
  SpmEncoder llama_encoder(vocab, llama);
  EXPECT_EQ(llama_encoder.normalize("  a  b ", true), kSpace + kSpace + kSpace + "a" + kSpace + kSpace + "b" + kSpace);
  EXPECT_EQ(llama_encoder.normalize("a", false), "a");  // not at the start: no dummy prefix
  EXPECT_EQ(llama_encoder.normalize("", true), "");

  SpmOptions collapse;
  collapse.remove_extra_whitespaces = true;
  SpmEncoder collapse_encoder(vocab, collapse);
  EXPECT_EQ(collapse_encoder.normalize("  a   b  ", true), kSpace + "a" + kSpace + "b");
  EXPECT_EQ(collapse_encoder.normalize("   ", true), "");
  EXPECT_EQ(collapse_encoder.normalize("\ta\n", true), kSpace + "\ta\n");  // only ' ' is whitespace
}

TEST(SpmEncoder, DecodeMapsPiecesToBytes) {
  const Tokenizer tokenizer = make_spm_tokenizer(make_vocab({{kSpace, -1}, {"a", -2}, {kSpace + "a", -0.5f}}), SpmOptions{});
  EXPECT_EQ(tokenizer.token_to_piece(kFirstPiece + 2), " a");
  EXPECT_EQ(tokenizer.token_to_piece(3 + 0xC3), "\xC3");
  EXPECT_EQ(tokenizer.token_to_piece(1), "<s>");
  // The dummy prefix's space goes, with or without BOS; later spaces stay.
  EXPECT_EQ(tokenizer.decode({1, kFirstPiece + 2, kFirstPiece + 2}), "a a");
  EXPECT_EQ(tokenizer.decode({kFirstPiece + 2}), "a");
  EXPECT_EQ(tokenizer.decode({1, kFirstPiece + 2}, /*skip_special=*/false), "<s>a");
  EXPECT_THROW(tokenizer.decode({100000}), InvalidArgument);
}

// The textbook algorithm: rescan every adjacent pair after every merge. O(n^2), obviously
// right, and sharing no code with SpmEncoder.
std::vector<int32_t> reference_spm_encode(const Vocab& vocab, const std::string& text) {
  std::string normalized = text.empty() ? "" : kSpace;
  for (char c : text) normalized += c == ' ' ? kSpace : std::string(1, c);
  std::vector<std::string> symbols;
  for (size_t i = 0; i < normalized.size();) {
    size_t length = 1;
    const auto lead = static_cast<uint8_t>(normalized[i]);
    if (lead >= 0xF0) length = 4;
    else if (lead >= 0xE0) length = 3;
    else if (lead >= 0xC0) length = 2;
    symbols.push_back(normalized.substr(i, length));
    i += length;
  }
  auto mergeable = [&](const std::string& piece) {
    const int32_t id = vocab.find(piece);
    return id >= 0 && (vocab.types[id] == TokenType::normal || vocab.types[id] == TokenType::user_defined) ? id : -1;
  };
  while (true) {
    int best = -1;
    float best_score = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const int32_t id = mergeable(symbols[i] + symbols[i + 1]);
      if (id >= 0 && (best < 0 || vocab.scores[id] > best_score)) {
        best = static_cast<int>(i);
        best_score = vocab.scores[id];
      }
    }
    if (best < 0) break;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + best + 1);
  }
  std::vector<int32_t> ids;
  for (const std::string& symbol : symbols) {
    const int32_t id = mergeable(symbol);
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    for (unsigned char c : symbol) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", c);
      ids.push_back(vocab.find(name));
    }
  }
  return ids;
}

TEST(SpmEncoder, MatchesTextbookBpeOnLlama2Vocab) {
  LLMPP_REQUIRE_SHARED("tokenizers/llama2-spm/tokenizer.model");
  const Tokenizer tokenizer = load_sentencepiece_model(test::shared_path("tokenizers/llama2-spm/tokenizer.model"));
  const std::vector<std::string> alphabet = {"a", "e", "t", "n", "s", "th", "ing", " ", " ", "  ", "\n", ".", ",", "1",
                                             "7", "'", "(", "é", "ß", "ж", "и", "中", "文", "の", "🦙", "\t", "A", "Q"};
  std::mt19937 rng(42);
  int n_checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const int length = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < length; ++i) text += alphabet[rng() % alphabet.size()];
    ASSERT_EQ(tokenizer.encode(text, false), reference_spm_encode(tokenizer.vocab(), text)) << "text '" << text << "'";
    ++n_checked;
  }
  EXPECT_EQ(n_checked, 300);
}

// A ModelProto with the given pieces, written with the protobuf wire format by hand.
std::string varint(uint64_t value) {
  std::string bytes;
  do {
    bytes += static_cast<char>((value & 0x7F) | (value >= 0x80 ? 0x80 : 0));
    value >>= 7;
  } while (value);
  return bytes;
}
std::string field_bytes(uint32_t field, const std::string& payload) { return varint(field << 3 | 2) + varint(payload.size()) + payload; }
std::string field_varint(uint32_t field, uint64_t value) { return varint(field << 3) + varint(value); }
std::string field_float(uint32_t field, float value) {
  std::string bytes = varint(field << 3 | 5);
  char raw[4];
  std::memcpy(raw, &value, 4);
  return bytes + std::string(raw, 4);
}

std::string make_model_proto(int model_type) {
  std::string proto;
  const std::vector<std::tuple<std::string, float, int>> pieces = {
      {"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}, {kSpace, -1, 1}, {"a", -2, 1}, {kSpace + "a", -0.5f, 1}};
  for (const auto& [piece, score, type] : pieces)
    proto += field_bytes(1, field_bytes(1, piece) + field_float(2, score) + field_varint(3, static_cast<uint64_t>(type)));
  proto += field_bytes(2, field_varint(3, static_cast<uint64_t>(model_type)) + field_varint(43, static_cast<uint64_t>(-1)) +
                              field_varint(999, 7));  // an unknown field, skipped
  proto += field_bytes(3, field_bytes(1, "identity") + field_varint(4, 0));
  return proto;
}

SentencePieceModel parse(const std::string& bytes) {
  return parse_sentencepiece_model(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.model");
}

TEST(SentencePieceModel, ParsesHandWrittenProto) {
  const SentencePieceModel model = parse(make_model_proto(2));
  ASSERT_EQ(model.vocab.size(), 6);
  EXPECT_EQ(model.vocab.tokens[5], kSpace + "a");
  EXPECT_FLOAT_EQ(model.vocab.scores[5], -0.5f);
  EXPECT_EQ(model.vocab.types[1], TokenType::control);
  EXPECT_EQ(model.model_type, 2);
  EXPECT_EQ(model.vocab.pad_id, -1);
  EXPECT_EQ(model.vocab.bos_id, 1);  // proto2 default
  EXPECT_TRUE(model.normalizer.add_dummy_prefix);
  EXPECT_FALSE(model.normalizer.remove_extra_whitespaces);
  EXPECT_EQ(model.normalizer_name, "identity");
  const Tokenizer tokenizer = make_spm_tokenizer(model.vocab, model.normalizer);
  EXPECT_EQ(tokenizer.encode("a a"), (std::vector<int32_t>{1, 5, 5}));
}

TEST(SentencePieceModel, RejectsHostileBytes) {
  const std::string good = make_model_proto(2);
  // Every truncation either parses (cut at a message boundary) or throws a typed error.
  for (size_t cut = 0; cut < good.size(); ++cut) {
    try {
      parse(good.substr(0, cut));
    } catch (const Error&) {
    }
  }
  // A piece whose length runs past the end names the field and offset.
  try {
    parse(field_bytes(1, field_bytes(1, "abc")).substr(0, 4) + std::string("\x7f", 1));
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), "test.model");
    EXPECT_FALSE(e.field().empty());
  }
  EXPECT_THROW(parse(field_bytes(1, field_bytes(1, "x") + field_varint(3, 9))), FormatError);  // piece type 9
  EXPECT_THROW(parse(std::string("\x0b", 1)), FormatError);                                   // wire type 3 (group)
  EXPECT_THROW(parse(std::string(11, '\xff')), FormatError);                                  // endless varint
  EXPECT_THROW(parse(""), FormatError);                                                      // no pieces
  EXPECT_THROW(parse(make_model_proto(2) + field_bytes(2, field_varint(41, 1000))), ConfigError);  // bos_id out of range
  // Random corruption never crashes.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bad = good;
    for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    try {
      parse(bad);
    } catch (const Error&) {
    }
  }
}

TEST(SentencePieceModel, RejectsUnigramModels) {
  const std::string path = (std::filesystem::temp_directory_path() / "llmpp_test_unigram.model").string();
  {
    std::ofstream file(path, std::ios::binary);
    file << make_model_proto(1);
  }
  EXPECT_THROW(load_sentencepiece_model(path), ConfigError);
  std::filesystem::remove(path);
}

std::vector<uint8_t> llama2c_bytes(const std::vector<std::pair<std::string, float>>& tokens, int32_t max_length) {
  std::vector<uint8_t> bytes(4);
  std::memcpy(bytes.data(), &max_length, 4);
  for (const auto& [text, score] : tokens) {
    const auto length = static_cast<int32_t>(text.size());
    const size_t at = bytes.size();
    bytes.resize(at + 8 + text.size());
    std::memcpy(bytes.data() + at, &score, 4);
    std::memcpy(bytes.data() + at + 4, &length, 4);
    std::memcpy(bytes.data() + at + 8, text.data(), text.size());
  }
  return bytes;
}

TEST(Llama2cTokenizer, ParsesAndRestoresPieces) {
  const std::vector<uint8_t> bytes = llama2c_bytes({{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}, {"<0x41>", 0}, {" a", -1}}, 8);
  const Vocab vocab = parse_llama2c_tokenizer(bytes.data(), bytes.size(), "tokenizer.bin");
  ASSERT_EQ(vocab.size(), 5);
  EXPECT_EQ(vocab.tokens[1], "<s>");
  EXPECT_EQ(vocab.tokens[4], kSpace + "a");  // the exporter's ' ' is SentencePiece's '▁' again
  EXPECT_EQ(vocab.types[3], TokenType::byte);
  EXPECT_EQ(vocab.types[0], TokenType::unknown);
}

TEST(Llama2cTokenizer, RejectsHostileBytes) {
  const std::vector<uint8_t> good = llama2c_bytes({{"<unk>", 0}, {"<s>", 0}, {"</s>", 0}, {"abc", -1}}, 8);
  for (size_t cut = 0; cut < good.size(); ++cut) {
    bool threw = false;
    try {
      parse_llama2c_tokenizer(good.data(), cut, "tokenizer.bin");
    } catch (const FormatError&) {
      threw = true;
    }
    const bool at_boundary = cut == 4 + 13 + 11 + 12;  // three tokens read completely: still too few
    EXPECT_TRUE(threw || at_boundary) << "cut at " << cut;
  }
  std::vector<uint8_t> negative = good;
  const int32_t minus_one = -1;
  std::memcpy(negative.data() + 4 + 4, &minus_one, 4);
  EXPECT_THROW(parse_llama2c_tokenizer(negative.data(), negative.size(), "tokenizer.bin"), FormatError);
  std::vector<uint8_t> too_long = good;
  const int32_t huge = 1 << 30;
  std::memcpy(too_long.data() + 4 + 4, &huge, 4);
  try {
    parse_llama2c_tokenizer(too_long.data(), too_long.size(), "tokenizer.bin");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "token[0].length");
    EXPECT_EQ(e.offset(), 8u);
  }
}

}  // namespace
}  // namespace llmpp::tokenizer
