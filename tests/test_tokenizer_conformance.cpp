// Tokenizer conformance against independent references in ../shared: ids produced by
// sentencepiece and by the Hugging Face tokenizers (llama.cpp's test-tokenizer-0 files and
// expected_ids.jsonl). Exact match is required; each test prints its N/M.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <functional>

#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/tokenizer/llama2c_tokenizer.hpp"
#include "llmpp/tokenizer/load.hpp"
#include "llmpp/tokenizer/sentencepiece_model.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"
#include "test_util.hpp"

namespace llmpp::tokenizer {
namespace {

std::string format_ids(const std::vector<int32_t>& ids) {
  std::string text;
  for (int32_t id : ids) text += (text.empty() ? "" : " ") + std::to_string(id);
  return text;
}

// Encodes every case without BOS/EOS and without special-token parsing (as the references
// did) and requires all to match; prints "label: N/M match".
void expect_conformance(const Tokenizer& tokenizer, const std::vector<TokenizerCase>& cases, const std::string& label) {
  size_t n_match = 0;
  for (const TokenizerCase& test_case : cases) {
    const std::vector<int32_t> ids = tokenizer.encode(test_case.text, /*add_special=*/false);
    if (ids == test_case.ids) {
      ++n_match;
      continue;
    }
    ADD_FAILURE() << label << ": text '" << test_case.text << "'\n  expected " << format_ids(test_case.ids)
                  << "\n  got      " << format_ids(ids);
  }
  std::printf("%s: %zu/%zu match\n", label.c_str(), n_match, cases.size());
  EXPECT_FALSE(cases.empty()) << label;
}

std::vector<TokenizerCase> read_jsonl_cases(const std::string& path) {
  std::istringstream lines(read_text_file(path));
  std::vector<TokenizerCase> cases;
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const nlohmann::json record = nlohmann::json::parse(line);
    cases.push_back({record.at("text").get<std::string>(), record.at("ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

std::vector<TokenizerCase> vocab_cases(const std::string& name) {
  return read_vocab_test_file(test::shared_path("vocab/" + name + ".inp"), test::shared_path("vocab/" + name + ".out"));
}

TEST(TokenizerConformance, Stories260KSentencePieceModel) {
  LLMPP_REQUIRE_SHARED("models/stories260K/tok512.model");
  const Tokenizer tokenizer = load_sentencepiece_model(test::shared_path("models/stories260K/tok512.model"));
  expect_conformance(tokenizer, vocab_cases("stories260K-tok512"), "stories260K tok512.model");
}

TEST(TokenizerConformance, Stories260KLlama2cBin) {
  LLMPP_REQUIRE_SHARED("models/stories260K/tok512.bin");
  // tokenizer.bin keeps no normalizer flags; the reference ids came from sentencepiece with
  // tok512.model, whose normalizer removes extra whitespace.
  SpmOptions options;
  options.remove_extra_whitespaces = true;
  const Tokenizer tokenizer = load_llama2c_tokenizer(test::shared_path("models/stories260K/tok512.bin"), options);
  expect_conformance(tokenizer, vocab_cases("stories260K-tok512"), "stories260K tok512.bin");
}

TEST(TokenizerConformance, Stories260KGguf) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const Tokenizer tokenizer = load_tokenizer(test::shared_path("models/stories260K/stories260K.gguf"));
  expect_conformance(tokenizer, vocab_cases("stories260K-tok512"), "stories260K.gguf");
}

TEST(TokenizerConformance, LlamaSpmGguf) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
  const Tokenizer tokenizer = load_tokenizer(test::shared_path("vocab/ggml-vocab-llama-spm.gguf"));
  expect_conformance(tokenizer, vocab_cases("ggml-vocab-llama-spm.gguf"), "ggml-vocab-llama-spm.gguf");
}

TEST(TokenizerConformance, Phi3Gguf) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-phi-3.gguf");
  const Tokenizer tokenizer = load_tokenizer(test::shared_path("vocab/ggml-vocab-phi-3.gguf"));
  expect_conformance(tokenizer, vocab_cases("ggml-vocab-phi-3.gguf"), "ggml-vocab-phi-3.gguf");
}

TEST(TokenizerConformance, Llama2SentencePieceJsonl) {
  LLMPP_REQUIRE_SHARED("tokenizers/llama2-spm/tokenizer.model");
  const Tokenizer tokenizer = load_sentencepiece_model(test::shared_path("tokenizers/llama2-spm/tokenizer.model"));
  expect_conformance(tokenizer, read_jsonl_cases(test::shared_path("tokenizers/llama2-spm/expected_ids.jsonl")),
                     "llama2-spm tokenizer.model vs expected_ids.jsonl");
}

TEST(TokenizerConformance, Llama2SentencePieceVocabTest) {
  LLMPP_REQUIRE_SHARED("tokenizers/llama2-spm/tokenizer.model");
  const Tokenizer tokenizer = load_sentencepiece_model(test::shared_path("tokenizers/llama2-spm/tokenizer.model"));
  expect_conformance(tokenizer, vocab_cases("ggml-vocab-llama-spm.gguf"), "llama2-spm tokenizer.model vs ggml-vocab-llama-spm");
}

TEST(TokenizerConformance, MistralSentencePieceJsonl) {
  LLMPP_REQUIRE_SHARED("tokenizers/mistral-v1-spm/tokenizer.model");
  const Tokenizer tokenizer = load_sentencepiece_model(test::shared_path("tokenizers/mistral-v1-spm/tokenizer.model"));
  expect_conformance(tokenizer, read_jsonl_cases(test::shared_path("tokenizers/mistral-v1-spm/expected_ids.jsonl")),
                     "mistral-v1-spm tokenizer.model vs expected_ids.jsonl");
}

// load_tokenizer picks the reader from the path alone; every form of every source must give
// the reference ids. (The byte-level readers themselves are tested in their own files.)
TEST(LoadTokenizer, EverySourceFormMatchesItsReference) {
  const std::vector<std::pair<std::string, std::string>> sources = {
      {"models/stories260K/stories260K.gguf", "stories260K-tok512"},
      {"models/stories260K/tok512.model", "stories260K-tok512"},
      {"models/stories260K-hf", "stories260K-tok512"},  // folder with tokenizer.model
      {"tokenizers/llama2-spm", "ggml-vocab-llama-spm.gguf"},
      {"vocab/ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm.gguf"},
      {"vocab/ggml-vocab-phi-3.gguf", "ggml-vocab-phi-3.gguf"},
      {"tokenizers/phi-3.5-mini/tokenizer.json", "ggml-vocab-phi-3.gguf"},
      {"vocab/ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-2.gguf"},
      {"tokenizers/gpt2", "ggml-vocab-gpt-2.gguf"},  // folder with vocab.json + merges.txt
      {"tokenizers/gpt2/vocab.json", "ggml-vocab-gpt-2.gguf"},
      {"tokenizers/llama3", "ggml-vocab-llama-bpe.gguf"},
      {"tokenizers/qwen3/tokenizer.json", "ggml-vocab-qwen2.gguf"},
  };
  for (const auto& [source, cases] : sources) {
    if (!std::filesystem::exists(test::shared_path(source))) {
      std::printf("skipped (missing): %s\n", source.c_str());
      continue;
    }
    expect_conformance(load_tokenizer(test::shared_path(source)), vocab_cases(cases), "load_tokenizer(" + source + ")");
  }
}

TEST(LoadTokenizer, FolderAndGgufMetadata) {
  LLMPP_REQUIRE_SHARED("tokenizers/llama3/tokenizer_config.json");
  const Tokenizer llama3 = load_tokenizer(test::shared_path("tokenizers/llama3"));
  EXPECT_FALSE(llama3.vocab().chat_template.empty());
  EXPECT_TRUE(llama3.is_eog(llama3.vocab().find("<|eot_id|>")));

  const Tokenizer phi3 = load_tokenizer(test::shared_path("vocab/ggml-vocab-phi-3.gguf"));
  EXPECT_EQ(phi3.bos_id(), 1);
  EXPECT_EQ(phi3.eos_id(), 32000);
  EXPECT_TRUE(phi3.is_eog(phi3.vocab().find("<|end|>")));
  EXPECT_FALSE(phi3.vocab().chat_template.empty());
  EXPECT_EQ(phi3.encode("<|user|>", true, true), (std::vector<int32_t>{1, phi3.vocab().find("<|user|>")}));

  const Tokenizer stories = load_tokenizer(test::shared_path("models/stories260K/stories260K.gguf"));
  EXPECT_EQ(stories.encode("Once upon a time"), (std::vector<int32_t>{1, 403, 407, 261, 378}));  // README
  EXPECT_EQ(stories.vocab().pad_id, -1);  // stored as u32 0xFFFFFFFF
}

TEST(LoadTokenizer, RejectsWhatItCannotRead) {
  const std::filesystem::path folder = std::filesystem::temp_directory_path() / "llmpp_test_load_tokenizer";
  std::filesystem::create_directories(folder);
  EXPECT_THROW(load_tokenizer((folder / "missing.model").string()), IoError);
  EXPECT_THROW(load_tokenizer(folder.string()), InvalidArgument);  // empty folder
  {
    std::ofstream((folder / "notes.txt").string()) << "hello";
  }
  EXPECT_THROW(load_tokenizer((folder / "notes.txt").string()), InvalidArgument);
  io::GGUFWriter writer;  // a GGUF without tokenizer metadata
  writer.add("general.architecture", "llama");
  writer.write((folder / "no_tokenizer.gguf").string());
  EXPECT_THROW(load_tokenizer((folder / "no_tokenizer.gguf").string()), ConfigError);
  io::GGUFWriter unigram;
  unigram.add("tokenizer.ggml.model", "t5");
  unigram.write((folder / "t5.gguf").string());
  EXPECT_THROW(load_tokenizer((folder / "t5.gguf").string()), ConfigError);

  // A "llama" vocabulary whose arrays disagree, or whose ids point outside it.
  auto write_spm_gguf = [&](const std::string& name, const std::function<void(io::GGUFWriter&)>& edit) {
    io::GGUFWriter gguf;
    gguf.add("tokenizer.ggml.model", "llama");
    gguf.add("tokenizer.ggml.tokens", std::vector<std::string>{"<unk>", "<s>", "</s>", "a"});
    edit(gguf);
    const std::string path = (folder / name).string();
    gguf.write(path);
    return path;
  };
  EXPECT_NO_THROW(load_tokenizer(write_spm_gguf("ok.gguf", [](io::GGUFWriter&) {})));
  EXPECT_THROW(load_tokenizer(write_spm_gguf("scores.gguf", [](io::GGUFWriter& g) {
                 g.add("tokenizer.ggml.scores", std::vector<float>{0, 0});
               })),
               ConfigError);
  EXPECT_THROW(load_tokenizer(write_spm_gguf("types.gguf", [](io::GGUFWriter& g) {
                 g.add("tokenizer.ggml.token_type", std::vector<int32_t>{2, 3, 3, 9});
               })),
               FormatError);
  EXPECT_THROW(load_tokenizer(write_spm_gguf("bos.gguf", [](io::GGUFWriter& g) {
                 g.add("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(4));
               })),
               ConfigError);
  EXPECT_THROW(load_tokenizer(write_spm_gguf("tokens_type.gguf", [](io::GGUFWriter& g) {
                 g.add("tokenizer.ggml.scores", std::string("not an array"));
               })),
               FormatError);
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace llmpp::tokenizer
