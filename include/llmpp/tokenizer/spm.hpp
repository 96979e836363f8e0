// SentencePiece-BPE (Llama 1/2, Mistral, Phi-3, TinyLlama, stories260K): normalizer, BPE by
// piece score, and byte fallback. Follows sentencepiece's bpe_model.cc and normalizer.cc:
//   1. normalize: optionally drop leading/trailing spaces and collapse runs of spaces
//      (remove_extra_whitespaces), prepend a space (add_dummy_prefix), ' ' -> '▁' (U+2581);
//   2. start from one symbol per UTF-8 character and repeatedly merge the adjacent pair
//      whose concatenation is the vocabulary piece with the highest score (leftmost on ties);
//   3. a symbol that is not a piece becomes its bytes' <0xNN> tokens (byte fallback), or
//      <unk> when the model has no byte tokens (a run of unknowns collapses into one <unk>).
// The precompiled NFKC character map of some SentencePiece models is not applied: the Llama
// family ships the identity normalizer.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/tokenizer/bpe.hpp"
#include "llmpp/tokenizer/segment_encoder.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"
#include "llmpp/tokenizer/vocab.hpp"

namespace llmpp::tokenizer {

// SentencePiece NormalizerSpec flags (GGUF: tokenizer.ggml.add_space_prefix and
// tokenizer.ggml.remove_extra_whitespaces).
struct SpmOptions {
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
};

inline constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // '▁', U+2581 LOWER ONE EIGHTH BLOCK

// "<0xNN>" -> NN, or -1 if `piece` is not a byte token's text.
inline int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    value *= 16;
    if (c >= '0' && c <= '9') value += c - '0';
    else if (c >= 'A' && c <= 'F') value += c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') value += c - 'a' + 10;
    else return -1;
  }
  return value;
}

class SpmEncoder : public SegmentEncoder {
 public:
  SpmEncoder(const Vocab& vocab, SpmOptions options)
      : options_(options), unk_id_(vocab.unk_id), n_vocab_(vocab.size()) {
    byte_ids_.fill(-1);
    ascii_symbol_ids_.fill(-1);
    scores_.assign(vocab.tokens.size(), 0.0f);
    decoded_.resize(vocab.tokens.size());
    for (int32_t id = 0; id < vocab.size(); ++id) {
      const std::string& piece = vocab.tokens[id];
      const TokenType type = vocab.type(id);
      scores_[id] = vocab.score(id);
      // As sentencepiece's model_interface.cc: normal and user-defined pieces take part in
      // merges; control, unknown and byte pieces are reachable only by id. Unused pieces are
      // left out too (sentencepiece forms and then re-splits them; no Llama-family vocab has any).
      if ((type == TokenType::normal || type == TokenType::user_defined) && !piece.empty()) symbol_ids_.emplace(piece, id);
      if (type == TokenType::byte) {
        const int byte = parse_byte_piece(piece);
        if (byte >= 0 && byte_ids_[byte] < 0) byte_ids_[byte] = id;
        if (byte >= 0) decoded_[id] = std::string(1, static_cast<char>(byte));
      } else if (type == TokenType::unknown) {
        decoded_[id] = " \xE2\x81\x87 ";  // sentencepiece's unk surface " ⁇ "
      } else if (type != TokenType::control) {
        decoded_[id] = unescape_spaces(piece);
      }
    }
    for (int32_t id : byte_ids_) has_byte_fallback_ = has_byte_fallback_ || id >= 0;
    build_merge_table();
  }

  void encode(std::string_view text, bool at_start, std::vector<int32_t>& out) const override {
    const std::string normalized = normalize(text, at_start);
    std::vector<BpeSymbol> chunk;     // (n_characters of the chunk) linked list over `normalized`
    std::vector<BpePair<float>> heap;  // scratch for bpe_merge_symbols
    bool previous_unknown = false;
    // Characters that no piece holds side by side can never end up in one token, so the text
    // is cut there and each chunk merged on its own: same result, small heaps, linear time
    // on ordinary text.
    int32_t previous_id = -1;
    for (size_t offset = 0; offset < normalized.size();) {
      const size_t length = utf8_character_length(normalized, offset);
      int32_t id = -1;
      const auto first = static_cast<uint8_t>(normalized[offset]);
      if (length == 1 && first < 0x80) id = ascii_symbol_ids_[first];
      else id = character_ids_.find(character_key(std::string_view(normalized).substr(offset, length)));
      if (!chunk.empty() && (previous_id < 0 || id < 0 || adjacent_.find(IdPairMap::pair_key(previous_id, id)) < 0)) {
        encode_chunk(normalized, chunk, heap, previous_unknown, out);
        chunk.clear();
      }
      push_symbol(chunk, offset, length, id);
      previous_id = id;
      offset += length;
    }
    if (!chunk.empty()) encode_chunk(normalized, chunk, heap, previous_unknown, out);
  }

