// Byte-level BPE and tokenizer.json conformance: every string of llama.cpp's vocab test files
// must give exactly the ids the Hugging Face tokenizer of the model gave (the .out files in
// ../shared/vocab, produced by `tokenizers`), and decode back to itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "llmpp/tokenizer/byte_level.hpp"
#include "llmpp/tokenizer/tokenizer_json.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"
#include "test_util.hpp"

namespace llmpp::tokenizer {
namespace {

std::string join_ids(const std::vector<int32_t>& ids) {
  std::ostringstream out;
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  return out.str();
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out;
}

// Encodes every case of vocab/<name>.inp without BOS/EOS, compares with <name>.out, and (for
// `round_trip`) checks decode(encode(s)) == s. Prints N/M for the source.
void check_conformance(const Tokenizer& tokenizer, const std::string& name, const std::string& label, bool round_trip) {
  const std::string base = test::shared_path("vocab/" + name);
  const std::vector<TokenizerCase> cases = read_vocab_test_file(base + ".inp", base + ".out");
  ASSERT_FALSE(cases.empty());
  size_t passed = 0, decoded_ok = 0;
  for (const TokenizerCase& test_case : cases) {
    const std::vector<int32_t> ids = tokenizer.encode(test_case.text, /*add_special=*/false);
    if (ids == test_case.ids) ++passed;
    else
      ADD_FAILURE() << label << ": '" << escape(test_case.text) << "'\n  got      " << join_ids(ids) << "\n  expected "
                    << join_ids(test_case.ids);
    if (round_trip) {
      const std::string decoded = tokenizer.decode(ids);
      if (decoded == test_case.text) ++decoded_ok;
      else ADD_FAILURE() << label << ": decode(encode('" << escape(test_case.text) << "')) = '" << escape(decoded) << "'";
    }
  }
  std::printf("[ conformance ] %-40s %zu/%zu ids match", label.c_str(), passed, cases.size());
  if (round_trip) std::printf(", %zu/%zu round trips", decoded_ok, cases.size());
  std::printf("\n");
}

TEST(ByteLevelGguf, Gpt2) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-gpt-2.gguf");
  const io::GGUFFile gguf(test::shared_path("vocab/ggml-vocab-gpt-2.gguf"));
  check_conformance(byte_level_from_gguf(gguf), "ggml-vocab-gpt-2.gguf", "gguf gpt-2", true);
}

TEST(ByteLevelGguf, StarCoder) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-starcoder.gguf");
  const io::GGUFFile gguf(test::shared_path("vocab/ggml-vocab-starcoder.gguf"));
  check_conformance(byte_level_from_gguf(gguf), "ggml-vocab-starcoder.gguf", "gguf starcoder", true);
}

TEST(ByteLevelGguf, DeepSeekLlm) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-deepseek-llm.gguf");
  const io::GGUFFile gguf(test::shared_path("vocab/ggml-vocab-deepseek-llm.gguf"));
  check_conformance(byte_level_from_gguf(gguf), "ggml-vocab-deepseek-llm.gguf", "gguf deepseek-llm", true);
}

TEST(ByteLevelFiles, Gpt2VocabMerges) {
  LLMPP_REQUIRE_SHARED("tokenizers/gpt2/vocab.json");
  const Tokenizer tokenizer = load_gpt2_vocab_merges(test::shared_path("tokenizers/gpt2/vocab.json"),
                                                     test::shared_path("tokenizers/gpt2/merges.txt"));
  check_conformance(tokenizer, "ggml-vocab-gpt-2.gguf", "gpt2 vocab.json+merges.txt", true);
}

TEST(TokenizerJson, Llama3) {
  LLMPP_REQUIRE_SHARED("tokenizers/llama3/tokenizer.json");
  const Tokenizer tokenizer = load_tokenizer_json(test::shared_path("tokenizers/llama3/tokenizer.json"));
  check_conformance(tokenizer, "ggml-vocab-llama-bpe.gguf", "llama3 tokenizer.json", true);
}

