// The llmpp-generate program as users and scripts run it: exact stdout, reproducible seeds,
// one-line errors, --dump-logits.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "llmpp/tokenizer/load.hpp"
#include "test_util.hpp"

#if defined(LLMPP_GENERATE_PROGRAM)
namespace llmpp {
namespace {

struct ProgramRun {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

ProgramRun run(const std::string& arguments) {
  // ctest runs tests in parallel processes: each run gets its own stderr file.
  static int n_runs = 0;
  const std::string err_path = ::testing::TempDir() + "llmpp_generate_stderr_" + std::to_string(getpid()) + "_" +
                               std::to_string(n_runs++) + ".txt";
  const std::string command = std::string(LLMPP_GENERATE_PROGRAM) + " " + arguments + " 2>" + err_path;
  ProgramRun r{};
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, "", "popen failed"};
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  r.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
  return r;
}

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

}  // namespace
}  // namespace llmpp
#endif
