// The llmpp-generate program as users and scripts run it: exact stdout, reproducible seeds,
// one-line errors, --dump-logits; and every family's tiny model through llmpp-generate, from
// its HF folder and from the GGUF llmpp-convert makes of it.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmpp/tokenizer/load.hpp"
#include "test_util.hpp"

#if defined(LLMPP_GENERATE_PROGRAM) && defined(LLMPP_CONVERT_PROGRAM)
namespace llmpp {
namespace {

using test::ProgramRun;
using test::run_program;

ProgramRun run(const std::string& arguments) { return run_program(LLMPP_GENERATE_PROGRAM, arguments); }

std::string quoted(const std::string& path) { return "'" + path + "'"; }

const char* const expected_60 =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\nLily\n";

TEST(LlmppGenerate, PrintsTheReferenceTextFromGgufAndHfFolder) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  for (const char* model : {"models/stories260K/stories260K.gguf", "models/stories260K-hf"}) {
    const ProgramRun r = run("-m " + quoted(test::shared_path(model)) + " -p 'Once upon a time' -n 60 --temp 0");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected_60) << model;
    EXPECT_NE(r.err.find("tokens per second"), std::string::npos) << "timings go to stderr";
  }
}

TEST(LlmppGenerate, SameSeedSameTextDifferentSeedDifferentText) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const std::string base = "-m " + quoted(test::shared_path("models/stories260K/stories260K.gguf")) +
                           " -p 'Once upon a time' -n 80 --temp 1 -t 2 ";
  const ProgramRun a = run(base + "-s 7"), b = run(base + "-s 7"), c = run(base + "-s 8");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST(LlmppGenerate, WrongPathOrFlagIsAOneLineErrorAndNonZeroExit) {
  const ProgramRun missing = run("-m /nonexistent/model.gguf -p hi");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_NE(missing.err.find("/nonexistent/model.gguf"), std::string::npos) << missing.err;
  const ProgramRun flag = run("--no-such-flag");
  EXPECT_NE(flag.exit_code, 0);
  EXPECT_NE(flag.err.find("--no-such-flag"), std::string::npos) << flag.err;
  const ProgramRun value = run("-n many");
  EXPECT_NE(value.exit_code, 0);
  EXPECT_NE(value.err.find("many"), std::string::npos) << value.err;
}

// -ctk / -ctv f16 (llama.cpp's KV cache flags): the same reference text; keys and values in
// different types, or a type llmpp does not store, are refused naming the flag.
TEST(LlmppGenerate, HalfPrecisionCacheFlags) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const std::string base =
      "-m " + quoted(test::shared_path("models/stories260K/stories260K.gguf")) + " -p 'Once upon a time' -n 60 --temp 0 ";
  const ProgramRun f16 = run(base + "-ctk f16 -ctv f16");
  EXPECT_EQ(f16.exit_code, 0) << f16.err;
  EXPECT_EQ(f16.out, expected_60);
  const ProgramRun mixed = run(base + "-ctk f16");
  EXPECT_NE(mixed.exit_code, 0);
  EXPECT_NE(mixed.err.find("-ctk f16 and -ctv f32"), std::string::npos) << mixed.err;
  const ProgramRun unknown = run(base + "--cache-type-k q4_0 --cache-type-v q4_0");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("'q4_0' for -ctk"), std::string::npos) << unknown.err;
}

// --dump-logits: raw little-endian float32, n_prompt_tokens x n_vocab, BOS included.
TEST(LlmppGenerate, DumpLogitsWritesEveryPromptPosition) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const std::string path = ::testing::TempDir() + "llmpp_logits_" + std::to_string(getpid()) + ".bin";
  const ProgramRun r = run("-m " + quoted(test::shared_path("models/stories260K/stories260K.gguf")) +
                    " -p 'Once upon a time' --dump-logits " + quoted(path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const auto bytes = static_cast<size_t>(in.tellg());
  ASSERT_EQ(bytes, 5u * 512u * sizeof(float));  // BOS + 4 prompt tokens, 512-token vocabulary
  std::vector<float> logits(5 * 512);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(logits.data()), static_cast<std::streamsize>(bytes));
  // Row layout: the last row's argmax is the first greedy token, which the reference text
  // says is ","; row 0 (BOS) predicts the first prompt token " Once" (403) as well.
  const float* last = logits.data() + 4 * 512;
  const auto best = std::max_element(last, last + 512) - last;
  const ProgramRun one = run("-m " + quoted(test::shared_path("models/stories260K/stories260K.gguf")) +
                             " -p 'Once upon a time' -n 1 --temp 0");
  EXPECT_EQ(one.out, "Once upon a time,\n");
  const auto tokenizer = tokenizer::load_tokenizer(test::shared_path("models/stories260K/stories260K.gguf"));
  EXPECT_EQ(tokenizer.token_to_piece(static_cast<int32_t>(best)), ",");
  EXPECT_EQ(std::max_element(logits.data(), logits.data() + 512) - logits.data(), 403);
}

// ---- every family's tiny model, from its HF folder and from llmpp-convert's GGUF ----------

// tests/data/tiny_models: random 2-layer models (gen_families.py, gen_tiny_models.py) with a
// character-level tokenizer (gen_tiny_tokenizer.py): id = byte - 0x20, 95 = <|endoftext|>.
struct TinyFolder {
  const char* name;
  bool has_gguf;  // llama.cpp defines the architecture (OPT: no)
};