TEST(TokenizerJson, Qwen3) {
  LLMPP_REQUIRE_SHARED("tokenizers/qwen3/tokenizer.json");
  const Tokenizer tokenizer = load_tokenizer_json(test::shared_path("tokenizers/qwen3/tokenizer.json"));
  check_conformance(tokenizer, "ggml-vocab-qwen2.gguf", "qwen3 tokenizer.json", true);
}

TEST(TokenizerJson, Phi35) {
  LLMPP_REQUIRE_SHARED("tokenizers/phi-3.5-mini/tokenizer.json");
  const Tokenizer tokenizer = load_tokenizer_json(test::shared_path("tokenizers/phi-3.5-mini/tokenizer.json"));
  check_conformance(tokenizer, "ggml-vocab-phi-3.gguf", "phi-3.5-mini tokenizer.json", true);
}

// Loading the big files once per test binary: they are shared by the tests below.
const Tokenizer& llama3() {
  static const Tokenizer tokenizer = load_tokenizer_json(test::shared_path("tokenizers/llama3/tokenizer.json"));
  return tokenizer;
}
const Tokenizer& qwen3() {
  static const Tokenizer tokenizer = load_tokenizer_json(test::shared_path("tokenizers/qwen3/tokenizer.json"));
  return tokenizer;
}
const Tokenizer& phi35() {
  static const Tokenizer tokenizer = load_tokenizer_json(test::shared_path("tokenizers/phi-3.5-mini/tokenizer.json"));
  return tokenizer;
}
const Tokenizer& gpt2_gguf() {
  static const Tokenizer tokenizer = byte_level_from_gguf(io::GGUFFile(test::shared_path("vocab/ggml-vocab-gpt-2.gguf")));
  return tokenizer;
}
const Tokenizer& deepseek_gguf() {
  static const Tokenizer tokenizer = byte_level_from_gguf(io::GGUFFile(test::shared_path("vocab/ggml-vocab-deepseek-llm.gguf")));
  return tokenizer;
}
const Tokenizer& starcoder_gguf() {
  static const Tokenizer tokenizer = byte_level_from_gguf(io::GGUFFile(test::shared_path("vocab/ggml-vocab-starcoder.gguf")));
  return tokenizer;
}

struct Named {
  const char* name;
  const Tokenizer& (*get)();
};
const Named kAll[] = {{"llama3", llama3}, {"qwen3", qwen3}, {"phi-3.5", phi35}, {"gpt-2 gguf", gpt2_gguf},
                      {"deepseek-llm gguf", deepseek_gguf}, {"starcoder gguf", starcoder_gguf}};

#define REQUIRE_ALL_SHARED()                               \
  LLMPP_REQUIRE_SHARED("tokenizers/llama3/tokenizer.json"); \
  LLMPP_REQUIRE_SHARED("tokenizers/qwen3/tokenizer.json");  \
  LLMPP_REQUIRE_SHARED("tokenizers/phi-3.5-mini/tokenizer.json"); \
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-gpt-2.gguf")

// Special tokens typed by a user are plain text unless the caller asks for them.
TEST(ByteLevelSpecial, SpecialTokensNeedParseSpecial) {
  REQUIRE_ALL_SHARED();
  const int32_t im_end = qwen3().vocab().find("<|im_end|>");
  ASSERT_EQ(im_end, 151645);
  const std::string text = "hi<|im_end|>there";
  const std::vector<int32_t> plain = qwen3().encode(text, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_end), 0);
  EXPECT_EQ(qwen3().decode(plain), text);
  const std::vector<int32_t> parsed = qwen3().encode(text, false, true);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), im_end), 1);
  EXPECT_EQ(qwen3().decode(parsed, false), text);
  EXPECT_EQ(qwen3().decode(parsed, true), "hithere");
  // <think> is an added token with special = false: HF matches it in any text.
  const std::vector<int32_t> think = qwen3().encode("<think>x", false, false);
  ASSERT_FALSE(think.empty());
  EXPECT_EQ(think.front(), qwen3().vocab().find("<think>"));

  const int32_t begin_of_text = llama3().vocab().find("<|begin_of_text|>");
  EXPECT_EQ(begin_of_text, 128000);
  const std::vector<int32_t> llama_plain = llama3().encode("<|begin_of_text|>", false, false);
  EXPECT_GT(llama_plain.size(), 1u);
  EXPECT_EQ(llama3().encode("<|begin_of_text|>", false, true), (std::vector<int32_t>{begin_of_text}));
}

