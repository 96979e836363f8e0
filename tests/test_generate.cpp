// Generation end to end on stories260K, in all four forms in ../shared, against the greedy
// text that llama2.c's run.c and llama.cpp print (../shared/README.md).
#include <string>
#include <vector>

#include "llmpp/model/generate.hpp"
#include "test_util.hpp"

namespace llmpp {
namespace {

// ../shared/README.md: the 60 tokens after "Once upon a time" (the same for all four forms).
const char* const expected_once_upon_a_time =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\nLily";

// ../shared/README.md: 200 tokens from BOS alone (F32 forms).
const char* const expected_bos_200_f32 =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want "
    "to play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily didn't want to help her mom, so she";

// ../shared/README.md: the BF16 weights depart from F32 in the last line.
const char* const expected_bos_200_bf16 =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want "
    "to play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily said, \"I'm sorry, mom. I d";

struct StoriesForm {
  const char* name;
  const char* model;      // relative to ../shared
  const char* tokenizer;  // relative to ../shared, or empty
  bool bf16;
};

const StoriesForm stories_forms[] = {
    {"gguf", "models/stories260K/stories260K.gguf", "", false},
    {"llama2c", "models/stories260K/stories260K.bin", "models/stories260K/tok512.bin", false},
    {"hf_f32", "models/stories260K-hf", "", false},
    {"hf_bf16_sharded", "models/stories260K-hf-bf16", "", true},
};

class Stories260K : public ::testing::TestWithParam<StoriesForm> {
 protected:
  LoadedModel load() const {
    const StoriesForm& form = GetParam();
    const std::string tokenizer = *form.tokenizer ? test::shared_path(form.tokenizer) : std::string();
    return LoadedModel::load(test::shared_path(form.model), tokenizer);
  }
  static GenerateOptions greedy(int n) {
    GenerateOptions options;
    options.max_tokens = n;
    options.sampler.temperature = 0.0f;
    options.echo_prompt = true;
    return options;
  }
};

TEST_P(Stories260K, PromptThen60GreedyTokens) {
  LLMPP_REQUIRE_SHARED(GetParam().model);
  const LoadedModel loaded = load();
  Session session(loaded, {512, 2, 64});
  const std::vector<int32_t> prompt = loaded.tokenizer->encode("Once upon a time");
  EXPECT_EQ(prompt, (std::vector<int32_t>{1, 403, 407, 261, 378}));
  std::string streamed;
  const GenerateResult result = generate(session, "Once upon a time", greedy(60), [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(result.text, expected_once_upon_a_time);
  EXPECT_EQ(streamed, result.text);
  EXPECT_EQ(result.stats.n_generated, 60);
  EXPECT_EQ(result.stats.n_prompt_tokens, 5);
  EXPECT_EQ(result.reason, StopReason::max_tokens);
}

TEST_P(Stories260K, Bos200GreedyTokens) {
  LLMPP_REQUIRE_SHARED(GetParam().model);
  const LoadedModel loaded = load();
  Session session(loaded, {512, 2, 64});
  const GenerateResult result = generate_from_tokens(session, {loaded.tokenizer->bos_id()}, greedy(200));
  EXPECT_EQ(result.text, GetParam().bf16 ? expected_bos_200_bf16 : expected_bos_200_f32);
  EXPECT_EQ(result.stats.n_generated, 200);
}

// With an F16 KV cache (llama.cpp's default, with which it printed the F32 forms' reference
// text) the same 200 tokens from BOS: rounding keys and values to half precision changes none.
TEST_P(Stories260K, Bos200GreedyTokensWithF16Cache) {
  LLMPP_REQUIRE_SHARED(GetParam().model);
  const LoadedModel loaded = load();
  SessionOptions options{512, 2, 64};
  options.kv_cache_type = DType::F16;
  Session session(loaded, options);
  EXPECT_EQ(session.kv_cache_type(), DType::F16);
  const GenerateResult result = generate_from_tokens(session, {loaded.tokenizer->bos_id()}, greedy(200));
  EXPECT_EQ(result.text, GetParam().bf16 ? expected_bos_200_bf16 : expected_bos_200_f32);
}

INSTANTIATE_TEST_SUITE_P(AllForms, Stories260K, ::testing::ValuesIn(stories_forms),
                         [](const auto& info) { return std::string(info.param.name); });

// Session behaviour on the GGUF form, greedy.
class Session : public ::testing::Test {
 protected:
  void SetUp() override {
    LLMPP_REQUIRE_SHARED(stories_forms[0].model);
    loaded_ = LoadedModel::load(test::shared_path(stories_forms[0].model));
  }
  static GenerateOptions greedy(int n) {
    GenerateOptions options;
    options.max_tokens = n;
    options.sampler.temperature = 0.0f;
    return options;
  }
  LoadedModel loaded_;
};

// A second call on the same session reuses the cached prefix and processes only new tokens.
TEST_F(Session, SecondCallProcessesOnlyNewTokens) {
  llmpp::Session session(loaded_, {512, 1, 64});
  const auto first = generate(session, "Once upon a time", greedy(4));
  EXPECT_EQ(first.stats.n_prompt_tokens, 5);
  const auto second = generate(session, "Once upon a time there was a dog", greedy(4));
  EXPECT_EQ(second.stats.n_reused_tokens, 5);
  EXPECT_EQ(second.stats.n_prompt_tokens,
            static_cast<int64_t>(loaded_.tokenizer->encode("Once upon a time there was a dog").size()) - 5);
}

// A stop string that spans two tokens (" little" and " girl") ends generation, and no part
// of it is printed.
TEST_F(Session, StopStringSpanningTwoTokensIsNeverPrinted) {
  llmpp::Session session(loaded_, {512, 1, 64});
  GenerateOptions options = greedy(60);
  options.stop_strings = {"le girl"};
  std::string streamed;
  const auto result = generate(session, "Once upon a time", options, [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(result.reason, StopReason::stop_string);
  EXPECT_EQ(result.text, ", there was a litt");
  EXPECT_EQ(streamed, result.text);
}

TEST_F(Session, PromptLongerThanContextIsRefused) {
  llmpp::Session session(loaded_, {8, 1, 64});
  EXPECT_THROW(generate(session, "Once upon a time there was a little girl named Lily", {}), LimitError);
}

TEST_F(Session, FullContextIsAStopReasonNotACrash) {
  llmpp::Session session(loaded_, {16, 1, 64});
  const auto result = generate(session, "Once upon a time", greedy(100));
  EXPECT_EQ(result.reason, StopReason::context_full);
  EXPECT_EQ(result.stats.n_generated, 16 - 5 + 1);  // the last sampled token needs no slot
}

}  // namespace
}  // namespace llmpp
