// One entry point for every tokenizer source: load_tokenizer(path) looks at what `path` is
// and calls the matching reader.
//
//   *.gguf (or any file starting with "GGUF")  tokenizer.ggml.model "llama" -> SentencePiece-BPE,
//                                               "gpt2" -> byte-level BPE
//   tokenizer.json                              HF tokenizers (byte-level or Metaspace BPE)
//   *.model                                     SentencePiece ModelProto
//   *.bin                                       llama2.c tokenizer.bin
//   vocab.json (+ merges.txt beside it)         GPT-2 as published by OpenAI
//   a folder                                    tokenizer.json, else tokenizer.model, else
//                                               vocab.json + merges.txt, else tokenizer.bin;
//                                               tokenizer_config.json's add_bos_token,
//                                               add_eos_token, bos_token, eos_token and
//                                               chat_template override the file's values
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/io/gguf.hpp"
#include "llmpp/tokenizer/byte_level.hpp"
#include "llmpp/tokenizer/llama2c_tokenizer.hpp"
#include "llmpp/tokenizer/sentencepiece_model.hpp"
#include "llmpp/tokenizer/spm.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"
#include "llmpp/tokenizer/tokenizer_json.hpp"
#include "llmpp/tokenizer/vocab.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"

namespace llmpp::tokenizer {

namespace detail {

// A token id stored in GGUF metadata; converters write u32 0xFFFFFFFF (or -1) for "none".
inline int32_t gguf_token_id(const io::GGUFFile& gguf, const std::string& key, int32_t fallback) {
  const io::GGUFValue* value = gguf.find(key);
  if (!value) return fallback;
  const int64_t id = value->as_int();
  if (id < 0 || id == 0xFFFFFFFFll) return -1;
  if (id > INT32_MAX) throw FormatError(gguf.path(), key, value->offset(), "token id " + std::to_string(id) + " out of range");
  return static_cast<int32_t>(id);
}

}  // namespace detail

// A GGUF whose tokenizer.ggml.model is "llama": SentencePiece-BPE with the vocabulary in
// tokenizer.ggml.tokens / scores / token_type and llama.cpp's defaults for absent keys
// (add_bos_token true, add_space_prefix true, remove_extra_whitespaces false).
inline Tokenizer spm_from_gguf(const io::GGUFFile& gguf) {
  const std::string& source = gguf.path();
  Vocab vocab;
  vocab.tokens = gguf.get("tokenizer.ggml.tokens").as_strings();
  if (const io::GGUFValue* scores = gguf.find("tokenizer.ggml.scores")) vocab.scores = scores->as_floats();
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
  vocab.bos_id = detail::gguf_token_id(gguf, "tokenizer.ggml.bos_token_id", 1);
  vocab.eos_id = detail::gguf_token_id(gguf, "tokenizer.ggml.eos_token_id", 2);
  vocab.unk_id = detail::gguf_token_id(gguf, "tokenizer.ggml.unknown_token_id", 0);
  vocab.pad_id = detail::gguf_token_id(gguf, "tokenizer.ggml.padding_token_id", -1);
  vocab.add_bos = gguf.get_bool("tokenizer.ggml.add_bos_token", true);
  vocab.add_eos = gguf.get_bool("tokenizer.ggml.add_eos_token", false);
  vocab.chat_template = gguf.get_string("tokenizer.chat_template", "");
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (const int32_t id = detail::gguf_token_id(gguf, key, -1); id >= 0) vocab.eog_ids.push_back(id);
  vocab.build_index(source);
  add_known_eog_tokens(vocab);

  SpmOptions options;
  options.add_dummy_prefix = gguf.get_bool("tokenizer.ggml.add_space_prefix", true);
  options.remove_extra_whitespaces = gguf.get_bool("tokenizer.ggml.remove_extra_whitespaces", false);
  return make_spm_tokenizer(std::move(vocab), options);
}

// The tokenizer stored in a GGUF model or vocab file.
inline Tokenizer load_tokenizer(const io::GGUFFile& gguf) {
  const std::string model = gguf.get_string("tokenizer.ggml.model", "");
  if (model == "llama") return spm_from_gguf(gguf);
  if (model == "gpt2") return byte_level_from_gguf(gguf);
  throw ConfigError(gguf.path(), "tokenizer.ggml.model",
                    model.empty() ? "missing: the file holds no tokenizer"
                                  : "'" + model + "' is not supported (only \"llama\" SentencePiece-BPE and \"gpt2\" byte-level BPE)");
}

// tokenizer_config.json's settings (HF transformers): the special tokens are strings or
// {"content": ...} objects; chat_template is a string or a list of {name, template}.
inline TokenizerOverrides read_tokenizer_config(const std::string& path, const Vocab& vocab) {
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path, "json", 0, e.what());
  }
  TokenizerOverrides overrides;
  if (!config.is_object()) throw FormatError(path, "json", 0, "expected an object");
  auto token_id = [&](const char* field) -> std::optional<int32_t> {
    const auto it = config.find(field);
    if (it == config.end() || it->is_null()) return std::nullopt;
    std::string content;
    if (it->is_string()) content = it->get<std::string>();
    else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) content = (*it)["content"].get<std::string>();
    else throw ConfigError(path, field, "expected a string or an object with \"content\"");
    const int32_t id = vocab.find(content);
    if (id < 0) throw ConfigError(path, field, "'" + content + "' is not in the vocabulary");
    return id;
  };
  auto flag = [&](const char* field) -> std::optional<bool> {
    const auto it = config.find(field);
    if (it == config.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) throw ConfigError(path, field, "expected true or false");
    return it->get<bool>();
  };
  overrides.add_bos = flag("add_bos_token");
  overrides.add_eos = flag("add_eos_token");
  overrides.bos_id = token_id("bos_token");
  overrides.eos_id = token_id("eos_token");
  if (const auto it = config.find("chat_template"); it != config.end() && !it->is_null()) {
    if (it->is_string()) {
      overrides.chat_template = it->get<std::string>();
    } else if (it->is_array() && !it->empty()) {
      for (const nlohmann::json& entry : *it) {
        if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string())
          throw ConfigError(path, "chat_template", "list entries must be {\"name\", \"template\"} objects");
        if (!overrides.chat_template || entry.value("name", "") == "default")
          overrides.chat_template = entry["template"].get<std::string>();
      }
    } else {
      throw ConfigError(path, "chat_template", "expected a string or a list of named templates");
    }
  }
  return overrides;
}