// Qwen's normalizer is NFC: decomposed text tokenizes like its composed form.
TEST(ByteLevelSpecial, QwenAppliesNfc) {
  REQUIRE_ALL_SHARED();
  EXPECT_EQ(qwen3().encode("Cafe\xCC\x81 Vie\xCC\xA3\xCC\x82t", false), qwen3().encode("Caf\xC3\xA9 Vi\xE1\xBB\x87t", false));
  EXPECT_NE(llama3().encode("Cafe\xCC\x81", false), llama3().encode("Caf\xC3\xA9", false));  // Llama 3 has no normalizer
}

// Settings from the post-processor and tokenizer_config.json.
TEST(ByteLevelSpecial, ConfigSettings) {
  REQUIRE_ALL_SHARED();
  EXPECT_EQ(llama3().bos_id(), 128000);
  EXPECT_EQ(llama3().eos_id(), 128001);
  EXPECT_TRUE(llama3().is_eog(llama3().vocab().find("<|eot_id|>")));
  EXPECT_FALSE(llama3().vocab().chat_template.empty());
  EXPECT_EQ(qwen3().eos_id(), qwen3().vocab().find("<|im_end|>"));
  EXPECT_FALSE(qwen3().options().add_bos);
  EXPECT_TRUE(qwen3().is_eog(qwen3().vocab().find("<|endoftext|>")));
  EXPECT_FALSE(qwen3().vocab().chat_template.empty());
  // None of these post-processors adds BOS: encode(add_special) == encode(plain).
  EXPECT_EQ(phi35().encode("Hello", true), phi35().encode("Hello", false));
  EXPECT_EQ(gpt2_gguf().encode("Hello", true), gpt2_gguf().encode("Hello", false));
}

// Ill-formed UTF-8, NUL bytes and every single byte: no crash, no byte lost. Byte-level
// vocabularies have a token for every byte; Phi-3 falls back to <0xNN> tokens.
TEST(ByteLevelRobustness, InvalidUtf8RoundTrips) {
  REQUIRE_ALL_SHARED();
  std::vector<std::string> texts = {
      std::string("\x80\x80 lone continuation"), std::string("trunc\xE2\x82"), std::string("over\xC0\xAFlong"),
      std::string("surrogate \xED\xA0\x80!"), std::string("nul\0inside\0", 11), std::string("\xFF\xFE\xFD"),
      std::string("mixed \xF0\x9F\xA6\x99\x80 'S \xC3"), std::string(1, '\0')};
  for (int byte = 0; byte < 256; ++byte) texts.push_back(std::string(1, static_cast<char>(byte)));
  for (const Named& named : kAll) {
    const Tokenizer& tokenizer = named.get();
    // Two vocabularies cannot give every byte back. StarCoder has no token for the bytes
    // that never occur in UTF-8 (C0, C1, F5..FF): they become its unk, <|endoftext|>.
    // DeepSeek LLM has the alphabet characters of some bytes only among its 2398
    // user-defined tokens: "À" is both the text "À" and the byte 0xC0; decode gives such a
    // token's text, as llama.cpp does, so a lone invalid byte 0xC0 comes back as "À". Both
    // still encode such input without error.
    const bool exact = std::string(named.name) != "deepseek-llm gguf" && std::string(named.name) != "starcoder gguf";
    for (const std::string& text : texts) {
      std::vector<int32_t> ids;
      ASSERT_NO_THROW(ids = tokenizer.encode(text, false)) << named.name << " on byte " << int(static_cast<uint8_t>(text[0]));
      EXPECT_FALSE(ids.empty()) << named.name;
      if (exact) {
        EXPECT_EQ(tokenizer.decode(ids), text) << named.name << " on a " << text.size() << "-byte text";
      }
    }
  }
}

