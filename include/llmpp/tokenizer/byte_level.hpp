// Hugging Face-style BPE (Radford et al. 2019, "Language Models are Unsupervised Multitask
// Learners", sec. 2.2): merges ranked by their line in merges.txt, applied inside each
// pre-token. Covers the byte-level family (GPT-2, StarCoder, DeepSeek, Llama 3, Qwen2), whose
// pre-tokenizer maps every byte to a visible character first (ByteLevelAlphabet), and the
// SentencePiece-style BPE of tokenizer.json files (Phi-3), which falls back to <0xNN> tokens.
//
//   BpeModel    merges + vocabulary: one pre-token -> ids
//   BpeDecoder  the bytes each id stands for (inverse byte map, <0xNN>, '▁' -> ' ')
//   BpeEncoder  SegmentEncoder = Normalizer -> PreTokenizer -> BpeModel, for Tokenizer
//
// Loaders: GPT-2's vocab.json + merges.txt, and GGUF files with tokenizer.ggml.model "gpt2".
// tokenizer.json is in tokenizer_json.hpp.
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

#include <nlohmann/json.hpp>

#include "llmpp/core/error.hpp"
#include "llmpp/io/gguf.hpp"
#include "llmpp/tokenizer/bpe.hpp"
#include "llmpp/tokenizer/pretokenize.hpp"
#include "llmpp/tokenizer/segment_encoder.hpp"
#include "llmpp/tokenizer/spm.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"
#include "llmpp/tokenizer/vocab.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"

namespace llmpp::tokenizer {

struct BpeModelOptions {
  bool byte_fallback = false;  // a character outside the vocabulary -> its <0xNN> tokens
  bool fuse_unk = false;       // a run of unknown characters -> one unk
  bool ignore_merges = false;  // a pre-token that is itself a vocabulary entry is emitted whole (Llama 3)
  int32_t unk_id = -1;
};

class BpeModel {
 public:
  // `merges`: (left, right) in rank order. `source` names the file for errors.
  BpeModel(const std::vector<std::string>& tokens, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeModelOptions options, const std::string& source)
      : options_(options), tokens_(tokens) {
    ids_.reserve(tokens_.size());
    for (size_t id = 0; id < tokens_.size(); ++id) ids_.emplace(tokens_[id], static_cast<int32_t>(id));
    ascii_ids_.fill(-1);
    for (int byte = 0; byte < 0x80; ++byte) {
      const char character = static_cast<char>(byte);
      ascii_ids_[byte] = find(std::string_view(&character, 1));
    }
    byte_ids_.fill(-1);
    for (size_t id = 0; id < tokens_.size(); ++id)
      if (const int byte = parse_byte_piece(tokens_[id]); byte >= 0 && byte_ids_[byte] < 0) byte_ids_[byte] = static_cast<int32_t>(id);
    if (options_.unk_id >= static_cast<int32_t>(tokens_.size()))
      throw ConfigError(source, "unk_token", "id " + std::to_string(options_.unk_id) + " outside the vocabulary");

    merged_ids_.reserve(merges.size());
    std::string joined;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [left, right] = merges[rank];
      joined = left + right;
      const int32_t left_id = find(left), right_id = find(right), joined_id = find(joined);
      if (left_id < 0 || right_id < 0 || joined_id < 0)
        throw ConfigError(source, "merges[" + std::to_string(rank) + "]",
                          "'" + left + " " + right + "' uses a token outside the vocabulary");
      // The first (best-ranked) occurrence of a duplicate merge wins, as in HF.
      merge_ranks_.insert(IdPairMap::pair_key(left_id, right_id), static_cast<int32_t>(rank));
      merged_ids_.push_back(joined_id);
    }
  }

  // Id of `token`, or -1.
  int32_t find(std::string_view token) const {
    const auto it = ids_.find(token);
    return it == ids_.end() ? -1 : it->second;
  }
  const BpeModelOptions& options() const { return options_; }
  size_t n_merges() const { return merged_ids_.size(); }

