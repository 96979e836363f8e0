// Reader for SentencePiece's tokenizer.model: a serialized ModelProto (sentencepiece_model.proto),
// decoded by hand from the protobuf wire format so that no protobuf runtime is needed.
//
//   ModelProto     1: repeated SentencePiece pieces { 1: piece, 2: score (float), 3: type }
//                  2: TrainerSpec    { 3: model_type (1 unigram, 2 BPE, 3 word, 4 char),
//                                      35: byte_fallback, 40..43: unk/bos/eos/pad id }
//                  3: NormalizerSpec { 1: name, 3: add_dummy_prefix, 4: remove_extra_whitespaces }
//
// Wire format: each field is a varint key (field_number << 3 | wire_type) followed by a varint
// (type 0), 8 bytes (1), a varint length and that many bytes (2) or 4 bytes (5). Every read
// is bounds-checked; malformed bytes raise FormatError naming the field and byte offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/tokenizer/spm.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"
#include "llmpp/tokenizer/vocab.hpp"

namespace llmpp::tokenizer {

namespace detail {

// Cursor over one protobuf message; offsets are reported relative to the whole file.
class ProtoReader {
 public:
  enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

  ProtoReader(const uint8_t* data, size_t size, const std::string& file, uint64_t file_offset)
      : data_(data), size_(size), file_(file), file_offset_(file_offset) {}

  bool at_end() const { return position_ >= size_; }
  uint64_t offset() const { return file_offset_ + position_; }

  // Reads the next field key; `message` names the enclosing message for errors.
  void read_key(const char* message, uint32_t& field, uint32_t& wire_type) {
    const uint64_t key = read_varint(message);
    field = static_cast<uint32_t>(key >> 3);
    wire_type = static_cast<uint32_t>(key & 7);
    if (field == 0 || key >> 32 != 0) fail(message, "invalid field number in key");
  }

  uint64_t read_varint(const char* field) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (position_ >= size_) fail(field, "truncated varint");
      const uint8_t byte = data_[position_++];
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    fail(field, "varint longer than 10 bytes");
  }

  std::string_view read_bytes(const char* field) {
    const uint64_t start = offset();
    const uint64_t length = read_varint(field);
    if (length > size_ - position_)
      throw FormatError(file_, field, start, "length " + std::to_string(length) + " runs past the end of its message");
    const std::string_view bytes(reinterpret_cast<const char*>(data_ + position_), static_cast<size_t>(length));
    position_ += static_cast<size_t>(length);
    return bytes;
  }

  float read_float(const char* field) {
    if (size_ - position_ < 4) fail(field, "truncated fixed32");
    uint32_t bits = static_cast<uint32_t>(data_[position_]) | static_cast<uint32_t>(data_[position_ + 1]) << 8 |
                    static_cast<uint32_t>(data_[position_ + 2]) << 16 | static_cast<uint32_t>(data_[position_ + 3]) << 24;
    position_ += 4;
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }

  // Reads a field of the expected wire type, or fails naming `field`.
  void expect(uint32_t wire_type, uint32_t expected, const char* field) {
    if (wire_type != expected)
      fail(field, "wire type " + std::to_string(wire_type) + ", expected " + std::to_string(expected));
  }

  // Skips a field this reader does not use.
  void skip(uint32_t wire_type, const char* message) {
    switch (wire_type) {
      case kVarint: read_varint(message); return;
      case kFixed64:
        if (size_ - position_ < 8) fail(message, "truncated fixed64");
        position_ += 8;
        return;
      case kLengthDelimited: read_bytes(message); return;
      case kFixed32:
        if (size_ - position_ < 4) fail(message, "truncated fixed32");
        position_ += 4;
        return;
      default: fail(message, "unsupported wire type " + std::to_string(wire_type));
    }
  }

  // A reader over a length-delimited sub-message that was just read with read_bytes.
  ProtoReader sub_message(std::string_view bytes) const {
    const auto* begin = reinterpret_cast<const uint8_t*>(bytes.data());
    return ProtoReader(begin, bytes.size(), file_, file_offset_ + static_cast<uint64_t>(begin - data_));
  }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw FormatError(file_, field, offset(), message);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
  const std::string& file_;
  uint64_t file_offset_;
};

}  // namespace detail

// The parts of a ModelProto that tokenization needs.
struct SentencePieceModel {
  Vocab vocab;  // pieces, scores, types, unk/bos/eos/pad ids
  int model_type = 1;  // TrainerSpec default: unigram
  bool byte_fallback = false;
  SpmOptions normalizer;  // NormalizerSpec (defaults: add_dummy_prefix, remove_extra_whitespaces on)
  std::string normalizer_name;
};

