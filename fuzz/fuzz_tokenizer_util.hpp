// Exercises a tokenizer that a fuzz target managed to build: encode a fixed mix of texts,
// decode every id, and require the results to stay inside the vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "llmpp/tokenizer/streaming.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"

namespace llmpp::fuzz {

inline void check_ids(const tokenizer::Tokenizer& tok, const std::vector<int32_t>& ids) {
  for (int32_t id : ids)
    if (id < 0 || id >= tok.n_vocab())
      violated("encode returned id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(tok.n_vocab()));
}

// Encodes `text` both ways, then decodes the ids in one go and streamed; both decoders
// must agree once the streamed text is flushed, when the ids start with BOS (without it the
// streaming decoder, which continues a prompt, keeps a leading space that decode strips).
inline void round_trip(const tokenizer::Tokenizer& tok, std::string_view text) {
  for (const bool parse_special : {false, true}) {
    const std::vector<int32_t> ids = tok.encode(text, true, parse_special);
    check_ids(tok, ids);
    (void)tok.decode(ids, false);
    const std::string decoded = tok.decode(ids, true);
    tokenizer::StreamingDecoder streaming(tok);
    std::string streamed;
    for (int32_t id : ids) streamed += streaming.push(id);
    streamed += streaming.flush();
    // The streaming decoder replaces broken UTF-8 with U+FFFD, so compare only valid text.
    std::string valid;
    tokenizer::append_valid_utf8(decoded, true, valid);
    if (!ids.empty() && ids[0] == tok.bos_id() && valid != streamed) violated("streamed decode differs from decode");
  }
}

// Every id decodes (possibly to nothing), and ids outside the vocabulary are refused.
inline void decode_every_id(const tokenizer::Tokenizer& tok) {
  for (int32_t id = 0; id < tok.n_vocab(); ++id) (void)tok.token_to_piece(id);
  for (const int32_t bad : {-1, tok.n_vocab(), INT32_MIN, INT32_MAX}) {
    try {
      (void)tok.token_to_piece(bad);
      violated("token_to_piece accepted id " + std::to_string(bad));
    } catch (const InvalidArgument&) {
    }
  }
}

// Texts that reach the unusual paths: byte fallback, runs of spaces, broken UTF-8, special
// token look-alikes.
inline void exercise(const tokenizer::Tokenizer& tok) {
  decode_every_id(tok);
  for (std::string_view text : {std::string_view("Hello world"), std::string_view("  two  spaces \t\n"),
                                std::string_view("caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\xA6\x99 \xFF\xC3"),
                                std::string_view("<s></s><unk><|im_end|>"), std::string_view("")})
    round_trip(tok, text);
}

}  // namespace llmpp::fuzz
