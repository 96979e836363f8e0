// Hugging Face tokenizer.json (the `tokenizers` library's serialisation) for BPE models, plus
// the tokenizer_config.json beside it when present.
//
// Supported, which covers Llama 3, Qwen2/3, GPT-2-style and Phi-3 (SentencePiece-style BPE):
//   model          BPE: vocab, merges ("a b" strings or [a, b] pairs), byte_fallback, fuse_unk,
//                  ignore_merges, unk_token
//   normalizer     Sequence, Prepend, Replace (String pattern), NFC
//   pre_tokenizer  Sequence, Split (known regexes, one-character String), ByteLevel, Digits, Metaspace
//   decoder        Sequence, ByteLevel, ByteFallback, Fuse, Replace (String), Strip (one leading
//                  space), Metaspace
//   post_processor TemplateProcessing (a BOS before $A, an EOS after it), ByteLevel, Sequence
//   added_tokens   content, id, special, lstrip, rstrip, normalized
// Anything else is a ConfigError naming the file and the field, never a silent guess.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/tokenizer/byte_level.hpp"
#include "llmpp/tokenizer/pretokenize.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"
#include "llmpp/tokenizer/vocab.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"

namespace llmpp::tokenizer {

namespace tokenizer_json_detail {

using nlohmann::json;

// Reads a tokenizer.json section and names `field` in errors.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const { throw ConfigError(source_, field, message); }

  const json& member(const json& object, const char* key, const std::string& field) const {
    if (!object.is_object() || !object.contains(key)) fail(field, std::string("missing '") + key + "'");
    return object.at(key);
  }
  std::string string(const json& object, const char* key, const std::string& field) const {
    const json& value = member(object, key, field);
    if (!value.is_string()) fail(field + "." + key, "expected a string");
    return value.get<std::string>();
  }
  bool boolean(const json& object, const char* key, bool fallback, const std::string& field) const {
    if (!object.contains(key) || object.at(key).is_null()) return fallback;
    const json& value = object.at(key);
    if (!value.is_boolean()) fail(field + "." + key, "expected true or false");
    return value.get<bool>();
  }
  std::string type(const json& object, const std::string& field) const { return string(object, "type", field); }

  // {"String": s} -> s; a {"Regex": r} is returned through `regex` (empty for String).
  std::string pattern(const json& object, const std::string& field, std::string* regex) const {
    const json& pattern = member(object, "pattern", field);
    if (pattern.contains("String") && pattern.at("String").is_string()) return pattern.at("String").get<std::string>();
    if (regex && pattern.contains("Regex") && pattern.at("Regex").is_string()) {
      *regex = pattern.at("Regex").get<std::string>();
      return {};
    }
    fail(field + ".pattern", "expected {\"String\": ...}" + std::string(regex ? " or {\"Regex\": ...}" : ""));
  }

