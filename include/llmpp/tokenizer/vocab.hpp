// The token table shared by every tokenizer family: pieces, scores, types and the ids of
// the special tokens, as GGUF's tokenizer.ggml.* keys and HF's tokenizer files describe them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "llmpp/core/error.hpp"

namespace llmpp::tokenizer {

// GGUF tokenizer.ggml.token_type values (the same numbering as SentencePiece's piece types + 1).
enum class TokenType : int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct Vocab {
  std::vector<std::string> tokens;   // (n_vocab) piece text, as stored by the model (SPM: '▁' for space)
  std::vector<float> scores;         // (n_vocab) SPM log-probabilities; empty or zeros for byte-level BPE
  std::vector<TokenType> types;      // (n_vocab)
  std::unordered_map<std::string, int32_t> token_to_id;

  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  std::vector<int32_t> eog_ids;      // end of generation: eos, eot, <|im_end|>, ...
  bool add_bos = false, add_eos = false;
  std::string chat_template;

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  bool contains(int32_t id) const { return id >= 0 && id < size(); }

  // Id of `token`, or -1 if the vocabulary has no such piece.
  int32_t find(std::string_view token) const {
    const auto it = token_to_id.find(std::string(token));
    return it == token_to_id.end() ? -1 : it->second;
  }

  TokenType type(int32_t id) const { return contains(id) && !types.empty() ? types[id] : TokenType::normal; }
  float score(int32_t id) const { return contains(id) && !scores.empty() ? scores[id] : 0.0f; }

  // Fills token_to_id from tokens (the first occurrence of a duplicate piece wins, as in
  // SentencePiece) and pads scores/types to n_vocab. `source` names the file for errors.
  void build_index(const std::string& source) {
    if (!scores.empty() && scores.size() != tokens.size())
      throw ConfigError(source, "scores", "has " + std::to_string(scores.size()) + " entries for " +
                                              std::to_string(tokens.size()) + " tokens");
    if (!types.empty() && types.size() != tokens.size())
      throw ConfigError(source, "token_type", "has " + std::to_string(types.size()) + " entries for " +
                                                  std::to_string(tokens.size()) + " tokens");
    scores.resize(tokens.size(), 0.0f);
    types.resize(tokens.size(), TokenType::normal);
    token_to_id.clear();
    token_to_id.reserve(tokens.size());
    for (int32_t id = 0; id < size(); ++id) token_to_id.emplace(tokens[id], id);
    for (const auto& [field, id] : {std::pair<const char*, int32_t>{"bos_token_id", bos_id}, {"eos_token_id", eos_id},
                                    {"unknown_token_id", unk_id}, {"padding_token_id", pad_id}}) {
      if (id < -1 || id >= size())
        throw ConfigError(source, field, "id " + std::to_string(id) + " outside the vocabulary of " +
                                             std::to_string(size()) + " tokens");
    }
    for (int32_t id : eog_ids)
      if (!contains(id)) throw ConfigError(source, "eog_ids", "id " + std::to_string(id) + " outside the vocabulary");
    if (eos_id >= 0 && std::find(eog_ids.begin(), eog_ids.end(), eos_id) == eog_ids.end()) eog_ids.push_back(eos_id);
  }
};

}  // namespace llmpp::tokenizer
