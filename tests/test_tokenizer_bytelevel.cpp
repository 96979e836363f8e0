// Byte-level BPE and tokenizer.json conformance: every string of llama.cpp's vocab test files
// must give exactly the ids the Hugging Face tokenizer of the model gave (the .out files in
// ../shared/vocab, produced by `tokenizers`), and decode back to itself.
#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace
}  // namespace llmpp::tokenizer
