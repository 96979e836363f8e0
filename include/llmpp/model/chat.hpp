// A multi-turn chat on top of a Session. Every turn renders the whole conversation with the
// model's chat template (a built-in C++ renderer: template code from a model file is never
// executed) and hands the tokens to the session, which reuses its KV cache for the prefix
// it already holds: only the new turn's tokens are processed.
#pragma once

#include <string>
#include <vector>

#include "llmpp/model/generate.hpp"
#include "llmpp/tokenizer/chat_template.hpp"

namespace llmpp {

// The model's own template (GGUF tokenizer.chat_template or tokenizer_config.json),
// recognised among the built-in ones; `override_name` wins when given. A model without a
// recognisable template falls back to ChatML, as llama.cpp does.
inline tokenizer::ChatTemplateKind choose_chat_template(const tokenizer::Tokenizer& tok,
                                                        const std::string& override_name = "") {
  if (!override_name.empty()) return tokenizer::chat_template_from_name(override_name);
  if (auto kind = tokenizer::try_detect_chat_template(tok.vocab().chat_template)) return *kind;
  return tokenizer::ChatTemplateKind::ChatML;
}

class ChatSession {
 public:
  ChatSession(Session& session, tokenizer::ChatTemplateKind kind, const std::string& system_prompt = "")
      : session_(session), kind_(kind) {
    if (!system_prompt.empty()) messages_.push_back({"system", system_prompt});
    const tokenizer::Tokenizer& tok = session_.tokenizer();
    const int32_t end_of_turn = tok.vocab().find(tokenizer::end_of_turn_token(kind_));
    if (end_of_turn >= 0) end_of_turn_id_ = end_of_turn;
  }

  tokenizer::ChatTemplateKind template_kind() const { return kind_; }
  const std::vector<tokenizer::ChatMessage>& messages() const { return messages_; }

  // Adds the user's message, generates the assistant's reply (streamed through on_text),
  // and records the reply in the conversation.
  GenerateResult send(const std::string& user_text, GenerateOptions options, const TokenCallback& on_text = {}) {
    const tokenizer::Tokenizer& tok = session_.tokenizer();
    messages_.push_back({"user", user_text});
    const std::string rendered = tokenizer::render_chat(kind_, messages_, true, token_text(tok.bos_id()),
                                                        token_text(tok.eos_id()));
    // The rendered text carries the template's control tokens (and BOS) as text: parse them.
    // User text is inside it too, so a user can type a control token; the conversation is
    // theirs, as with transformers' apply_chat_template.
    std::vector<int32_t> tokens = tok.encode(rendered, false, true);
    if (end_of_turn_id_ >= 0) options.extra_end_ids.push_back(end_of_turn_id_);
    GenerateResult result = generate_from_tokens(session_, tokens, options, on_text);
    messages_.push_back({"assistant", result.text});
    return result;
  }

 private:
  std::string token_text(int32_t id) const {
    const tokenizer::Tokenizer& tok = session_.tokenizer();
    return id >= 0 && id < tok.n_vocab() ? tok.vocab().tokens[static_cast<size_t>(id)] : std::string();
  }

  Session& session_;
  tokenizer::ChatTemplateKind kind_;
  int32_t end_of_turn_id_ = -1;
  std::vector<tokenizer::ChatMessage> messages_;
};

}  // namespace llmpp