// A 10 MB word without spaces: BPE over one pre-token of 10^7 symbols in O(n log n).
TEST(ByteLevelRobustness, TenMegabyteWord) {
  REQUIRE_ALL_SHARED();
  std::mt19937 rng(42);
  std::string word(10 << 20, 'a');
  for (char& c : word) c = static_cast<char>('a' + rng() % 26);
  for (const Named& named : {kAll[0], kAll[3]}) {  // Llama 3 (ignore_merges), GPT-2
    const std::clock_t start = std::clock();
    const std::vector<int32_t> ids = named.get().encode(word, false);
    const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
    std::printf("[ 10 MB word ] %-12s %zu tokens in %.2f s CPU\n", named.name, ids.size(), seconds);
    EXPECT_EQ(named.get().decode(ids), word) << named.name;
    EXPECT_LT(seconds, 60.0) << named.name;
  }
}

// A hand-computed byte-level BPE: merges apply by rank, lowest first, leftmost on ties.
TEST(TokenizerJsonSynthetic, MergeOrder) {
  const nlohmann::json root = nlohmann::json::parse(R"({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5, "Ġ": 6, "Ġa": 7},
              "merges": ["b c", "a b", "a bc", "Ġ a"]},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"}
  })");
  const Tokenizer tokenizer = tokenizer_from_json(root, nullptr, "synthetic.json");
  EXPECT_EQ(tokenizer.encode("abc", false), (std::vector<int32_t>{5}));     // (b c) first, then (a bc)
  EXPECT_EQ(tokenizer.encode("ab", false), (std::vector<int32_t>{3}));
  EXPECT_EQ(tokenizer.encode("abab", false), (std::vector<int32_t>{3, 3}));
  EXPECT_EQ(tokenizer.encode("cab", false), (std::vector<int32_t>{2, 3}));
  // "Ġabc": (b c) rank 0, then (a bc) rank 2 beats (Ġ a) rank 3; (Ġ abc) is no merge.
  EXPECT_EQ(tokenizer.encode("ab abc", false), (std::vector<int32_t>{3, 6, 5}));
  EXPECT_EQ(tokenizer.encode(" a", false), (std::vector<int32_t>{7}));
  EXPECT_EQ(tokenizer.decode({3, 6, 5}), "ab abc");
}

TEST(TokenizerJsonSynthetic, UnsupportedPartsAreNamed) {
  const auto error_of = [](const char* text) -> std::string {
    try {
      tokenizer_from_json(nlohmann::json::parse(text), nullptr, "bad.json");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string vocab = R"J("model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})J";
  EXPECT_NE(error_of(("{" + vocab + R"J(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated"}})J").c_str())
                .find("a(?=b)"), std::string::npos);
  EXPECT_NE(error_of(("{" + vocab + R"J(, "pre_tokenizer": {"type": "BertPreTokenizer"}})J").c_str()).find("BertPreTokenizer"),
            std::string::npos);
  EXPECT_NE(error_of(("{" + vocab + R"J(, "normalizer": {"type": "NFKD"}})J").c_str()).find("NFKD"), std::string::npos);
  EXPECT_NE(error_of(R"J({"model": {"type": "Unigram", "vocab": []}})J").find("Unigram"), std::string::npos);
  EXPECT_NE(error_of(R"J({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})J").find("merges[0]"), std::string::npos);
}

}  // namespace
}  // namespace llmpp::tokenizer
