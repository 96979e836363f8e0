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
  SpmEncoder(const Vocab& vocab, SpmOptions options) : options_(options), unk_id_(vocab.unk_id) {
    byte_ids_.fill(-1);
    scores_.assign(vocab.tokens.size(), 0.0f);
    decoded_.resize(vocab.tokens.size());
    unused_.assign(vocab.tokens.size(), 0);
    for (int32_t id = 0; id < vocab.size(); ++id) {
      const std::string& piece = vocab.tokens[id];
      const TokenType type = vocab.type(id);
      scores_[id] = vocab.score(id);
      // As sentencepiece's model_interface.cc: normal, user-defined and unused pieces take part
      // in merges; control, unknown and byte pieces are reachable only by id.
      if (type == TokenType::normal || type == TokenType::user_defined || type == TokenType::unused)
        mergeable_.emplace(piece, id);
      unused_[id] = type == TokenType::unused;
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
    has_byte_fallback_ = false;
    for (int32_t id : byte_ids_) has_byte_fallback_ = has_byte_fallback_ || id >= 0;
  }

  void encode(std::string_view text, bool at_start, std::vector<int32_t>& out) const override {
    const std::string normalized = normalize(text, at_start);
    if (normalized.empty()) return;
    std::vector<BpeSymbol> symbols;  // (n_characters) linked list over `normalized`
    split_utf8_symbols(normalized, symbols);
    std::string merged;  // scratch for the concatenated pair, reused across lookups
    bpe_merge(normalized, symbols, [&](std::string_view left, std::string_view right) -> std::optional<float> {
      merged.assign(left.data(), left.size());
      merged.append(right.data(), right.size());
      const auto it = mergeable_.find(merged);
      if (it == mergeable_.end()) return std::nullopt;
      return -scores_[it->second];  // highest score merges first
    });
    bool previous_unknown = false;
    for (int32_t i = 0; i != -1; i = symbols[i].next) {
      const std::string_view piece(normalized.data() + symbols[i].begin, symbols[i].length);
      merged.assign(piece.data(), piece.size());
      const auto it = mergeable_.find(merged);
      if (it != mergeable_.end() && !unused_[it->second]) {
        out.push_back(it->second);
        previous_unknown = false;
      } else if (has_byte_fallback_) {
        for (char c : piece) {
          const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
          out.push_back(id >= 0 ? id : unk_id_);
        }
      } else if (unk_id_ >= 0) {
        if (!previous_unknown) out.push_back(unk_id_);
        previous_unknown = true;
      } else {
        throw InvalidArgument("SentencePiece: text has a character outside the vocabulary and the model has no <unk>");
      }
    }
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
    for (size_t i = begin; i < end; ++i) {
      if (text[i] != ' ') {
        result += text[i];
        continue;
      }
      if (options_.remove_extra_whitespaces && text[i - 1] == ' ') continue;  // i > begin: text[begin] != ' '
      result += kSpmSpace;
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

  SpmOptions options_;
  int32_t unk_id_;
  bool has_byte_fallback_ = false;
  std::unordered_map<std::string, int32_t> mergeable_;  // piece -> id, for merge candidates
  std::vector<float> scores_;                           // (n_vocab)
  std::vector<uint8_t> unused_;                         // (n_vocab) 1 for UNUSED pieces
  std::vector<std::string> decoded_;                    // (n_vocab) bytes each token decodes to
  std::array<int32_t, 256> byte_ids_{};                 // byte -> id of its <0xNN> token, or -1
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
