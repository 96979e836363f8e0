// Fuzzes llama2.c's tokenizer.bin reader (tokenizer/llama2c_tokenizer.hpp) and the
// SentencePiece tokenizer built from it.
#include <cstdint>

#include "fuzz_tokenizer_util.hpp"
#include "llmpp/tokenizer/llama2c_tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmpp::tokenizer;
  try {
    const Tokenizer tok = make_spm_tokenizer(parse_llama2c_tokenizer(data, size, "fuzz.bin"), SpmOptions{});
    llmpp::fuzz::exercise(tok);
  } catch (const llmpp::Error&) {
  }
  return 0;
}
