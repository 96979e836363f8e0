// Fuzzes encode and decode of one real vocabulary: the input is the text (and, read as
// int32 ids, a sequence to decode). The vocabulary is $LLMPP_FUZZ_VOCAB (any file or folder
// tokenizer/load.hpp reads), by default the stories260K tokenizer.model of the shared folder;
// scripts/fuzz.sh runs this target once per vocabulary found there.
// With LLMPP_FUZZ_ROUNDTRIP=1 it also requires decode(encode(text)) == text, which holds for
// byte-level BPE vocabularies (GPT-2, Llama 3, Qwen2) on any bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz_tokenizer_util.hpp"
#include "llmpp/tokenizer/load.hpp"

namespace {

std::unique_ptr<llmpp::tokenizer::Tokenizer> tokenizer;
bool check_round_trip = false;

std::string vocab_path() {
  if (const char* env = std::getenv("LLMPP_FUZZ_VOCAB"); env && *env) return env;
  const char* shared = std::getenv("LLMPP_SHARED_DIR");
  return std::string(shared && *shared ? shared : LLMPP_SHARED_DIR_DEFAULT) + "/models/stories260K/tok512.model";
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string path = vocab_path();
  try {
    tokenizer = std::make_unique<llmpp::tokenizer::Tokenizer>(llmpp::tokenizer::load_tokenizer(path));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot load the vocabulary %s: %s\n", path.c_str(), e.what());
    std::exit(1);
  }
  const char* round_trip = std::getenv("LLMPP_FUZZ_ROUNDTRIP");
  check_round_trip = round_trip && std::strcmp(round_trip, "1") == 0;
  std::fprintf(stderr, "vocabulary %s: %d tokens%s\n", path.c_str(), tokenizer->n_vocab(),
               check_round_trip ? ", checking round trips" : "");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const llmpp::tokenizer::Tokenizer& tok = *tokenizer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  llmpp::fuzz::round_trip(tok, text);
  if (check_round_trip) {
    const std::string decoded = tok.decode(tok.encode(text, false, false), false);
    if (decoded != text) llmpp::fuzz::violated("decode(encode(text)) != text: '" + decoded + "'");
  }

  // The bytes as ids, folded into [-1, n_vocab]: the two ends must be refused, the rest decode.
  std::vector<int32_t> ids(size / 4);
  if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
  bool any_invalid = false;
  for (int32_t& id : ids) {
    id = static_cast<int32_t>(static_cast<uint32_t>(id) % (static_cast<uint32_t>(tok.n_vocab()) + 2)) - 1;
    any_invalid |= id < 0 || id >= tok.n_vocab();
  }
  try {
    (void)tok.decode(ids, false);
    llmpp::tokenizer::StreamingDecoder streaming(tok);
    for (int32_t id : ids) (void)streaming.push(id);
    (void)streaming.flush();
    if (any_invalid) llmpp::fuzz::violated("decode accepted an id outside the vocabulary");
  } catch (const llmpp::InvalidArgument&) {
    if (!any_invalid) throw;
  }
  return 0;
}