  std::string token_bytes(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < decoded_.size() ? decoded_[id] : std::string();
  }

  const SpmOptions& options() const { return options_; }

  // Step 1 of the header comment. `at_start`: the dummy prefix applies to this segment.
  std::string normalize(std::string_view text, bool at_start) const {
    std::string result;
    result.reserve(text.size() + text.size() / 2 + 3);
    size_t begin = 0, end = text.size();
    if (options_.remove_extra_whitespaces) {
      while (begin < end && text[begin] == ' ') ++begin;
      while (end > begin && text[end - 1] == ' ') --end;
      if (begin == end) return result;
    }
    if (begin == end) return result;
    if (options_.add_dummy_prefix && at_start) result += kSpmSpace;
    bool previous_space = false;
    for (size_t i = begin; i < end; ++i) {
      const bool space = text[i] == ' ';
      if (!space) result += text[i];
      else if (!(options_.remove_extra_whitespaces && previous_space)) result += kSpmSpace;
      previous_space = space;
    }
    return result;
  }

 private:
  static std::string unescape_spaces(std::string_view piece) {
    std::string text;
    text.reserve(piece.size());
    for (size_t i = 0; i < piece.size();) {
      if (piece.substr(i, kSpmSpace.size()) == kSpmSpace) {
        text += ' ';
        i += kSpmSpace.size();
      } else {
        text += piece[i++];
      }
    }
    return text;
  }

  // Steps 2 and 3 of the header comment on the characters of one chunk.
  void encode_chunk(std::string_view normalized, std::vector<BpeSymbol>& symbols, std::vector<BpePair<float>>& heap,
                    bool& previous_unknown, std::vector<int32_t>& out) const {
    bpe_merge_symbols(symbols, heap, [&](const BpeSymbol& left, const BpeSymbol& right) -> std::optional<BpeMerge<float>> {
      if (left.id < 0 || right.id < 0) return std::nullopt;
      const int32_t merged = merges_.find(IdPairMap::pair_key(left.id, right.id));
      if (merged < 0) return std::nullopt;
      return BpeMerge<float>{-scores_[merged], merged};  // highest score merges first
    });
    for (int32_t i = 0; i != -1; i = symbols[i].next) {
      const BpeSymbol& symbol = symbols[i];
      if (symbol.id >= 0 && symbol.id < n_vocab_) {
        out.push_back(symbol.id);
        previous_unknown = false;
      } else if (has_byte_fallback_) {
        // A byte whose <0xNN> piece the vocabulary lacks is <unk>, as in SentencePiece.
        for (uint32_t k = 0; k < symbol.length; ++k) {
          const int32_t id = byte_ids_[static_cast<uint8_t>(normalized[symbol.begin + k])];
          if (id < 0 && unk_id_ < 0) throw_no_unknown("a byte without its <0xNN> piece");
          out.push_back(id >= 0 ? id : unk_id_);
        }
      } else if (unk_id_ >= 0) {
        if (!previous_unknown) out.push_back(unk_id_);
        previous_unknown = true;
      } else {
        throw_no_unknown("a character outside the vocabulary");
      }
    }
  }

  [[noreturn]] static void throw_no_unknown(const std::string& what) {
    throw InvalidArgument("SentencePiece: text has " + what + " and the model has no <unk>");
  }

  // A character's bytes (at most 4) packed into a key; distinct lengths cannot collide since
  // the lead byte of a UTF-8 sequence encodes its length (stray bytes are single-byte keys).
  static uint64_t character_key(std::string_view character) {
    uint64_t key = 0;
    for (char c : character) key = key << 8 | static_cast<uint8_t>(c);
    return key | static_cast<uint64_t>(character.size()) << 40;
  }