  // Appends the ids of one pre-token. `symbols` and `heap` are scratch space.
  void encode(std::string_view piece, std::vector<BpeSymbol>& symbols, std::vector<BpePair<int32_t>>& heap,
              std::vector<int32_t>& out) const {
    if (piece.empty()) return;
    if (piece.size() >= UINT32_MAX)  // BpeSymbol offsets are 32-bit
      throw LimitError("BPE: a pre-token of " + std::to_string(piece.size()) + " bytes exceeds 4 GiB");
    if (options_.ignore_merges) {
      if (const int32_t id = find(piece); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    symbols.clear();
    for (size_t offset = 0; offset < piece.size();) {
      const size_t length = utf8_character_length(piece, offset);
      const auto first = static_cast<uint8_t>(piece[offset]);
      const int32_t id = (length == 1 && first < 0x80) ? ascii_ids_[first] : find(piece.substr(offset, length));
      push_symbol(symbols, offset, length, id);
      offset += length;
    }
    bpe_merge_symbols(symbols, heap, [&](const BpeSymbol& left, const BpeSymbol& right) -> std::optional<BpeMerge<int32_t>> {
      if (left.id < 0 || right.id < 0) return std::nullopt;
      const int32_t rank = merge_ranks_.find(IdPairMap::pair_key(left.id, right.id));
      if (rank < 0) return std::nullopt;
      return BpeMerge<int32_t>{rank, merged_ids_[rank]};  // lowest rank first
    });
    bool previous_unknown = false;
    for (int32_t i = 0; i != -1; i = symbols[i].next) {
      const BpeSymbol& symbol = symbols[i];
      if (symbol.id >= 0) {
        out.push_back(symbol.id);
        previous_unknown = false;
        continue;
      }
      if (options_.byte_fallback) {
        for (uint32_t k = 0; k < symbol.length; ++k) {
          const int32_t id = byte_ids_[static_cast<uint8_t>(piece[symbol.begin + k])];
          if (id < 0) throw_unknown(piece.substr(symbol.begin, symbol.length));
          out.push_back(id);
        }
        previous_unknown = false;
        continue;
      }
      if (options_.unk_id < 0) throw_unknown(piece.substr(symbol.begin, symbol.length));
      if (!(options_.fuse_unk && previous_unknown)) out.push_back(options_.unk_id);
      previous_unknown = true;
    }
  }

 private:
  [[noreturn]] static void throw_unknown(std::string_view character) {
    std::string hex;
    for (char c : character) {
      static const char digits[] = "0123456789ABCDEF";
      hex += digits[static_cast<uint8_t>(c) >> 4];
      hex += digits[static_cast<uint8_t>(c) & 15];
    }
    throw InvalidArgument("BPE: character 0x" + hex + " is not in the vocabulary, and the model has neither byte fallback nor an unk token");
  }

  BpeModelOptions options_;
  std::vector<std::string> tokens_;                       // (n_vocab) storage behind ids_'s keys
  std::unordered_map<std::string_view, int32_t> ids_;     // token -> id
  IdPairMap merge_ranks_;                                 // (left id, right id) -> rank
  std::vector<int32_t> merged_ids_;                       // (n_merges) id of each merge's result
  std::array<int32_t, 128> ascii_ids_;                    // single ASCII characters, for speed
  std::array<int32_t, 256> byte_ids_;                     // <0xNN> tokens, or -1
};

// What each token decodes to: the per-token steps of a tokenizer.json decoder, in order.
// (Fuse only joins strings; Strip of one leading space is TokenizerOptions's
// strip_leading_space_after_bos.)
class BpeDecoder {
 public:
  enum class Kind { byte_level, byte_fallback, replace };
  struct Step {
    Kind kind;
    std::string pattern, content;  // replace
  };

  void add_byte_level() { steps_.push_back({Kind::byte_level, {}, {}}); }
  void add_byte_fallback() { steps_.push_back({Kind::byte_fallback, {}, {}}); }
  void add_replace(std::string pattern, std::string content) {
    if (pattern.empty()) throw InvalidArgument("BpeDecoder: Replace with an empty pattern");
    steps_.push_back({Kind::replace, std::move(pattern), std::move(content)});
  }

  std::string decode(std::string_view token) const {
    std::string text(token);
    for (const Step& step : steps_) {
      switch (step.kind) {
        case Kind::byte_level: {
          // HF: a token with a character outside the alphabet is left as it is.
          std::string bytes;
          if (ByteLevelAlphabet::instance().decode(text, bytes)) text.swap(bytes);
          break;
        }
        case Kind::byte_fallback:
          if (const int byte = parse_byte_piece(text); byte >= 0) text.assign(1, static_cast<char>(byte));
          break;
        case Kind::replace: text = Normalizer::replace_all(text, step.pattern, step.content); break;
      }
    }
    return text;
  }

 private:
  std::vector<Step> steps_;
};

class BpeEncoder : public SegmentEncoder {
 public:
  BpeEncoder(const Vocab& vocab, Normalizer normalizer, PreTokenizer pre_tokenizer, BpeModel model, const BpeDecoder& decoder)
      : normalizer_(std::move(normalizer)), pre_tokenizer_(std::move(pre_tokenizer)), model_(std::move(model)) {
    decoded_.reserve(vocab.tokens.size());
    for (const std::string& token : vocab.tokens) decoded_.push_back(decoder.decode(token));
  }

  void encode(std::string_view text, bool at_start, std::vector<int32_t>& out) const override {
    std::string normalized(text);
    normalizer_.apply(normalized);
    std::vector<std::string> pieces;
    pre_tokenizer_.apply(normalized, at_start, pieces);
    std::vector<BpeSymbol> symbols;
    std::vector<BpePair<int32_t>> heap;
    for (const std::string& piece : pieces) model_.encode(piece, symbols, heap, out);
  }

  std::string token_bytes(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < decoded_.size() ? decoded_[id] : std::string();
  }

  const PreTokenizer& pre_tokenizer() const { return pre_tokenizer_; }
  const BpeModel& model() const { return model_; }

 private:
  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  BpeModel model_;
  std::vector<std::string> decoded_;  // (n_vocab) bytes of each token
};

// ---------------------------------------------------------------------------------------
// Pre-tokenizers of the byte-level models, by GGUF's tokenizer.ggml.pre name.

inline PreTokenizer byte_level_pre_tokenizer(const std::string& pre, const std::string& source) {
  PreTokenizer pre_tokenizer;
  if (pre.empty() || pre == "default" || pre == "gpt-2" || pre == "gpt2") {
    pre_tokenizer.add_byte_level(false, true);
  } else if (pre == "starcoder" || pre == "refact" || pre == "smollm" || pre == "codeshell") {
    pre_tokenizer.add_digits(true);  // Sequence[Digits(individual_digits), ByteLevel(use_regex)]
    pre_tokenizer.add_byte_level(false, true);
  } else if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "dbrx" || pre == "smaug-bpe") {
    pre_tokenizer.add_split(SplitPattern::llama3(), SplitBehavior::isolated);
    pre_tokenizer.add_byte_level(false, false);
  } else if (pre == "qwen2") {
    pre_tokenizer.add_split(SplitPattern::qwen2(), SplitBehavior::isolated);
    pre_tokenizer.add_byte_level(false, false);
  } else if (pre == "deepseek-llm") {
    for (const std::string& regex : deepseek_llm_split_regexes())
      pre_tokenizer.add_split(SplitPattern::parse(regex, source), SplitBehavior::isolated);
    pre_tokenizer.add_byte_level(false, false);
  } else {
    throw ConfigError(source, "tokenizer.ggml.pre",
                      "unsupported pre-tokenizer '" + pre +
                          "' (known: gpt-2, starcoder, refact, smollm, codeshell, llama-bpe, dbrx, smaug-bpe, qwen2, deepseek-llm)");
  }
  return pre_tokenizer;
}

// The added tokens of a vocabulary whose control / user-defined entries are written in the
// token types (GGUF): control tokens are special, user-defined ones match in any text.
inline std::vector<AddedToken> added_tokens_from_types(const Vocab& vocab) {
  std::vector<AddedToken> added;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.type(id);
    if ((type != TokenType::control && type != TokenType::user_defined) || vocab.tokens[id].empty()) continue;
    AddedToken token;
    token.content = vocab.tokens[id];
    token.id = id;
    token.special = type == TokenType::control;
    added.push_back(std::move(token));
  }
  return added;
}