 private:
  std::string source_;
};

// The steps of a component that may be a Sequence of its kind.
inline std::vector<const json*> flatten(const Reader& reader, const json& node, const char* list_key, const std::string& field) {
  std::vector<const json*> steps;
  if (node.is_null()) return steps;
  if (reader.type(node, field) == "Sequence") {
    const json& list = reader.member(node, list_key, field);
    if (!list.is_array()) reader.fail(field + "." + list_key, "expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::vector<const json*> inner = flatten(reader, list[i], list_key, field + "." + list_key + "[" + std::to_string(i) + "]");
      steps.insert(steps.end(), inner.begin(), inner.end());
    }
  } else {
    steps.push_back(&node);
  }
  return steps;
}

inline Normalizer read_normalizer(const Reader& reader, const json& node) {
  Normalizer normalizer;
  for (const json* step : flatten(reader, node, "normalizers", "normalizer")) {
    const std::string type = reader.type(*step, "normalizer");
    if (type == "Prepend") normalizer.add_prepend(reader.string(*step, "prepend", "normalizer.Prepend"));
    else if (type == "Replace") normalizer.add_replace(reader.pattern(*step, "normalizer.Replace", nullptr), reader.string(*step, "content", "normalizer.Replace"));
    else if (type == "NFC") normalizer.add_nfc();
    else reader.fail("normalizer", "unsupported normalizer type '" + type + "'");
  }
  return normalizer;
}

inline SplitBehavior read_behavior(const Reader& reader, const std::string& name) {
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  reader.fail("pre_tokenizer.Split.behavior", "unknown behavior '" + name + "'");
}

// A one-code-point String pattern as a class regex; longer literal strings are not supported.
inline std::string literal_as_regex(const Reader& reader, const std::string& literal) {
  if (literal.empty() || decode_utf8(literal, 0).length != literal.size() || decode_utf8(literal, 0).code_point >= invalid_byte_base)
    reader.fail("pre_tokenizer.Split.pattern", "String pattern '" + literal + "' is not a single character (unsupported)");
  const std::string special = "\\[]-^";
  if (literal.size() == 1 && special.find(literal[0]) != std::string::npos) return "[\\" + literal + "]";
  return "[" + literal + "]";
}

inline PreTokenizer read_pre_tokenizer(const Reader& reader, const json& node) {
  PreTokenizer pre_tokenizer;
  for (const json* step : flatten(reader, node, "pretokenizers", "pre_tokenizer")) {
    const std::string type = reader.type(*step, "pre_tokenizer");
    if (type == "Split") {
      if (reader.boolean(*step, "invert", false, "pre_tokenizer.Split")) reader.fail("pre_tokenizer.Split.invert", "invert = true is not supported");
      std::string regex;
      const std::string literal = reader.pattern(*step, "pre_tokenizer.Split", &regex);
      if (regex.empty()) regex = literal_as_regex(reader, literal);
      pre_tokenizer.add_split(SplitPattern::parse(regex, reader.source()),
                              read_behavior(reader, reader.string(*step, "behavior", "pre_tokenizer.Split")));
    } else if (type == "ByteLevel") {
      pre_tokenizer.add_byte_level(reader.boolean(*step, "add_prefix_space", true, "pre_tokenizer.ByteLevel"),
                                   reader.boolean(*step, "use_regex", true, "pre_tokenizer.ByteLevel"));
    } else if (type == "Digits") {
      pre_tokenizer.add_digits(reader.boolean(*step, "individual_digits", false, "pre_tokenizer.Digits"));
    } else if (type == "Metaspace") {
      std::string scheme = step->contains("prepend_scheme") ? reader.string(*step, "prepend_scheme", "pre_tokenizer.Metaspace")
                           : reader.boolean(*step, "add_prefix_space", true, "pre_tokenizer.Metaspace") ? "always" : "never";
      if (scheme != "always" && scheme != "first" && scheme != "never")
        reader.fail("pre_tokenizer.Metaspace.prepend_scheme", "unknown scheme '" + scheme + "'");
      pre_tokenizer.add_metaspace(reader.string(*step, "replacement", "pre_tokenizer.Metaspace"), scheme == "always", scheme == "first",
                                  reader.boolean(*step, "split", true, "pre_tokenizer.Metaspace"));
    } else {
      reader.fail("pre_tokenizer", "unsupported pre-tokenizer type '" + type + "'");
    }
  }
  return pre_tokenizer;
}

// Fills `decoder` and says whether the decoded text loses one leading space (Strip, Metaspace).
inline bool read_decoder(const Reader& reader, const json& node, BpeDecoder& decoder) {
  bool strip_leading_space = false;
  for (const json* step : flatten(reader, node, "decoders", "decoder")) {
    const std::string type = reader.type(*step, "decoder");
    if (type == "ByteLevel") {
      decoder.add_byte_level();
    } else if (type == "ByteFallback") {
      decoder.add_byte_fallback();
    } else if (type == "Fuse") {
      // joins the token strings: nothing to do per token
    } else if (type == "Replace") {
      decoder.add_replace(reader.pattern(*step, "decoder.Replace", nullptr), reader.string(*step, "content", "decoder.Replace"));
    } else if (type == "Strip") {
      const json& start = reader.member(*step, "start", "decoder.Strip");
      const json& stop = reader.member(*step, "stop", "decoder.Strip");
      const std::string content = reader.string(*step, "content", "decoder.Strip");
      if (!start.is_number_integer() || !stop.is_number_integer() || start.get<int64_t>() > 1 || stop.get<int64_t>() != 0 ||
          (start.get<int64_t>() == 1 && content != " "))
        reader.fail("decoder.Strip", "only Strip(' ', start <= 1, stop = 0) is supported");
      strip_leading_space = strip_leading_space || start.get<int64_t>() == 1;
    } else if (type == "Metaspace") {
      const std::string replacement = reader.string(*step, "replacement", "decoder.Metaspace");
      decoder.add_replace(replacement, " ");
      const std::string scheme = step->contains("prepend_scheme") ? reader.string(*step, "prepend_scheme", "decoder.Metaspace")
                                 : reader.boolean(*step, "add_prefix_space", true, "decoder.Metaspace") ? "always" : "never";
      strip_leading_space = strip_leading_space || scheme != "never";
    } else {
      reader.fail("decoder", "unsupported decoder type '" + type + "'");
    }
  }
  return strip_leading_space;
}

// TemplateProcessing's single-sequence template: at most one special token before $A (BOS)
// and one after it (EOS).
inline void read_post_processor(const Reader& reader, const json& node, Vocab& vocab, TokenizerOptions& options) {
  for (const json* step : flatten(reader, node, "processors", "post_processor")) {
    const std::string type = reader.type(*step, "post_processor");
    if (type == "ByteLevel") continue;  // offsets only
    if (type != "TemplateProcessing") reader.fail("post_processor", "unsupported post-processor type '" + type + "'");
    const json& single = reader.member(*step, "single", "post_processor.single");
    if (!single.is_array()) reader.fail("post_processor.single", "expected an array");
    bool seen_sequence = false;
    for (size_t i = 0; i < single.size(); ++i) {
      const std::string field = "post_processor.single[" + std::to_string(i) + "]";
      if (single[i].contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      const std::string name = reader.string(reader.member(single[i], "SpecialToken", field), "id", field + ".SpecialToken");
      int32_t id = vocab.find(name);
      const json& specials = step->contains("special_tokens") ? step->at("special_tokens") : json::object();
      if (specials.contains(name) && specials.at(name).contains("ids") && specials.at(name).at("ids").size() == 1)
        id = specials.at(name).at("ids")[0].get<int32_t>();
      if (!vocab.contains(id)) reader.fail(field, "special token '" + name + "' is not in the vocabulary");
      bool& flag = seen_sequence ? options.add_eos : options.add_bos;
      if (flag) reader.fail("post_processor.single", "more than one special token on one side of $A");
      flag = true;
      (seen_sequence ? vocab.eos_id : vocab.bos_id) = id;
    }
  }
}

// bos_token etc. in tokenizer_config.json: a string or {"content": ...}.
inline std::string config_token(const json& config, const char* key) {
  if (!config.contains(key)) return {};
  const json& value = config.at(key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string()) return value.at("content").get<std::string>();
  return {};
}

inline void read_config(const Reader& reader, const json& config, Vocab& vocab, TokenizerOptions& options) {
  const auto token_id = [&](const char* key, int32_t& id) {
    const std::string name = config_token(config, key);
    if (name.empty()) return;
    const int32_t found = vocab.find(name);
    if (found < 0) reader.fail(key, "'" + name + "' is not in the vocabulary");
    id = found;
  };
  token_id("bos_token", vocab.bos_id);
  token_id("eos_token", vocab.eos_id);
  token_id("unk_token", vocab.unk_id);
  token_id("pad_token", vocab.pad_id);
  options.add_bos = reader.boolean(config, "add_bos_token", options.add_bos, "tokenizer_config");
  options.add_eos = reader.boolean(config, "add_eos_token", options.add_eos, "tokenizer_config");
  if (config.contains("chat_template")) {
    const json& chat_template = config.at("chat_template");
    if (chat_template.is_string()) {
      vocab.chat_template = chat_template.get<std::string>();
    } else if (chat_template.is_array()) {  // [{"name": "default", "template": ...}, ...]
      for (const json& entry : chat_template)
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") && entry.at("template").is_string())
          vocab.chat_template = entry.at("template").get<std::string>();
    }
  }
}

inline json parse_json_file(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::parse_error& e) {
    throw FormatError(path, "json", e.byte, e.what());
  } catch (const json::exception& e) {  // a number too large for a double
    throw FormatError(path, "json", 0, e.what());
  }
}

}  // namespace tokenizer_json_detail

