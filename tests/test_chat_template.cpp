// Chat templates: the C++ renderers against jinja2's rendering of the real templates
// (scripts/reference/gen_chat_templates.py), byte for byte, including the conversations
// the templates refuse; and detection of each template's Jinja source.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmpp/tokenizer/chat_template.hpp"
#include "test_util.hpp"

namespace {

using llmpp::InvalidArgument;
using namespace llmpp::tokenizer;

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

const nlohmann::json& manifest() {
  static const nlohmann::json parsed =
      nlohmann::json::parse(read_file(llmpp::test::data_path("chat_templates/manifest.json")));
  return parsed;
}

std::vector<ChatMessage> conversation(const std::string& name) {
  std::vector<ChatMessage> messages;
  for (const auto& message : manifest()["conversations"][name])
    messages.push_back({message["role"].get<std::string>(), message["content"].get<std::string>()});
  return messages;
}

TEST(ChatTemplate, MatchesJinjaRenderingOfTheRealTemplates) {
  size_t n_rendered = 0, n_raising = 0;
  for (const auto& c : manifest()["cases"]) {
    const std::string name = c["template"];
    const auto& info = manifest()["templates"][name];
    ChatOptions options;
    if (c.contains("enable_thinking")) options.enable_thinking = c["enable_thinking"].get<bool>();
    const std::string label = name + " / " + c["conversation"].get<std::string>() +
                              (c["add_generation_prompt"].get<bool>() ? "" : " / no generation prompt") +
                              (options.enable_thinking ? "" : " / enable_thinking=false");
    const auto render = [&] {
      return render_chat(chat_template_from_name(name), conversation(c["conversation"]),
                         c["add_generation_prompt"].get<bool>(), info["bos_token"], info["eos_token"], options);
    };
    if (c.contains("raises")) {
      EXPECT_THROW(render(), InvalidArgument) << label << ": jinja raised '" << c["raises"].get<std::string>() << "'";
      ++n_raising;
    } else {
      const std::string expected = read_file(llmpp::test::data_path("chat_templates/" + c["output"].get<std::string>()));
      EXPECT_EQ(render(), expected) << label;
      ++n_rendered;
    }
  }
  // Every template renders the spec's system/user/assistant/user conversation (Gemma and
  // Mistral v1, which refuse a system role, the user/assistant/user one).
  EXPECT_GE(n_rendered, 70u);
  EXPECT_GE(n_raising, 10u);
}

TEST(ChatTemplate, ConversationWithSystemMatchesForEveryTemplate) {
  // The headline case, spelled out: golden file per template.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"llama2", "system_user_assistant_user"}, {"llama3", "system_user_assistant_user"},
      {"mistral", "user_assistant_user"},       {"chatml", "system_user_assistant_user"},
      {"qwen3", "system_user_assistant_user"},  {"phi3", "system_user_assistant_user"},
      {"gemma", "user_assistant_user"}};
  for (const auto& [name, conversation_name] : cases) {
    const auto& info = manifest()["templates"][name];
    const std::string expected = read_file(llmpp::test::data_path("chat_templates/" + name + "__" + conversation_name + ".txt"));
    EXPECT_EQ(render_chat(chat_template_from_name(name), conversation(conversation_name), true, info["bos_token"],
                          info["eos_token"]),
              expected)
        << name;
  }
}

TEST(ChatTemplate, SystemRoleRefusedByGemmaAndMistral) {
  const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi"}};
  EXPECT_THROW(render_chat(ChatTemplateKind::Gemma, messages, true, "<bos>", "<eos>"), InvalidArgument);
  EXPECT_THROW(render_chat(ChatTemplateKind::Mistral, messages, true, "<s>", "</s>"), InvalidArgument);
  EXPECT_THROW(render_chat(ChatTemplateKind::ChatML, {}, true, "", ""), InvalidArgument);
}

TEST(ChatTemplate, DetectsEachStoredTemplateSource) {
  for (const std::string name : {"llama2", "mistral", "chatml", "phi3", "gemma"}) {
    const std::string source = read_file(llmpp::test::data_path("chat_templates/" + name + ".jinja"));
    EXPECT_EQ(chat_template_name(detect_chat_template(source)), name);
  }
  EXPECT_THROW(detect_chat_template("{{ messages[0]['content'] }}"), InvalidArgument);
  EXPECT_FALSE(try_detect_chat_template("{{ messages[0]['content'] }}").has_value());
}

// The real templates of the tokenizers in ../shared.
TEST(ChatTemplate, DetectsTheSharedTokenizersTemplates) {
  LLMPP_REQUIRE_SHARED("tokenizers/llama3/tokenizer_config.json");
  LLMPP_REQUIRE_SHARED("tokenizers/qwen3/tokenizer_config.json");
  for (const std::string name : {"llama3", "qwen3"}) {
    const std::string config = read_file(llmpp::test::shared_path("tokenizers/" + name + "/tokenizer_config.json"));
    const std::string source = nlohmann::json::parse(config)["chat_template"].get<std::string>();
    EXPECT_EQ(chat_template_name(detect_chat_template(source)), name);
  }
}

TEST(ChatTemplate, NamesAndEndOfTurnTokens) {
  for (ChatTemplateKind kind : all_chat_templates()) EXPECT_EQ(chat_template_from_name(chat_template_name(kind)), kind);
  EXPECT_STREQ(end_of_turn_token(ChatTemplateKind::Llama3), "<|eot_id|>");
  EXPECT_STREQ(end_of_turn_token(ChatTemplateKind::ChatML), "<|im_end|>");
  EXPECT_STREQ(end_of_turn_token(ChatTemplateKind::Qwen3), "<|im_end|>");
  EXPECT_STREQ(end_of_turn_token(ChatTemplateKind::Phi3), "<|end|>");
  EXPECT_STREQ(end_of_turn_token(ChatTemplateKind::Gemma), "<end_of_turn>");
  EXPECT_STREQ(end_of_turn_token(ChatTemplateKind::Llama2), "</s>");
  try {
    chat_template_from_name("vicuna");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("vicuna"), std::string::npos) << message;
    EXPECT_NE(message.find("llama2, llama3, mistral, chatml, qwen3, phi3, gemma"), std::string::npos) << message;
  }
}

TEST(ChatTemplate, PythonStripMatchesStrIsspace) {
  // Expected values follow Python: "\u00a0\u3000 x\u2009\x1f\u0085".strip() == "x".
  using detail::python_strip;
  EXPECT_EQ(python_strip("\xC2\xA0\xE3\x80\x80 x\xE2\x80\x89\x1F\xC2\x85"), "x");
  EXPECT_EQ(python_strip(" \t\n\r\v\f"), "");
  EXPECT_EQ(python_strip("a b"), "a b");
  // U+200B (zero width space) is not white space for Python; U+00E9 is a letter.
  EXPECT_EQ(python_strip("\xE2\x80\x8B" "a\xC3\xA9 "), "\xE2\x80\x8B" "a\xC3\xA9");
  EXPECT_EQ(python_strip("\xE2\x80\x8A"), "");  // U+200A hair space
}

}  // namespace
