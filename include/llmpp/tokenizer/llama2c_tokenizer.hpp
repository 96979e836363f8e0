// Reader for llama2.c's tokenizer.bin (karpathy/llama2.c, tokenizer.py's export):
//   int32 max_token_length
//   then, per token until the end of the file: float32 score, int32 length, `length` bytes.
// Ids 0, 1, 2 are <unk>, <s>, </s>; pieces "<0xNN>" are byte-fallback tokens. The exporter
// replaced SentencePiece's '▁' by ' ' and wrote <s>, </s> as "\n<s>\n", "\n</s>\n"; the
// reader restores the SentencePiece pieces so that the same encoder serves every source. The
// file keeps no normalizer flags: llama2.c always adds the dummy prefix and never collapses
// spaces.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "llmpp/core/error.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/tokenizer/spm.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"
#include "llmpp/tokenizer/vocab.hpp"

namespace llmpp::tokenizer {

// Parses a tokenizer.bin held in memory; `file` names it in errors.
inline Vocab parse_llama2c_tokenizer(const uint8_t* data, size_t size, const std::string& file) {
  size_t offset = 0;
  auto read_u32 = [&](const char* field) {
    if (size - offset < 4) throw FormatError(file, field, offset, "truncated: 4 bytes needed, " + std::to_string(size - offset) + " left");
    uint32_t value;
    std::memcpy(&value, data + offset, 4);  // little-endian, as llama2.c writes it on x86
    offset += 4;
    return value;
  };
  const auto max_token_length = static_cast<int32_t>(read_u32("max_token_length"));
  if (max_token_length <= 0) throw FormatError(file, "max_token_length", 0, "must be positive, got " + std::to_string(max_token_length));

  Vocab vocab;
  while (offset < size) {
    const std::string token_field = "token[" + std::to_string(vocab.tokens.size()) + "]";
    const uint32_t score_bits = read_u32((token_field + ".score").c_str());
    float score;
    std::memcpy(&score, &score_bits, sizeof(score));
    const size_t length_offset = offset;
    const auto length = static_cast<int32_t>(read_u32((token_field + ".length").c_str()));
    if (length < 0 || length > max_token_length)
      throw FormatError(file, token_field + ".length", length_offset,
                        "length " + std::to_string(length) + " outside [0, max_token_length = " + std::to_string(max_token_length) + "]");
    if (static_cast<size_t>(length) > size - offset)
      throw FormatError(file, token_field + ".bytes", offset, "runs past the end of the file");
    std::string piece;
    for (const char c : std::string_view(reinterpret_cast<const char*>(data + offset), static_cast<size_t>(length))) {
      if (c == ' ') piece += kSpmSpace;
      else piece += c;
    }
    vocab.tokens.push_back(std::move(piece));
    vocab.scores.push_back(score);
    offset += static_cast<size_t>(length);
  }
  if (vocab.tokens.size() < 3) throw FormatError(file, "tokens", offset, "fewer than the 3 reserved tokens <unk>, <s>, </s>");

  vocab.types.assign(vocab.tokens.size(), TokenType::normal);
  vocab.types[0] = TokenType::unknown;
  vocab.types[1] = TokenType::control;
  vocab.types[2] = TokenType::control;
  vocab.tokens[1] = "<s>";
  vocab.tokens[2] = "</s>";
  for (size_t id = 3; id < vocab.tokens.size(); ++id)
    if (parse_byte_piece(vocab.tokens[id]) >= 0) vocab.types[id] = TokenType::byte;
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.add_bos = true;  // run.c encodes prompts with BOS
  vocab.build_index(file);
  return vocab;
}

// Loads tokenizer.bin; `options` default to llama2.c's behaviour (see the header comment).
inline Tokenizer load_llama2c_tokenizer(const std::string& path, SpmOptions options = SpmOptions{}) {
  const MappedFile file(path);
  return make_spm_tokenizer(parse_llama2c_tokenizer(file.data(), static_cast<size_t>(file.size()), path), options);
}

}  // namespace llmpp::tokenizer
