// Fuzzes Hugging Face tokenizer.json (tokenizer/tokenizer_json.hpp): model, normalizer,
// pre-tokenizer, decoder, post-processor and added tokens, then uses the tokenizer built.
// The JSON text itself is parsed by nlohmann/json; everything after that is ours.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "fuzz_tokenizer_util.hpp"
#include "llmpp/tokenizer/tokenizer_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::parse_error&) {
    return 0;  // not JSON: load_tokenizer_json turns this into a FormatError before us
  }
  try {
    const llmpp::tokenizer::Tokenizer tok = llmpp::tokenizer::tokenizer_from_json(root, nullptr, "tokenizer.json");
    llmpp::fuzz::exercise(tok);
  } catch (const llmpp::Error&) {
  }
  return 0;
}
