// One LoadedModel shared read-only by several Sessions on several threads: the model and the
// tokenizer hold no mutable state, each Session owns its KV cache, buffers and thread pool,
// so running sessions side by side must give exactly what running them one after another
// gives. scripts/test-sanitizers.sh also runs this test under ThreadSanitizer.
#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "llmpp/model/generate.hpp"
#include "test_util.hpp"

namespace llmpp {
namespace {

const char* const kModel = "models/stories260K/stories260K.gguf";
const std::vector<std::string> kPrompts = {"Once upon a time", "The little dog", "Lily and Ben went to",
                                           "One day, a bird"};
constexpr int kThreadsPerSession = 2;

GenerateOptions greedy(int max_tokens) {
  GenerateOptions options;
  options.max_tokens = max_tokens;
  options.sampler.temperature = 0.0f;
  options.ignore_eos = true;  // always 64 tokens, so every run does the same amount of work
  return options;
}

GenerateOptions sampled(uint64_t seed) {
  GenerateOptions options = greedy(64);
  options.sampler.temperature = 0.9f;
  options.sampler.top_k = 40;
  options.sampler.top_p = 0.95f;
  options.sampler.seed = seed;
  return options;
}

GenerateResult run_session(const LoadedModel& loaded, const std::string& prompt, const GenerateOptions& options) {
  SessionOptions session_options;
  session_options.n_ctx = 256;
  session_options.n_threads = kThreadsPerSession;
  Session session(loaded, session_options);
  return generate(session, prompt, options);
}

// Runs jobs[i] on thread i, all at once; rethrows the first exception a thread raised.
template <typename Job>
void run_in_parallel(size_t n_jobs, const Job& job) {
  std::vector<std::exception_ptr> errors(n_jobs);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n_jobs; ++i)
    threads.emplace_back([&, i] {
      try {
        job(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

TEST(Concurrency, FourSessionsShareOneModel) {
  LLMPP_REQUIRE_SHARED(kModel);
  const LoadedModel loaded = LoadedModel::load(test::shared_path(kModel));

  std::vector<GenerateResult> one_after_another;
  for (const std::string& prompt : kPrompts) one_after_another.push_back(run_session(loaded, prompt, greedy(64)));

  std::vector<GenerateResult> side_by_side(kPrompts.size());
  run_in_parallel(kPrompts.size(), [&](size_t i) { side_by_side[i] = run_session(loaded, kPrompts[i], greedy(64)); });

  for (size_t i = 0; i < kPrompts.size(); ++i) {
    SCOPED_TRACE(kPrompts[i]);
    ASSERT_EQ(one_after_another[i].tokens.size(), 64u);
    EXPECT_EQ(side_by_side[i].tokens, one_after_another[i].tokens);
    EXPECT_EQ(side_by_side[i].text, one_after_another[i].text);
  }
  // The sessions really were different: each prompt has its own continuation.
  EXPECT_NE(one_after_another[0].tokens, one_after_another[1].tokens);
  // Anchor on the reference output in /work/shared/README.md (llama2.c's run.c, greedy).
  EXPECT_NE(one_after_another[0].text.find("there was a little girl named Lily. She loved to play outside in the park."),
            std::string::npos)
      << one_after_another[0].text;
}

TEST(Concurrency, SameSeedAndThreadCountReproduceSampling) {
  LLMPP_REQUIRE_SHARED(kModel);
  const LoadedModel loaded = LoadedModel::load(test::shared_path(kModel));
  const GenerateResult reference = run_session(loaded, kPrompts[0], sampled(42));
  ASSERT_EQ(reference.tokens.size(), 64u);

  // Three sessions with the same seed at once, and one with another seed beside them.
  std::vector<GenerateResult> results(4);
  run_in_parallel(results.size(), [&](size_t i) { results[i] = run_session(loaded, kPrompts[0], sampled(i < 3 ? 42 : 7)); });
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i].tokens, reference.tokens) << "session " << i;
    EXPECT_EQ(results[i].text, reference.text) << "session " << i;
  }
  EXPECT_NE(results[3].tokens, reference.tokens) << "another seed gave the same 64 sampled tokens";
  // Sampling really happened: greedy decoding takes another path.
  EXPECT_NE(run_session(loaded, kPrompts[0], greedy(64)).tokens, reference.tokens);
}

}  // namespace
}  // namespace llmpp