// The text of reference ids below 95 (the prompt text llmpp-generate reads, unprefixed: the
// tokenizer adds no BOS).
std::string text_of(const std::vector<int64_t>& ids) {
  std::string text;
  for (int64_t id : ids) text += static_cast<char>(id + 32);
  return text;
}

std::string write_prompt(const std::string& tag, const std::string& text) {
  const std::string path = ::testing::TempDir() + "llmpp_prompt_" + std::to_string(getpid()) + "_" + tag + ".txt";
  std::ofstream(path, std::ios::binary) << text;  // no newline: -f reads the file as it is
  return path;
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<float> values(static_cast<size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  return values;
}

class TinyFamily : public ::testing::TestWithParam<TinyFolder> {};

// `llmpp-generate -m MODEL -f PROMPT -n 32 --temp 0 --ignore-eos` prints the prompt and then
// exactly PyTorch's greedy continuation; --dump-logits gives PyTorch's logits within 1e-4
// (the 64 reference tokens, or those before the first id 95: a prompt's text never parses
// to the special token). Both from the HF folder and, where llama.cpp defines the
// architecture, from the GGUF `llmpp-convert` writes of it.
TEST_P(TinyFamily, GreedyTextAndLogitsMatchPyTorchFromFolderAndGguf) {
  const TinyFolder param = GetParam();
  const std::string name = param.name;
  const std::string folder = test::data_path("tiny_models/" + name);
  const test::Golden ref("tiny_models/" + name + "/reference");
  const std::vector<int64_t> prompt = ref.i64("greedy_prompt"), greedy = ref.i64("greedy_tokens");
  std::vector<int64_t> tokens = ref.i64("tokens");
  tokens.erase(std::find(tokens.begin(), tokens.end(), 95), tokens.end());
  const std::vector<float> all_logits = ref.f32("logits");
  const std::vector<float> expected_logits(all_logits.begin(), all_logits.begin() + static_cast<ptrdiff_t>(tokens.size() * 96));
  // Falcon's and Mixtral's greedy prompts hold id 95: their logits are checked, not their text.
  const bool prompt_is_text = std::find(prompt.begin(), prompt.end(), 95) == prompt.end();
  ASSERT_GE(tokens.size(), 8u) << name;  // Mixtral's first 95 is at position 8

  std::vector<std::string> models = {folder};
  if (param.has_gguf) {
    const std::string gguf = ::testing::TempDir() + "llmpp_tiny_" + std::to_string(getpid()) + "_" + name + ".gguf";
    const ProgramRun convert = run_program(LLMPP_CONVERT_PROGRAM, quoted(folder) + " " + quoted(gguf));
    ASSERT_EQ(convert.exit_code, 0) << convert.err;
    EXPECT_NE(convert.out.find("F32, tokenizer included"), std::string::npos) << convert.out;
    models.push_back(gguf);
  }
  const std::string greedy_prompt = write_prompt(name + "_greedy", text_of(prompt));
  const std::string logits_prompt = write_prompt(name + "_logits", text_of(tokens));
  const std::string logits_path = ::testing::TempDir() + "llmpp_tiny_logits_" + std::to_string(getpid()) + "_" + name + ".bin";
  for (const std::string& model : models) {
    if (prompt_is_text) {
      const ProgramRun r = run("-m " + quoted(model) + " -f " + quoted(greedy_prompt) + " -n 32 --temp 0 --ignore-eos -t 2");
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, text_of(prompt) + text_of(greedy) + "\n") << model;
    }
    const ProgramRun r = run("-m " + quoted(model) + " -f " + quoted(logits_prompt) + " --dump-logits " + quoted(logits_path));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::vector<float> logits = read_floats(logits_path);
    ASSERT_EQ(logits.size(), expected_logits.size()) << model;
    float worst = 0;
    for (size_t i = 0; i < logits.size(); ++i) worst = std::max(worst, std::fabs(logits[i] - expected_logits[i]));
    EXPECT_LE(worst, 1e-4f) << model;
  }
  for (const std::string& path : {greedy_prompt, logits_prompt, logits_path}) std::remove(path.c_str());
  if (param.has_gguf) std::remove(models.back().c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Families, TinyFamily,
    ::testing::Values(TinyFolder{"gpt2", true}, TinyFolder{"opt", false}, TinyFolder{"opt_350m", false},
                      TinyFolder{"bloom", true}, TinyFolder{"falcon", true}, TinyFolder{"falcon_40b", true},
                      TinyFolder{"phi3", true}, TinyFolder{"gemma", true}, TinyFolder{"llama_gqa", true},
                      TinyFolder{"mistral_window", true}, TinyFolder{"mixtral_moe", true},
                      TinyFolder{"qwen2_bias", true}),
    [](const ::testing::TestParamInfo<TinyFolder>& info) { return std::string(info.param.name); });

// OPT has no GGUF architecture in llama.cpp: llmpp-convert says so and exits non-zero.
TEST(LlmppConvert, OptIsRefusedWithOneLine) {
  const std::string gguf = ::testing::TempDir() + "llmpp_tiny_" + std::to_string(getpid()) + "_opt.gguf";
  const ProgramRun r = run_program(LLMPP_CONVERT_PROGRAM, quoted(test::data_path("tiny_models/opt")) + " " + quoted(gguf));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("no GGUF architecture for 'opt'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(gguf));
}

}  // namespace
}  // namespace llmpp
#endif