// A parsed tokenizer.json (and tokenizer_config.json, or null). `source` names the file in errors.
inline Tokenizer tokenizer_from_json(const nlohmann::json& root, const nlohmann::json* config, const std::string& source) {
  using namespace tokenizer_json_detail;
  const Reader reader(source);
  const json& model = reader.member(root, "model", "model");
  const std::string model_type = model.contains("type") ? reader.type(model, "model") : "BPE";
  if (model_type != "BPE") reader.fail("model.type", "unsupported model type '" + model_type + "' (only BPE)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && !model.at(key).is_null() && model.at(key) != "")
      reader.fail(std::string("model.") + key, "subword prefixes/suffixes are not supported");
  if (model.contains("dropout") && !model.at("dropout").is_null() && model.at("dropout") != 0)
    reader.fail("model.dropout", "BPE dropout is not supported");

  // Tokens by id: the model's vocab, then the added tokens (which may lie beyond it).
  Vocab vocab;
  const json& vocab_json = reader.member(model, "vocab", "model.vocab");
  if (!vocab_json.is_object()) reader.fail("model.vocab", "expected an object of token -> id");
  const json empty_list = json::array();
  const json& added_json = root.contains("added_tokens") && root.at("added_tokens").is_array() ? root.at("added_tokens") : empty_list;
  int64_t n_vocab = 0;
  for (const auto& [token, id] : vocab_json.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      reader.fail("model.vocab", "token '" + token + "' has an invalid id");
    n_vocab = std::max(n_vocab, id.get<int64_t>() + 1);
  }
  for (size_t i = 0; i < added_json.size(); ++i) {
    const json& id = reader.member(added_json[i], "id", "added_tokens[" + std::to_string(i) + "]");
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      reader.fail("added_tokens[" + std::to_string(i) + "].id", "invalid id");
    n_vocab = std::max(n_vocab, id.get<int64_t>() + 1);
  }
  // Ids index a table: a lone id of 2^31 - 1 must not allocate 2^31 tokens (found by fuzz_tokenizer_json).
  const int64_t n_defined = static_cast<int64_t>(vocab_json.size() + added_json.size());
  if (n_vocab > n_defined + 65536) reader.fail("model.vocab", "ids reach " + std::to_string(n_vocab - 1) + " but only " + std::to_string(n_defined) + " tokens are defined");
  vocab.tokens.resize(static_cast<size_t>(n_vocab));
  vocab.types.assign(static_cast<size_t>(n_vocab), TokenType::unused);  // ids nobody names stay unused
  for (const auto& [token, id] : vocab_json.items()) {
    vocab.tokens[id.get<int64_t>()] = token;
    vocab.types[id.get<int64_t>()] = TokenType::normal;
  }

  BpeModelOptions model_options;
  model_options.byte_fallback = reader.boolean(model, "byte_fallback", false, "model");
  model_options.fuse_unk = reader.boolean(model, "fuse_unk", false, "model");
  model_options.ignore_merges = reader.boolean(model, "ignore_merges", false, "model");
  if (model_options.byte_fallback)
    for (size_t id = 0; id < vocab.tokens.size(); ++id)
      if (parse_byte_piece(vocab.tokens[id]) >= 0) vocab.types[id] = TokenType::byte;

  TokenizerOptions options;
  for (size_t i = 0; i < added_json.size(); ++i) {
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    AddedToken token;
    token.content = reader.string(added_json[i], "content", field);
    token.id = added_json[i].at("id").get<int32_t>();
    token.special = reader.boolean(added_json[i], "special", false, field);
    token.lstrip = reader.boolean(added_json[i], "lstrip", false, field);
    token.rstrip = reader.boolean(added_json[i], "rstrip", false, field);
    token.normalized = reader.boolean(added_json[i], "normalized", false, field);
    vocab.tokens[token.id] = token.content;
    vocab.types[token.id] = token.special ? TokenType::control : TokenType::user_defined;
    options.added_tokens.push_back(std::move(token));
  }

  // Merges: "a b" strings or [a, b] pairs.
  std::vector<std::pair<std::string, std::string>> merges;
  if (model.contains("merges")) {
    const json& merges_json = model.at("merges");
    if (!merges_json.is_array()) reader.fail("model.merges", "expected an array");
    merges.reserve(merges_json.size());
    for (size_t i = 0; i < merges_json.size(); ++i) {
      const json& merge = merges_json[i];
      if (merge.is_string()) {
        merges.push_back(split_merge_line(merge.get_ref<const std::string&>(), source + ": model.merges", i));
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      } else {
        reader.fail("model.merges[" + std::to_string(i) + "]", "expected \"a b\" or [\"a\", \"b\"]");
      }
    }
  }

  vocab.build_index(source);
  if (model.contains("unk_token") && model.at("unk_token").is_string()) {
    const std::string unk = model.at("unk_token").get<std::string>();
    vocab.unk_id = vocab.find(unk);
    if (vocab.unk_id < 0) reader.fail("model.unk_token", "'" + unk + "' is not in the vocabulary");
    if (vocab.types[vocab.unk_id] == TokenType::normal) vocab.types[vocab.unk_id] = TokenType::unknown;
  }
  model_options.unk_id = vocab.unk_id;

  Normalizer normalizer = read_normalizer(reader, root.value("normalizer", json()));
  PreTokenizer pre_tokenizer = read_pre_tokenizer(reader, root.value("pre_tokenizer", json()));
  BpeDecoder decoder;
  options.strip_leading_space_after_bos = read_decoder(reader, root.value("decoder", json()), decoder);
  read_post_processor(reader, root.value("post_processor", json()), vocab, options);
  if (config) read_config(Reader(source + " (tokenizer_config.json)"), *config, vocab, options);
  vocab.add_bos = options.add_bos;
  vocab.add_eos = options.add_eos;
  vocab.eog_ids.clear();
  vocab.build_index(source);  // again: re-checks the special ids and adds EOS to eog_ids
  add_known_eog_tokens(vocab);

  BpeModel bpe(vocab.tokens, merges, model_options, source);
  auto encoder = std::make_unique<BpeEncoder>(vocab, std::move(normalizer), std::move(pre_tokenizer), std::move(bpe), decoder);
  return Tokenizer(std::move(vocab), std::move(encoder), std::move(options));
}

// tokenizer.json at `path`, with tokenizer_config.json from the same folder when it exists.
inline Tokenizer load_tokenizer_json(const std::string& path) {
  using namespace tokenizer_json_detail;
  const json root = parse_json_file(path);
  const std::filesystem::path config_path = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  if (path_exists(config_path)) {
    const json config = parse_json_file(config_path.string());
    return tokenizer_from_json(root, &config, path);
  }
  return tokenizer_from_json(root, nullptr, path);
}

}  // namespace llmpp::tokenizer
