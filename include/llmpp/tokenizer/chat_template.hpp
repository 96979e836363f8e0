// Chat prompts for the common instruction-tuned model families, written as C++.
//
// A model file ships its chat template as Jinja code; we never execute it. Instead we
// recognise which family it belongs to by distinctive markers and render that family's
// format here. Each renderer is a transcription of the published template, including its
// quirks (which messages get trimmed, which roles are dropped, which conversations raise),
// and tests/test_chat_template.cpp checks it byte for byte against jinja2's rendering of
// the real template. Where a template raises, we throw InvalidArgument with its message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmpp/core/error.hpp"

namespace llmpp::tokenizer {

struct ChatMessage {
  std::string role, content;  // role: "system", "user", "assistant" (Qwen3 also "tool")
};

struct ChatOptions {
  // Qwen3: false pre-fills an empty <think></think> after the generation prompt, so the model
  // answers without reasoning (the template's enable_thinking=False). Other families ignore it.
  bool enable_thinking = true;
};

enum class ChatTemplateKind {
  Llama2,   // [INST] <<SYS>> ... [/INST], meta-llama/Llama-2-*-chat
  Llama3,   // <|start_header_id|>role<|end_header_id|>, Meta-Llama-3-*-Instruct
  Mistral,  // [INST] ... [/INST] without a system role, Mistral-7B-Instruct-v0.1
  ChatML,   // <|im_start|>role ... <|im_end|>
  Qwen3,    // ChatML plus Qwen3's <think> handling of earlier assistant turns and tool turns
  Phi3,     // <|user|> ... <|end|>, Phi-3 / Phi-3.5 instruct
  Gemma,    // <start_of_turn>user ... <end_of_turn>, no system role
};

inline const char* chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::Llama2: return "llama2";
    case ChatTemplateKind::Llama3: return "llama3";
    case ChatTemplateKind::Mistral: return "mistral";
    case ChatTemplateKind::ChatML: return "chatml";
    case ChatTemplateKind::Qwen3: return "qwen3";
    case ChatTemplateKind::Phi3: return "phi3";
    case ChatTemplateKind::Gemma: return "gemma";
  }
  return "?";
}

inline const std::vector<ChatTemplateKind>& all_chat_templates() {
  static const std::vector<ChatTemplateKind> kinds = {
      ChatTemplateKind::Llama2, ChatTemplateKind::Llama3, ChatTemplateKind::Mistral, ChatTemplateKind::ChatML,
      ChatTemplateKind::Qwen3,  ChatTemplateKind::Phi3,   ChatTemplateKind::Gemma};
  return kinds;
}

inline std::string known_chat_template_names() {
  std::string names;
  for (ChatTemplateKind kind : all_chat_templates()) names += std::string(names.empty() ? "" : ", ") + chat_template_name(kind);
  return names;
}

// For a user override such as --chat-template llama3.
inline ChatTemplateKind chat_template_from_name(const std::string& name) {
  for (ChatTemplateKind kind : all_chat_templates())
    if (name == chat_template_name(kind)) return kind;
  throw InvalidArgument("unknown chat template '" + name + "' (known: " + known_chat_template_names() + ")");
}

// The token a model of this family emits to end its turn: generation stops there.
inline const char* end_of_turn_token(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::Llama2: return "</s>";
    case ChatTemplateKind::Llama3: return "<|eot_id|>";
    case ChatTemplateKind::Mistral: return "</s>";
    case ChatTemplateKind::ChatML: return "<|im_end|>";
    case ChatTemplateKind::Qwen3: return "<|im_end|>";
    case ChatTemplateKind::Phi3: return "<|end|>";
    case ChatTemplateKind::Gemma: return "<end_of_turn>";
  }
  return "";
}

// Recognises a model's own Jinja chat_template by the control tokens it writes.
inline std::optional<ChatTemplateKind> try_detect_chat_template(const std::string& jinja_source) {
  const auto has = [&](const char* marker) { return jinja_source.find(marker) != std::string::npos; };
  if (has("<|start_header_id|>")) return ChatTemplateKind::Llama3;
  if (has("<|im_start|>")) return has("<think>") ? ChatTemplateKind::Qwen3 : ChatTemplateKind::ChatML;
  if (has("<start_of_turn>")) return ChatTemplateKind::Gemma;
  if (has("<|user|>") && has("<|end|>")) return ChatTemplateKind::Phi3;
  if (has("[INST]")) return has("<<SYS>>") ? ChatTemplateKind::Llama2 : ChatTemplateKind::Mistral;
  return std::nullopt;
}

inline ChatTemplateKind detect_chat_template(const std::string& jinja_source) {
  if (std::optional<ChatTemplateKind> kind = try_detect_chat_template(jinja_source)) return *kind;
  throw InvalidArgument("unrecognised chat template (" + std::to_string(jinja_source.size()) +
                        " bytes of Jinja); choose one by name: " + known_chat_template_names());
}

