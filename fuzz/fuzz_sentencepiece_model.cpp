// Fuzzes SentencePiece's tokenizer.model reader (tokenizer/sentencepiece_model.hpp): the
// hand-written protobuf decoder, the vocabulary checks, and the tokenizer built from it.
#include <cstdint>

#include "fuzz_tokenizer_util.hpp"
#include "llmpp/tokenizer/sentencepiece_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmpp::tokenizer;
  try {
    SentencePieceModel model = parse_sentencepiece_model(data, size, "fuzz.model");
    const Tokenizer tok = make_spm_tokenizer(std::move(model.vocab), model.normalizer);
    llmpp::fuzz::exercise(tok);
  } catch (const llmpp::Error&) {
  }
  return 0;
}
