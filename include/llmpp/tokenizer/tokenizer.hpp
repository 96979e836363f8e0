// A complete tokenizer: added/special tokens, the post-processor's BOS/EOS, and decoding,
// around a SegmentEncoder that knows the model (SentencePiece-BPE or byte-level BPE).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/tokenizer/segment_encoder.hpp"
#include "llmpp/tokenizer/vocab.hpp"

namespace llmpp::tokenizer {

// A token matched verbatim in the input before the model sees the text (HF's added_tokens).
// special: matched only when the caller asks for it (parse_special) and skipped by decode.
// lstrip / rstrip: the match swallows the whitespace on its left / right. normalized is kept
// for completeness; matching is always on the raw text.
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = true, lstrip = false, rstrip = false, normalized = false;
};

struct TokenizerOptions {
  bool strip_leading_space_after_bos = false;  // SPM decoders drop the dummy prefix's space
  std::vector<AddedToken> added_tokens;
  // Post-processor: what encode(text, add_special = true) wraps the ids in.
  bool add_bos = false, add_eos = false;
};

// Settings a model folder's tokenizer_config.json (or a caller) can impose on a loaded
// tokenizer; unset fields keep the tokenizer's own values.
struct TokenizerOverrides {
  std::optional<bool> add_bos, add_eos;
  std::optional<int32_t> bos_id, eos_id;
  std::optional<std::string> chat_template;
  std::vector<int32_t> extra_eog_ids;
};

// Decode state carried from token to token (see Tokenizer::append_piece).
struct DecodeState {
  // The next text piece starts the text: SPM drops its leading space (the dummy prefix).
  // True at the start of decode() and after BOS; special tokens leave it alone.
  bool at_text_start = true;
};

class Tokenizer {
 public:
  Tokenizer(Vocab vocab, std::unique_ptr<SegmentEncoder> encoder, TokenizerOptions options)
      : vocab_(std::move(vocab)), encoder_(std::move(encoder)), options_(std::move(options)) {
    if (!encoder_) throw InvalidArgument("Tokenizer: null segment encoder");
    if (vocab_.token_to_id.empty() && !vocab_.tokens.empty()) vocab_.build_index("tokenizer");
    added_index_.assign(vocab_.tokens.size(), -1);
    is_special_.assign(vocab_.tokens.size(), 0);
    for (int32_t id = 0; id < vocab_.size(); ++id) is_special_[id] = vocab_.type(id) == TokenType::control;
    for (size_t i = 0; i < options_.added_tokens.size(); ++i) {
      const AddedToken& token = options_.added_tokens[i];
      if (!vocab_.contains(token.id))
        throw ConfigError("tokenizer", "added_tokens", "'" + token.content + "' has id " + std::to_string(token.id) +
                                                           " outside the vocabulary of " + std::to_string(vocab_.size()));
      if (token.content.empty()) throw ConfigError("tokenizer", "added_tokens", "empty content for id " + std::to_string(token.id));
      added_index_[token.id] = static_cast<int32_t>(i);
      if (token.special) is_special_[token.id] = 1;
      by_first_byte_[static_cast<uint8_t>(token.content[0])].push_back(static_cast<int32_t>(i));
    }
    // Longest match first: a token that is a prefix of another must not win.
    for (auto& bucket : by_first_byte_)
      std::stable_sort(bucket.begin(), bucket.end(), [&](int32_t a, int32_t b) {
        return options_.added_tokens[a].content.size() > options_.added_tokens[b].content.size();
      });
  }

  // add_special: prepend BOS / append EOS as the model's post-processor says.
  // parse_special: recognise special added tokens ("<|im_end|>") in `text`; by default such
  // text from a user is tokenized as plain text. Non-special added tokens always match, as in HF.
  std::vector<int32_t> encode(std::string_view text, bool add_special = true, bool parse_special = false) const {
    std::vector<int32_t> ids;
    if (add_special && options_.add_bos && vocab_.bos_id >= 0) ids.push_back(vocab_.bos_id);
    bool at_start = true;
    size_t segment_begin = 0;  // start of the plain text not yet encoded
    size_t position = 0;
    while (position < text.size()) {
      const AddedToken* match = match_added(text, position, parse_special);
      if (!match) {
        ++position;
        continue;
      }
      size_t segment_end = position;
      if (match->lstrip)
        while (segment_end > segment_begin && is_space(text[segment_end - 1])) --segment_end;
      if (segment_end > segment_begin) encoder_->encode(text.substr(segment_begin, segment_end - segment_begin), at_start, ids);
      ids.push_back(match->id);
      at_start = true;
      position += match->content.size();
      if (match->rstrip)
        while (position < text.size() && is_space(text[position])) ++position;
      segment_begin = position;
    }
    if (segment_begin < text.size()) encoder_->encode(text.substr(segment_begin), at_start, ids);
    if (add_special && options_.add_eos && vocab_.eos_id >= 0) ids.push_back(vocab_.eos_id);
    return ids;
  }