namespace detail {

// Python's str.isspace() code points, which str.strip() and Jinja's |trim remove.
inline bool is_python_space(uint32_t code_point) {
  return (code_point >= 0x09 && code_point <= 0x0D) || (code_point >= 0x1C && code_point <= 0x20) ||
         code_point == 0x85 || code_point == 0xA0 || code_point == 0x1680 ||
         (code_point >= 0x2000 && code_point <= 0x200A) || code_point == 0x2028 || code_point == 0x2029 ||
         code_point == 0x202F || code_point == 0x205F || code_point == 0x3000;
}

// Byte length of the Python white-space character at the start of `text`, or 0. Every such
// character encodes in 1 to 3 UTF-8 bytes.
inline size_t python_space_length(std::string_view text) {
  if (text.empty()) return 0;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  if (byte(0) < 0x80) return is_python_space(byte(0)) ? 1 : 0;
  if (text.size() >= 2 && (byte(0) & 0xE0) == 0xC0 && (byte(1) & 0xC0) == 0x80) {
    const uint32_t code_point = (uint32_t(byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    return is_python_space(code_point) ? 2 : 0;
  }
  if (text.size() >= 3 && (byte(0) & 0xF0) == 0xE0 && (byte(1) & 0xC0) == 0x80 && (byte(2) & 0xC0) == 0x80) {
    const uint32_t code_point = (uint32_t(byte(0) & 0x0F) << 12) | (uint32_t(byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    return is_python_space(code_point) ? 3 : 0;
  }
  return 0;
}

// Python's str.strip() on UTF-8 text (Jinja's |trim filter is the same).
inline std::string_view python_strip(std::string_view text) {
  while (size_t length = python_space_length(text)) text.remove_prefix(length);
  for (bool stripped = true; stripped && !text.empty();) {
    stripped = false;
    for (size_t length = 1; length <= 3 && length <= text.size(); ++length) {
      if (python_space_length(text.substr(text.size() - length)) == length) {
        text.remove_suffix(length);
        stripped = true;
        break;
      }
    }
  }
  return text;
}

// Python's str.lstrip('\n') / rstrip('\n').
inline std::string_view lstrip_newlines(std::string_view text) {
  while (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  return text;
}
inline std::string_view rstrip_newlines(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

inline bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }
inline bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The check in the Llama 2, Mistral and Gemma templates: user turns at even positions,
// anything else at odd ones.
inline void check_alternation(ChatTemplateKind kind, const ChatMessage& message, size_t position) {
  if ((message.role == "user") != (position % 2 == 0))
    throw InvalidArgument(std::string("chat template ") + chat_template_name(kind) +
                          ": Conversation roles must alternate user/assistant/user/assistant/... (message " +
                          std::to_string(position) + " has role '" + message.role + "')");
}

inline void append(std::string& out, std::string_view text) { out.append(text.data(), text.size()); }

// The system message, if any, goes inside the first [INST] block; content is stripped.
inline void render_llama2(const std::vector<ChatMessage>& messages, const std::string& bos, const std::string& eos,
                          std::string& out) {
  const bool has_system = messages[0].role == "system";
  const size_t first = has_system ? 1 : 0;
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    check_alternation(ChatTemplateKind::Llama2, message, i - first);
    const std::string content = (i == first && has_system)
                                    ? "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + message.content
                                    : message.content;
    if (message.role == "user") {
      out += bos + "[INST] ";
      append(out, python_strip(content));
      out += " [/INST]";
    } else if (message.role == "assistant") {
      out += " ";
      append(out, python_strip(content));
      out += " " + eos;
    }  // the template drops any other role
  }
}

inline void render_llama3(const std::vector<ChatMessage>& messages, bool add_generation_prompt, const std::string& bos,
                          std::string& out) {
  out += bos;
  for (const ChatMessage& message : messages) {
    out += "<|start_header_id|>" + message.role + "<|end_header_id|>\n\n";
    append(out, python_strip(message.content));
    out += "<|eot_id|>";
  }
  // The original Meta-Llama-3-Instruct template appends the header unconditionally; like
  // Meta's later template we honour add_generation_prompt.
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

inline void render_mistral(const std::vector<ChatMessage>& messages, const std::string& bos, const std::string& eos,
                           std::string& out) {
  out += bos;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    check_alternation(ChatTemplateKind::Mistral, message, i);
    if (message.role == "user") {
      out += "[INST] " + message.content + " [/INST]";
    } else if (message.role == "assistant") {
      out += message.content + eos;
    } else {
      throw InvalidArgument("chat template mistral: Only user and assistant roles are supported! (message " +
                            std::to_string(i) + " has role '" + message.role + "')");
    }
  }
}

inline void render_chatml(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::string& out) {
  for (const ChatMessage& message : messages) out += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
}

// Qwen3: ChatML, but an assistant turn's "<think>...</think>" reasoning is dropped before
// the last user query and kept (as a normalised <think> block) after it, where the model is
// in the middle of a tool-calling sequence. Tool results are grouped into one user turn.
inline void render_qwen3(const std::vector<ChatMessage>& messages, bool add_generation_prompt, bool enable_thinking,
                         std::string& out) {
  const size_t n_messages = messages.size();
  if (messages[0].role == "system") out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";

  // The last user message that is not a wrapped tool response; the last message if none.
  size_t last_query = n_messages - 1;
  for (size_t i = n_messages; i-- > 0;) {
    const std::string& content = messages[i].content;
    if (messages[i].role == "user" &&
        !(starts_with(content, "<tool_response>") && ends_with(content, "</tool_response>"))) {
      last_query = i;
      break;
    }
  }

  for (size_t i = 0; i < n_messages; ++i) {
    const ChatMessage& message = messages[i];
    const bool is_last = i + 1 == n_messages;
    if (message.role == "user" || (message.role == "system" && i != 0)) {
      out += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n";
    } else if (message.role == "assistant") {
      std::string_view content = message.content, reasoning;
      const size_t first_close = content.find("</think>");
      if (first_close != std::string_view::npos) {
        // As the template's Python: reasoning = text before the first </think>, after the
        // last <think>; content = text after the last </think>.
        std::string_view before = rstrip_newlines(content.substr(0, first_close));
        const size_t open = before.rfind("<think>");
        if (open != std::string_view::npos) before.remove_prefix(open + std::string_view("<think>").size());
        reasoning = lstrip_newlines(before);
        content = lstrip_newlines(content.substr(content.rfind("</think>") + std::string_view("</think>").size()));
      }
      out += "<|im_start|>assistant\n";
      if (i > last_query && (is_last || !reasoning.empty())) {
        out += "<think>\n";
        append(out, lstrip_newlines(rstrip_newlines(reasoning)));
        out += "\n</think>\n\n";
        append(out, lstrip_newlines(content));
      } else {
        append(out, content);
      }
      out += "<|im_end|>\n";
    } else if (message.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + message.content + "\n</tool_response>";
      if (is_last || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }  // the template drops any other role
  }
  if (add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!enable_thinking) out += "<think>\n\n</think>\n\n";
  }
}

// Phi-3.5-mini-instruct: an empty system message and unknown roles are dropped.
inline void render_phi3(const std::vector<ChatMessage>& messages, bool add_generation_prompt, const std::string& eos,
                        std::string& out) {
  for (const ChatMessage& message : messages) {
    if (message.role == "system" && !message.content.empty()) {
      out += "<|system|>\n" + message.content + "<|end|>\n";
    } else if (message.role == "user") {
      out += "<|user|>\n" + message.content + "<|end|>\n";
    } else if (message.role == "assistant") {
      out += "<|assistant|>\n" + message.content + "<|end|>\n";
    }
  }
  out += add_generation_prompt ? "<|assistant|>\n" : eos;
}

// Gemma has no system role; the assistant's turns are the "model"'s.
inline void render_gemma(const std::vector<ChatMessage>& messages, bool add_generation_prompt, const std::string& bos,
                         std::string& out) {
  out += bos;
  if (messages[0].role == "system") throw InvalidArgument("chat template gemma: System role not supported");
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    check_alternation(ChatTemplateKind::Gemma, message, i);
    out += "<start_of_turn>" + (message.role == "assistant" ? std::string("model") : message.role) + "\n";
    append(out, python_strip(message.content));
    out += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
}

}  // namespace detail

// The prompt text for `messages`; add_generation_prompt appends the header of the
// assistant's next turn (Llama 2 and Mistral have none: their prompt ends with [/INST]).
// bos_token / eos_token are the model's strings, e.g. "<s>" / "</s>".
inline std::string render_chat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                               bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token,
                               const ChatOptions& options = ChatOptions()) {
  if (messages.empty()) throw InvalidArgument(std::string("chat template ") + chat_template_name(kind) + ": no messages");
  std::string out;
  switch (kind) {
    case ChatTemplateKind::Llama2: detail::render_llama2(messages, bos_token, eos_token, out); break;
    case ChatTemplateKind::Llama3: detail::render_llama3(messages, add_generation_prompt, bos_token, out); break;
    case ChatTemplateKind::Mistral: detail::render_mistral(messages, bos_token, eos_token, out); break;
    case ChatTemplateKind::ChatML: detail::render_chatml(messages, add_generation_prompt, out); break;
    case ChatTemplateKind::Qwen3:
      detail::render_qwen3(messages, add_generation_prompt, options.enable_thinking, out);
      break;
    case ChatTemplateKind::Phi3: detail::render_phi3(messages, add_generation_prompt, eos_token, out); break;
    case ChatTemplateKind::Gemma: detail::render_gemma(messages, add_generation_prompt, bos_token, out); break;
  }
  return out;
}

}  // namespace llmpp::tokenizer