// Loads the tokenizer at `source` (see the table at the top of this file).
inline Tokenizer load_tokenizer(const std::string& source) {
  namespace fs = std::filesystem;
  const fs::path path(source);
  if (is_folder(path)) {
    auto inside = [&](const char* name) { return (path / name).string(); };
    auto exists = [&](const char* name) { return is_file(path / name); };
    // load_tokenizer_json reads tokenizer_config.json itself.
    if (exists("tokenizer.json")) return load_tokenizer_json(inside("tokenizer.json"));
    std::optional<Tokenizer> tokenizer;
    if (exists("tokenizer.model")) tokenizer.emplace(load_sentencepiece_model(inside("tokenizer.model")));
    else if (exists("vocab.json") && exists("merges.txt")) tokenizer.emplace(load_gpt2_vocab_merges(inside("vocab.json"), inside("merges.txt")));
    else if (exists("tokenizer.bin")) tokenizer.emplace(load_llama2c_tokenizer(inside("tokenizer.bin")));
    else throw InvalidArgument(source + ": folder has no tokenizer.json, tokenizer.model, vocab.json + merges.txt or tokenizer.bin");
    if (exists("tokenizer_config.json")) tokenizer->apply(read_tokenizer_config(inside("tokenizer_config.json"), tokenizer->vocab()));
    return std::move(*tokenizer);
  }
  if (!is_file(path)) throw IoError(source, "no such file or folder");

  char magic[4] = {};
  std::ifstream(source, std::ios::binary).read(magic, sizeof(magic));
  const std::string name = path.filename().string();
  const std::string extension = path.extension().string();
  if (std::string(magic, 4) == "GGUF") return load_tokenizer(io::GGUFFile(source));
  if (name == "vocab.json") {
    const fs::path merges = path.parent_path() / "merges.txt";
    if (!is_file(merges)) throw InvalidArgument(source + ": GPT-2 vocab.json needs merges.txt in the same folder");
    return load_gpt2_vocab_merges(source, merges.string());
  }
  if (extension == ".json") return load_tokenizer_json(source);
  if (extension == ".model") return load_sentencepiece_model(source);
  if (extension == ".bin") return load_llama2c_tokenizer(source);
  throw InvalidArgument(source + ": unknown tokenizer format (expected .gguf, tokenizer.json, .model, .bin, vocab.json or a folder)");
}

}  // namespace llmpp::tokenizer
