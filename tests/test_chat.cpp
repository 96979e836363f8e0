// Multi-turn chat: the conversation is rendered with the model's template each turn and the
// session's KV cache is reused, so a turn processes only its new tokens. The last test drives
// `llmpp-generate --chat` through a pseudo-terminal, as a person at a terminal would.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>

#include "llmpp/model/chat.hpp"
#include "test_util.hpp"

namespace llmpp {
namespace {

const char* const stories_gguf = "models/stories260K/stories260K.gguf";

TEST(ChatSession, SecondTurnProcessesOnlyNewTokens) {
  LLMPP_REQUIRE_SHARED(stories_gguf);
  const LoadedModel loaded = LoadedModel::load(test::shared_path(stories_gguf));
  Session session(loaded, {512, 1, 64});
  ChatSession chat(session, tokenizer::ChatTemplateKind::ChatML, "You tell stories.");
  GenerateOptions options;
  options.max_tokens = 12;
  options.sampler.temperature = 0.0f;

  const GenerateResult first = chat.send("Tell me about Lily.", options);
  const auto first_prompt =
      loaded.tokenizer->encode(tokenizer::render_chat(tokenizer::ChatTemplateKind::ChatML, {{"system", "You tell stories."}, {"user", "Tell me about Lily."}}, true, "<s>", "</s>"), false, true);
  EXPECT_EQ(first.stats.n_prompt_tokens, static_cast<int64_t>(first_prompt.size()));
  EXPECT_EQ(first.stats.n_reused_tokens, 0);

  const GenerateResult second = chat.send("And then?", options);
  // The cache held the first prompt and all generated tokens but the last (never fed back).
  EXPECT_EQ(second.stats.n_reused_tokens, first.stats.n_prompt_tokens + first.stats.n_generated - 1);
  const auto full = loaded.tokenizer->encode(
      tokenizer::render_chat(tokenizer::ChatTemplateKind::ChatML, chat.messages(), false, "<s>", "</s>"), false, true);
  EXPECT_LT(second.stats.n_prompt_tokens, static_cast<int64_t>(full.size()) - first.stats.n_prompt_tokens);
  ASSERT_EQ(chat.messages().size(), 5u);
  EXPECT_EQ(chat.messages()[4].content, second.text);
}

#if defined(LLMPP_GENERATE_PROGRAM)
// Reads from the pty master until `needle` has appeared `count` times or the deadline passes.
bool read_until(int fd, std::string& transcript, const std::string& needle, int count, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto occurrences = [&] {
    int n = 0;
    for (size_t at = transcript.find(needle); at != std::string::npos; at = transcript.find(needle, at + 1)) ++n;
    return n;
  };
  while (occurrences() < count) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[4096];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return false;
    transcript.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

TEST(ChatCli, TwoTurnsThroughAPseudoTerminal) {
  LLMPP_REQUIRE_SHARED(stories_gguf);
  const std::string model = test::shared_path(stories_gguf);
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // stderr joins stdout on the terminal, so the per-turn counts are in the transcript.
    execl(LLMPP_GENERATE_PROGRAM, LLMPP_GENERATE_PROGRAM, "-m", model.c_str(), "--chat", "--temp", "0", "-n", "16",
          "-t", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string transcript;
  ASSERT_TRUE(read_until(master, transcript, "> ", 1, 30000)) << transcript;
  ASSERT_GT(write(master, "Tell me a story.\n", 17), 0);
  ASSERT_TRUE(read_until(master, transcript, "> ", 2, 30000)) << transcript;
  ASSERT_GT(write(master, "What happened next?\n", 20), 0);
  ASSERT_TRUE(read_until(master, transcript, "> ", 3, 30000)) << transcript;
  ASSERT_GT(write(master, "\x04", 1), 0);  // Ctrl-D: end of input
  read_until(master, transcript, "eval time", 1, 30000);
  // Drain until the program closes its end (read fails with EIO), then reap it; closing the
  // master first would hang up the terminal under a program that is still exiting.
  read_until(master, transcript, "\x01never\x01", 1, 30000);
  int status = 0;
  waitpid(pid, &status, 0);
  close(master);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << transcript;

  const std::regex turn_line(R"(turn (\d+): (\d+) new prompt tokens \((\d+) reused)");
  std::vector<std::smatch> turns;
  for (auto it = std::sregex_iterator(transcript.begin(), transcript.end(), turn_line); it != std::sregex_iterator(); ++it)
    turns.push_back(*it);
  ASSERT_EQ(turns.size(), 2u) << transcript;
  const long first_new = std::stol(turns[0][2]), second_new = std::stol(turns[1][2]);
  const long second_reused = std::stol(turns[1][3]);
  EXPECT_EQ(std::stol(turns[0][3]), 0);
  // Turn two reuses turn one's prompt and reply (16 generated, the last not yet fed)...
  EXPECT_EQ(second_reused, first_new + 16 - 1) << transcript;
  // ...and processes only the new message and its template framing.
  EXPECT_LT(second_new, first_new + 16) << transcript;
}
#endif

}  // namespace
}  // namespace llmpp