// Parses the serialized ModelProto in `bytes`; `file` names it in errors.
inline SentencePieceModel parse_sentencepiece_model(const uint8_t* bytes, size_t size, const std::string& file) {
  using detail::ProtoReader;
  SentencePieceModel model;
  model.normalizer.add_dummy_prefix = true;  // proto2 defaults
  model.normalizer.remove_extra_whitespaces = true;
  int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  auto to_id = [](uint64_t varint) { return static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(varint))); };

  ProtoReader reader(bytes, size, file, 0);
  uint32_t field, wire_type;
  while (!reader.at_end()) {
    reader.read_key("ModelProto", field, wire_type);
    if (field == 1) {  // SentencePiece
      reader.expect(wire_type, ProtoReader::kLengthDelimited, "pieces");
      ProtoReader piece_reader = reader.sub_message(reader.read_bytes("pieces"));
      std::string piece;
      float score = 0.0f;
      int64_t type = 1;
      while (!piece_reader.at_end()) {
        piece_reader.read_key("pieces", field, wire_type);
        if (field == 1) {
          piece_reader.expect(wire_type, ProtoReader::kLengthDelimited, "pieces.piece");
          piece = std::string(piece_reader.read_bytes("pieces.piece"));
        } else if (field == 2) {
          piece_reader.expect(wire_type, ProtoReader::kFixed32, "pieces.score");
          score = piece_reader.read_float("pieces.score");
        } else if (field == 3) {
          piece_reader.expect(wire_type, ProtoReader::kVarint, "pieces.type");
          const uint64_t offset = piece_reader.offset();
          type = to_id(piece_reader.read_varint("pieces.type"));
          if (type < 1 || type > 6) throw FormatError(file, "pieces.type", offset, "unknown piece type " + std::to_string(type));
        } else {
          piece_reader.skip(wire_type, "pieces");
        }
      }
      if (model.vocab.tokens.size() >= static_cast<size_t>(INT32_MAX)) reader.fail("pieces", "too many pieces");
      model.vocab.tokens.push_back(std::move(piece));
      model.vocab.scores.push_back(score);
      model.vocab.types.push_back(static_cast<TokenType>(type));
    } else if (field == 2) {  // TrainerSpec
      reader.expect(wire_type, ProtoReader::kLengthDelimited, "trainer_spec");
      ProtoReader spec = reader.sub_message(reader.read_bytes("trainer_spec"));
      while (!spec.at_end()) {
        spec.read_key("trainer_spec", field, wire_type);
        int64_t* id = field == 40 ? &unk_id : field == 41 ? &bos_id : field == 42 ? &eos_id : field == 43 ? &pad_id : nullptr;
        if (field == 3 || field == 35 || id) {
          spec.expect(wire_type, ProtoReader::kVarint, "trainer_spec");
          const int64_t value = to_id(spec.read_varint("trainer_spec"));
          if (field == 3) model.model_type = static_cast<int>(value);
          else if (field == 35) model.byte_fallback = value != 0;
          else *id = value;
        } else {
          spec.skip(wire_type, "trainer_spec");
        }
      }
    } else if (field == 3) {  // NormalizerSpec
      reader.expect(wire_type, ProtoReader::kLengthDelimited, "normalizer_spec");
      ProtoReader spec = reader.sub_message(reader.read_bytes("normalizer_spec"));
      while (!spec.at_end()) {
        spec.read_key("normalizer_spec", field, wire_type);
        if (field == 1) {
          spec.expect(wire_type, ProtoReader::kLengthDelimited, "normalizer_spec.name");
          model.normalizer_name = std::string(spec.read_bytes("normalizer_spec.name"));
        } else if (field == 3 || field == 4) {
          spec.expect(wire_type, ProtoReader::kVarint, "normalizer_spec");
          const bool value = spec.read_varint("normalizer_spec") != 0;
          (field == 3 ? model.normalizer.add_dummy_prefix : model.normalizer.remove_extra_whitespaces) = value;
        } else {
          spec.skip(wire_type, "normalizer_spec");
        }
      }
    } else {
      reader.skip(wire_type, "ModelProto");
    }
  }

  if (model.vocab.tokens.empty()) throw FormatError(file, "pieces", size, "the model has no pieces");
  const int64_t n_vocab = static_cast<int64_t>(model.vocab.tokens.size());
  for (const auto& [name, id] : {std::pair<const char*, int64_t*>{"trainer_spec.unk_id", &unk_id}, {"trainer_spec.bos_id", &bos_id},
                                 {"trainer_spec.eos_id", &eos_id}, {"trainer_spec.pad_id", &pad_id}}) {
    if (*id < -1 || *id >= n_vocab)
      throw ConfigError(file, name, "id " + std::to_string(*id) + " outside the " + std::to_string(n_vocab) + " pieces");
  }
  model.vocab.unk_id = static_cast<int32_t>(unk_id);
  model.vocab.bos_id = static_cast<int32_t>(bos_id);
  model.vocab.eos_id = static_cast<int32_t>(eos_id);
  model.vocab.pad_id = static_cast<int32_t>(pad_id);
  model.vocab.add_bos = model.vocab.bos_id >= 0;  // sentencepiece-based HF tokenizers prepend <s>
  model.vocab.build_index(file);
  return model;
}

// Loads tokenizer.model. Only BPE models are supported (Llama, Mistral, Phi-3, stories260K);
// unigram models (T5, Gemma's older releases) raise ConfigError.
inline Tokenizer load_sentencepiece_model(const std::string& path) {
  const MappedFile file(path);
  SentencePieceModel model = parse_sentencepiece_model(file.data(), static_cast<size_t>(file.size()), path);
  if (model.model_type != 2)
    throw ConfigError(path, "trainer_spec.model_type",
                      "model type " + std::to_string(model.model_type) + " is not BPE (2); only SentencePiece-BPE is supported");
  return make_spm_tokenizer(std::move(model.vocab), model.normalizer);
}

}  // namespace llmpp::tokenizer