// End-of-generation tokens by their usual names, besides EOS.
inline void add_known_eog_tokens(Vocab& vocab) {
  for (const char* name : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|endoftext|>", "<|end|>", "<end_of_turn>",
                           "<|end_of_text|>", "<｜end▁of▁sentence｜>"}) {
    const int32_t id = vocab.find(name);
    if (id >= 0 && std::find(vocab.eog_ids.begin(), vocab.eog_ids.end(), id) == vocab.eog_ids.end()) vocab.eog_ids.push_back(id);
  }
}

// "a b" -> (a, b): exactly one space, as HF requires.
inline std::pair<std::string, std::string> split_merge_line(std::string_view line, const std::string& source, size_t index) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 >= line.size() || line.find(' ', space + 1) != std::string_view::npos)
    throw ConfigError(source, "merges[" + std::to_string(index) + "]", "'" + std::string(line) + "' is not two tokens separated by one space");
  return {std::string(line.substr(0, space)), std::string(line.substr(space + 1))};
}

// GPT-2 as published by OpenAI: vocab.json ({"token": id}) and merges.txt ("#version" line,
// then one "left right" merge per line, best first). <|endoftext|> is BOS, EOS and special.
inline Tokenizer load_gpt2_vocab_merges(const std::string& vocab_json_path, const std::string& merges_txt_path) {
  nlohmann::json vocab_json;
  try {
    vocab_json = nlohmann::json::parse(read_text_file(vocab_json_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(vocab_json_path, "json", 0, e.what());
  }
  if (!vocab_json.is_object()) throw FormatError(vocab_json_path, "json", 0, "expected an object of token -> id");
  Vocab vocab;
  vocab.tokens.resize(vocab_json.size());
  std::vector<uint8_t> seen(vocab_json.size(), 0);
  for (const auto& [token, id_value] : vocab_json.items()) {
    if (!id_value.is_number_integer()) throw FormatError(vocab_json_path, token, 0, "id is not an integer");
    const int64_t id = id_value.get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(vocab.tokens.size()) || seen[id])
      throw FormatError(vocab_json_path, token, 0, "id " + std::to_string(id) + " is out of range or repeated");
    vocab.tokens[id] = token;
    seen[id] = 1;
  }

  const std::string merges_text = read_text_file(merges_txt_path);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t line_begin = 0;
  for (size_t index = 0; line_begin < merges_text.size(); ++index) {
    size_t line_end = merges_text.find('\n', line_begin);
    if (line_end == std::string::npos) line_end = merges_text.size();
    std::string_view line(merges_text.data() + line_begin, line_end - line_begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && !(index == 0 && line.substr(0, 8) == "#version")) merges.push_back(split_merge_line(line, merges_txt_path, index));
    line_begin = line_end + 1;
  }

  vocab.types.assign(vocab.tokens.size(), TokenType::normal);
  const int32_t end_of_text = static_cast<int32_t>(std::find(vocab.tokens.begin(), vocab.tokens.end(), "<|endoftext|>") - vocab.tokens.begin());
  if (end_of_text < vocab.size()) {
    vocab.types[end_of_text] = TokenType::control;
    vocab.bos_id = vocab.eos_id = end_of_text;
  }
  vocab.build_index(vocab_json_path);

  PreTokenizer pre_tokenizer;
  pre_tokenizer.add_byte_level(false, true);
  BpeDecoder decoder;
  decoder.add_byte_level();
  BpeModel model(vocab.tokens, merges, BpeModelOptions{}, merges_txt_path);
  TokenizerOptions options;
  options.added_tokens = added_tokens_from_types(vocab);
  auto encoder = std::make_unique<BpeEncoder>(vocab, Normalizer(), std::move(pre_tokenizer), std::move(model), decoder);
  return Tokenizer(std::move(vocab), std::move(encoder), std::move(options));
}

// A GGUF file whose tokenizer.ggml.model is "gpt2" (byte-level BPE); tokenizer.ggml.pre
// selects the pre-tokenizer (see byte_level_pre_tokenizer).
inline Tokenizer byte_level_from_gguf(const io::GGUFFile& gguf) {
  const std::string& source = gguf.path();
  const std::string model_name = gguf.get_string("tokenizer.ggml.model", "");
  if (model_name != "gpt2")
    throw ConfigError(source, "tokenizer.ggml.model", "'" + model_name + "' is not a byte-level BPE vocabulary (\"gpt2\")");

  Vocab vocab;
  vocab.tokens = gguf.get("tokenizer.ggml.tokens").as_strings();
  if (const io::GGUFValue* types = gguf.find("tokenizer.ggml.token_type")) {
    const std::vector<int64_t> values = types->as_ints();
    vocab.types.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i] < 1 || values[i] > 6)
        throw FormatError(source, "tokenizer.ggml.token_type[" + std::to_string(i) + "]", types->offset(),
                          "unknown token type " + std::to_string(values[i]));
      vocab.types.push_back(static_cast<TokenType>(values[i]));
    }
  }
  vocab.bos_id = static_cast<int32_t>(gguf.get_int("tokenizer.ggml.bos_token_id", -1));
  vocab.eos_id = static_cast<int32_t>(gguf.get_int("tokenizer.ggml.eos_token_id", -1));
  vocab.unk_id = static_cast<int32_t>(gguf.get_int("tokenizer.ggml.unknown_token_id", -1));
  vocab.pad_id = static_cast<int32_t>(gguf.get_int("tokenizer.ggml.padding_token_id", -1));
  vocab.add_bos = gguf.get_bool("tokenizer.ggml.add_bos_token", false);
  vocab.add_eos = gguf.get_bool("tokenizer.ggml.add_eos_token", false);
  vocab.chat_template = gguf.get_string("tokenizer.chat_template", "");
  if (const int64_t eot = gguf.get_int("tokenizer.ggml.eot_token_id", -1); eot >= 0) vocab.eog_ids.push_back(static_cast<int32_t>(eot));
  vocab.build_index(source);
  add_known_eog_tokens(vocab);

  std::vector<std::pair<std::string, std::string>> merges;
  const std::vector<std::string>& merge_lines = gguf.get("tokenizer.ggml.merges").as_strings();
  merges.reserve(merge_lines.size());
  for (size_t i = 0; i < merge_lines.size(); ++i) merges.push_back(split_merge_line(merge_lines[i], source + ": tokenizer.ggml.merges", i));

  const std::string pre = gguf.get_string("tokenizer.ggml.pre", "default");
  BpeModelOptions model_options;
  model_options.ignore_merges = pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3";  // as in llama.cpp
  model_options.unk_id = vocab.unk_id;
  BpeDecoder decoder;
  decoder.add_byte_level();
  BpeModel model(vocab.tokens, merges, model_options, source);
  TokenizerOptions options;
  options.added_tokens = added_tokens_from_types(vocab);
  options.add_bos = vocab.add_bos;
  options.add_eos = vocab.add_eos;
  auto encoder = std::make_unique<BpeEncoder>(vocab, Normalizer(), byte_level_pre_tokenizer(pre, source), std::move(model), decoder);
  return Tokenizer(std::move(vocab), std::move(encoder), std::move(options));
}

}  // namespace llmpp::tokenizer
