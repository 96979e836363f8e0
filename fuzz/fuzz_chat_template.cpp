// Fuzzes chat template detection and rendering (tokenizer/chat_template.hpp). The input is
// NUL-separated fields: the Jinja source, the BOS and EOS strings, then role and content
// pairs (scripts/gen_fuzz_corpus.py writes seeds in this layout).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "llmpp/tokenizer/chat_template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmpp::tokenizer;
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) fields.emplace_back();
    else fields.back() += static_cast<char>(data[i]);
  }
  fields.resize(std::max<size_t>(fields.size(), 3));
  std::vector<ChatMessage> messages;
  for (size_t i = 3; i + 1 < fields.size(); i += 2) messages.push_back({fields[i], fields[i + 1]});

  const std::optional<ChatTemplateKind> detected = try_detect_chat_template(fields[0]);
  // Render with the detected family, and with every family (as a user choosing by name would).
  std::vector<ChatTemplateKind> kinds = all_chat_templates();
  if (detected) kinds.insert(kinds.begin(), *detected);
  for (const ChatTemplateKind kind : kinds) {
    if (chat_template_from_name(chat_template_name(kind)) != kind) llmpp::fuzz::violated("chat template name round trip");
    for (const bool add_generation_prompt : {false, true}) {
      try {
        (void)render_chat(kind, messages, add_generation_prompt, fields[1], fields[2]);
      } catch (const llmpp::InvalidArgument&) {
      }
    }
  }
  try {
    (void)detect_chat_template(fields[0]);
  } catch (const llmpp::InvalidArgument&) {
  }
  return 0;
}
