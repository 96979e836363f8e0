// Fuzzes Hugging Face tokenizer.json (tokenizer/tokenizer_json.hpp): model, normalizer,
// pre-tokenizer, decoder, post-processor and added tokens, then uses the tokenizer built.
// It goes through the file loader, so that its handling of malformed JSON is fuzzed too.
#include <cstdint>

#include "fuzz_tokenizer_util.hpp"
#include "llmpp/tokenizer/tokenizer_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The scratch folder holds no tokenizer_config.json: only this file is read.
  static const llmpp::fuzz::ScratchFile scratch("tokenizer.json");
  try {
    const llmpp::tokenizer::Tokenizer tok = llmpp::tokenizer::load_tokenizer_json(scratch.write(data, size));
    llmpp::fuzz::exercise(tok);
  } catch (const llmpp::Error&) {
  }
  return 0;
}