  // skip_special: leave out control tokens (BOS, EOS, ...) and special added tokens.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const {
    std::string text;
    DecodeState state;
    for (int32_t id : ids) append_piece(id, skip_special, state, text);
    return text;
  }

  // Appends the bytes of token `id` to `out`, one step of decode (StreamingDecoder uses it).
  void append_piece(int32_t id, bool skip_special, DecodeState& state, std::string& out) const {
    check_id(id);
    if (id == vocab_.bos_id) state.at_text_start = true;
    if (is_special_[id]) {
      if (!skip_special) out += token_to_piece(id);
      return;
    }
    std::string piece = token_to_piece(id);
    if (piece.empty()) return;
    // Only the first text piece loses its space, even when that leaves it empty ("▁" then
    // "▁Hello" decodes to " Hello", as HF's Strip decoder and sentencepiece do).
    if (state.at_text_start && options_.strip_leading_space_after_bos && piece[0] == ' ') piece.erase(0, 1);
    state.at_text_start = false;
    out += piece;
  }

  // The bytes token `id` stands for: its text for added and control tokens, else the model's
  // decoding of the piece (which may be a lone byte of a multi-byte character).
  std::string token_to_piece(int32_t id) const {
    check_id(id);
    if (added_index_[id] >= 0) return options_.added_tokens[added_index_[id]].content;
    if (vocab_.type(id) == TokenType::control) return vocab_.tokens[id];
    return encoder_->token_bytes(id);
  }

  // Applies `overrides` (see TokenizerOverrides); ids must lie inside the vocabulary.
  void apply(const TokenizerOverrides& overrides) {
    for (const std::optional<int32_t>& id : {overrides.bos_id, overrides.eos_id})
      if (id) check_id(*id);
    for (int32_t id : overrides.extra_eog_ids) check_id(id);
    if (overrides.add_bos) options_.add_bos = *overrides.add_bos;
    if (overrides.add_eos) options_.add_eos = *overrides.add_eos;
    if (overrides.bos_id) vocab_.bos_id = *overrides.bos_id;
    if (overrides.eos_id) vocab_.eos_id = *overrides.eos_id;
    if (overrides.chat_template) vocab_.chat_template = *overrides.chat_template;
    std::vector<int32_t> eog = overrides.extra_eog_ids;
    if (overrides.eos_id) eog.push_back(*overrides.eos_id);
    for (int32_t id : eog)
      if (!is_eog(id)) vocab_.eog_ids.push_back(id);
  }

  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }
  const SegmentEncoder& encoder() const { return *encoder_; }
  int32_t n_vocab() const { return vocab_.size(); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  bool is_special(int32_t id) const { return vocab_.contains(id) && is_special_[id]; }
  bool is_eog(int32_t id) const {
    return std::find(vocab_.eog_ids.begin(), vocab_.eog_ids.end(), id) != vocab_.eog_ids.end();
  }

 private:
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

  void check_id(int32_t id) const {
    if (!vocab_.contains(id))
      throw InvalidArgument("token id " + std::to_string(id) + " outside the vocabulary of " +
                            std::to_string(vocab_.size()) + " tokens");
  }

  // The longest added token that starts at `position`, or null.
  const AddedToken* match_added(std::string_view text, size_t position, bool parse_special) const {
    for (int32_t index : by_first_byte_[static_cast<uint8_t>(text[position])]) {
      const AddedToken& token = options_.added_tokens[index];
      if (token.special && !parse_special) continue;
      if (text.compare(position, token.content.size(), token.content) == 0) return &token;
    }
    return nullptr;
  }

  Vocab vocab_;
  std::unique_ptr<SegmentEncoder> encoder_;
  TokenizerOptions options_;
  std::vector<int32_t> added_index_;  // (n_vocab) index into options_.added_tokens, or -1
  std::vector<uint8_t> is_special_;   // (n_vocab) control tokens and special added tokens
  std::array<std::vector<int32_t>, 256> by_first_byte_;  // added tokens by first byte, longest first
};

}  // namespace llmpp::tokenizer