  // Every merge the vocabulary allows, keyed by the ids of its two halves: piece P joins L and
  // R when P == L + R and L, R are themselves symbols. Characters that occur inside pieces
  // but are not pieces get ids from n_vocab up, so that they can still merge. Looking pairs
  // up by id instead of hashing strings is what makes encoding fast.
  void build_merge_table() {
    std::vector<std::pair<std::string, int32_t>> pieces(symbol_ids_.begin(), symbol_ids_.end());
    // Pass 1: every character of every piece gets a symbol id.
    int32_t next_virtual_id = n_vocab_;
    for (const auto& entry : pieces) {
      const std::string& piece = entry.first;
      for (size_t offset = 0, length = 0; offset < piece.size(); offset += length) {
        length = utf8_character_length(piece, offset);
        const std::string character = piece.substr(offset, length);
        const int32_t character_id = symbol_ids_.emplace(character, next_virtual_id).first->second;
        if (character_id == next_virtual_id) ++next_virtual_id;
        character_ids_.insert(character_key(character), character_id);
        if (length == 1 && static_cast<uint8_t>(character[0]) < 0x80) ascii_symbol_ids_[static_cast<uint8_t>(character[0])] = character_id;
      }
    }
    // Pass 2: which characters stand side by side, and which two symbols make each piece.
    for (const auto& [piece, id] : pieces) {
      int32_t previous_character = -1;
      for (size_t offset = 0, length = 0; offset < piece.size(); offset += length) {
        length = utf8_character_length(piece, offset);
        const int32_t character = symbol_ids_.at(piece.substr(offset, length));
        if (offset == 0) {
          previous_character = character;
          continue;
        }
        adjacent_.insert(IdPairMap::pair_key(previous_character, character), 1);
        previous_character = character;
        const auto left = symbol_ids_.find(piece.substr(0, offset));
        const auto right = symbol_ids_.find(piece.substr(offset));
        if (left != symbol_ids_.end() && right != symbol_ids_.end())
          merges_.insert(IdPairMap::pair_key(left->second, right->second), id);
      }
    }
  }

  SpmOptions options_;
  int32_t unk_id_;
  int32_t n_vocab_;
  bool has_byte_fallback_ = false;
  std::unordered_map<std::string, int32_t> symbol_ids_;  // mergeable piece or character -> symbol id
  IdPairMap character_ids_;                              // character_key -> symbol id
  IdPairMap merges_;                                     // (left id, right id) -> merged piece id
  IdPairMap adjacent_;                                   // (character id, character id) side by side in a piece -> 1
  std::array<int32_t, 128> ascii_symbol_ids_{};          // symbol id of each ASCII character, or -1
  std::vector<float> scores_;                            // (n_vocab)
  std::vector<std::string> decoded_;                     // (n_vocab) bytes each token decodes to
  std::array<int32_t, 256> byte_ids_{};                  // byte -> id of its <0xNN> token, or -1
};

// A Tokenizer around SpmEncoder: control tokens (<s>, </s>) become special added tokens and
// user-defined pieces non-special ones (always matched, as sentencepiece does); decode drops
// the dummy prefix's space; the post-processor adds BOS/EOS as the vocab says.
inline Tokenizer make_spm_tokenizer(Vocab vocab, SpmOptions options) {
  if (vocab.token_to_id.empty()) vocab.build_index("sentencepiece");
  auto encoder = std::make_unique<SpmEncoder>(vocab, options);
  TokenizerOptions tokenizer_options;
  tokenizer_options.strip_leading_space_after_bos = options.add_dummy_prefix;
  tokenizer_options.add_bos = vocab.add_bos;
  tokenizer_options.add_eos = vocab.add_eos;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.type(id);
    if ((type == TokenType::control || type == TokenType::user_defined) && !vocab.tokens[id].empty()) {
      AddedToken token;
      token.content = vocab.tokens[id];
      token.id = id;
      token.special = type == TokenType::control;
      tokenizer_options.added_tokens.push_back(std::move(token));
    }
  }
  return Tokenizer(std::move(vocab), std::move(encoder), std::move(tokenizer_options));
}

}  // namespace llmpp::tokenizer
