// Hostile files through the loaders a user calls: tokenizer::load_tokenizer(path) for
// tokenizer.json, tokenizer.model and tokenizer.bin, io::hf_config_from_file for config.json,
// Model::load for GGUF and llama2.c checkpoints, and files of one format under another's
// name. Every case is generated here from a small valid file that the test first loads, then
// damaged in one place; each must raise its typed error (FormatError or ConfigError) whose
// field names what is wrong. The fuzz targets (fuzz/) search for inputs that do worse; the
// ones they found are kept here as regression cases.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/io/hf_config.hpp"
#include "llmpp/model/model.hpp"
#include "llmpp/tokenizer/load.hpp"
#include "test_util.hpp"

namespace llmpp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- builders of small valid files ---------------------------------------------------

std::string le32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string le64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
std::string le_float(float v) { return std::string(reinterpret_cast<const char*>(&v), 4); }

// SentencePiece ModelProto in protobuf wire format (see tokenizer/sentencepiece_model.hpp).
std::string varint(uint64_t v) {
  std::string out;
  do {
    const uint8_t byte = v & 0x7F;
    v >>= 7;
    out += static_cast<char>(v ? byte | 0x80 : byte);
  } while (v);
  return out;
}
std::string proto_varint(uint32_t field, uint64_t v) { return varint(field << 3 | 0) + varint(v); }
std::string proto_bytes(uint32_t field, const std::string& bytes) {
  return varint(field << 3 | 2) + varint(bytes.size()) + bytes;
}
std::string proto_piece(const std::string& piece, float score, int type) {
  return proto_bytes(1, proto_bytes(1, piece) + varint(2 << 3 | 5) + le_float(score) + proto_varint(3, type));
}

const char* const kSpace = "\xE2\x96\x81";  // '▁'

// <unk> <s> </s>, the bytes 0x41 'A' and 0x62 'b', '▁', 'a', '▁a': a BPE model with byte fallback.
std::string spm_pieces() {
  std::string out = proto_piece("<unk>", 0, 2) + proto_piece("<s>", 0, 3) + proto_piece("</s>", 0, 3) +
                    proto_piece("<0x41>", 0, 6) + proto_piece("<0x62>", 0, 6);
  return out + proto_piece(kSpace, -1, 1) + proto_piece("a", -2, 1) + proto_piece(std::string(kSpace) + "a", -3, 1);
}
std::string spm_trainer(int model_type = 2, const std::string& extra = "") {
  return proto_bytes(2, proto_varint(3, model_type) + proto_varint(35, 1) + extra);
}
std::string spm_model() { return spm_pieces() + spm_trainer() + proto_bytes(3, proto_varint(3, 1)); }

// llama2.c tokenizer.bin: i32 max_token_length, then f32 score, i32 length, bytes per token.
std::string llama2c_token_with_length(const std::string& text, int32_t length) {
  return le_float(0.0f) + le32(static_cast<uint32_t>(length)) + text;
}
std::string llama2c_token(const std::string& text, float score = 0.0f) {
  return le_float(score) + le32(static_cast<uint32_t>(text.size())) + text;
}
std::string llama2c_tokenizer() {
  return le32(8) + llama2c_token("<unk>") + llama2c_token("\n<s>\n") + llama2c_token("\n</s>\n") +
         llama2c_token("<0x41>") + llama2c_token(" a", -1.0f) + llama2c_token("a", -2.0f);
}

// llama2.c model .bin, legacy header: dim 8, hidden 16, 1 layer, 2 heads, 1 KV head, vocab 6
// (= the tokenizer above), seq_len 4, shared classifier.
std::string llama2c_header(std::vector<int32_t> p) {
  std::string out;
  for (int32_t v : p) out += le32(static_cast<uint32_t>(v));
  return out;
}
std::string llama2c_model(const std::vector<int32_t>& p = {8, 16, 1, 2, 1, 6, 4}) {
  const int64_t dim = p[0], hidden = p[1], vocab = p[5] < 0 ? -p[5] : p[5], kv_dim = p[4] * (p[0] / p[3]);
  const int64_t n_floats = vocab * dim + dim + dim * dim + 2 * kv_dim * dim + dim * dim + dim + 3 * hidden * dim + dim +
                           2 * p[6] * (dim / p[3] / 2);
  std::string out = llama2c_header(p);
  for (int64_t i = 0; i < n_floats; ++i) out += le_float(0.01f * static_cast<float>(i % 7));
  return out;
}

// A Metaspace-style BPE tokenizer.json with byte fallback (the shape of Phi-3's).
json tokenizer_json() {
  return json{
      {"version", "1.0"},
      {"added_tokens", json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                    {{"id", 1}, {"content", "<s>"}, {"special", true}},
                                    {{"id", 2}, {"content", "</s>"}, {"special", true}}})},
      {"normalizer", {{"type", "Sequence"},
                      {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kSpace}},
                                                   {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", nullptr},
      {"decoder", {{"type", "Sequence"},
                   {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                                             {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                             {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true},
                 {"vocab", {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0x41>", 3}, {kSpace, 4}, {"a", 5},
                            {std::string(kSpace) + "a", 6}}},
                 {"merges", json::array({std::string(kSpace) + " a"})}}}};
}

json config_json() {
  return json{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 64},
              {"intermediate_size", 172}, {"num_hidden_layers", 5}, {"num_attention_heads", 8},
              {"num_key_value_heads", 4}, {"vocab_size", 512}, {"max_position_embeddings", 512},
              {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"tie_word_embeddings", true}};
}

// A complete GGUF llama (dim 8, 2 heads, 1 KV head, FFN 16, 1 layer) with an SPM tokenizer of
// 6 tokens; a test changes one field of the spec to damage it.
struct GgufModelSpec {
  std::vector<std::string> tokens{"<unk>", "<s>", "</s>", "<0x41>", kSpace, std::string(kSpace) + "a"};
  std::vector<float> scores{0, 0, 0, 0, -1, -2};
  std::vector<int32_t> token_types{2, 3, 3, 6, 1, 1};
  uint32_t bos_id = 1;
  std::vector<int64_t> attn_q_shape{8, 8};
  uint32_t block_count = 1;
  bool with_tensors = true;
};

void write_gguf_model(const std::string& path, const GgufModelSpec& spec) {
  io::GGUFWriter w;
  w.add("general.architecture", "llama");
  w.add("llama.context_length", uint32_t{16});
  w.add("llama.embedding_length", uint32_t{8});
  w.add("llama.feed_forward_length", uint32_t{16});
  w.add("llama.block_count", spec.block_count);
  w.add("llama.attention.head_count", uint32_t{2});
  w.add("llama.attention.head_count_kv", uint32_t{1});
  w.add("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.add("tokenizer.ggml.model", "llama");
  w.add("tokenizer.ggml.tokens", spec.tokens);
  w.add("tokenizer.ggml.scores", spec.scores);
  w.add("tokenizer.ggml.token_type", spec.token_types);
  w.add("tokenizer.ggml.bos_token_id", spec.bos_id);
  w.add("tokenizer.ggml.eos_token_id", uint32_t{2});
  if (spec.with_tensors) {
    auto add = [&](const std::string& name, std::vector<int64_t> ne) {
      int64_t n = 1;
      for (int64_t d : ne) n *= d;
      w.add_tensor(name, ne, std::vector<float>(static_cast<size_t>(n), 0.01f), DType::F32);
    };
    add("token_embd.weight", {8, 6});
    add("output_norm.weight", {8});
    add("blk.0.attn_norm.weight", {8});
    add("blk.0.attn_q.weight", spec.attn_q_shape);
    add("blk.0.attn_k.weight", {8, 4});
    add("blk.0.attn_v.weight", {8, 4});
    add("blk.0.attn_output.weight", {8, 8});
    add("blk.0.ffn_norm.weight", {8});
    add("blk.0.ffn_gate.weight", {8, 16});
    add("blk.0.ffn_up.weight", {8, 16});
    add("blk.0.ffn_down.weight", {16, 8});
  }
  w.write(path);
}

// ---- the cases ----------------------------------------------------------------------

enum class Loader { tokenizer, config, model };
enum class Expected { format_error, config_error };

struct CorruptCase {
  std::string name;       // gtest name
  std::string file_name;  // the name decides which reader load_tokenizer / Model::load picks
  Loader loader;
  std::function<void(const std::string& path)> write;  // writes the hostile file at `path`
  Expected expected;
  std::string field;    // the error's field() must contain this
  std::string message;  // and its what() this
};

std::function<void(const std::string&)> bytes(std::string content) {
  return [content](const std::string& path) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  };
}
std::function<void(const std::string&)> json_file(const json& j) { return bytes(j.dump()); }
std::function<void(const std::string&)> gguf_model(GgufModelSpec spec) {
  return [spec](const std::string& path) { write_gguf_model(path, spec); };
}

json with(json j, const json::json_pointer& where, const json& value) {
  j[where] = value;
  return j;
}
json without(json j, const std::string& key) {
  j.erase(key);
  return j;
}

std::vector<CorruptCase> tokenizer_model_cases() {
  const std::string good = spm_model();
  const Loader t = Loader::tokenizer;
  const Expected format = Expected::format_error, config = Expected::config_error;
  return {
      {"SpmTruncatedInsidePiece", "tokenizer.model", t, bytes(good.substr(0, 20)), format, "pieces", "runs past the end"},
      {"SpmPieceLengthHuge", "tokenizer.model", t, bytes(varint(1 << 3 | 2) + varint(1ull << 63) + "x"), format, "pieces",
       "runs past the end"},
      {"SpmVarintTooLong", "tokenizer.model", t, bytes(varint(1 << 3 | 2) + std::string(11, '\xff')), format, "pieces",
       "varint longer than 10 bytes"},
      {"SpmVarintTruncated", "tokenizer.model", t, bytes(varint(1 << 3 | 2) + "\x80"), format, "pieces", "truncated varint"},
      {"SpmUnsupportedWireType", "tokenizer.model", t, bytes(spm_pieces() + varint(9 << 3 | 7)), format, "ModelProto",
       "unsupported wire type 7"},
      {"SpmFieldNumberZero", "tokenizer.model", t, bytes(spm_pieces() + std::string("\x02\x00", 2)), format, "ModelProto",
       "invalid field number"},
      {"SpmPieceWrongWireType", "tokenizer.model", t, bytes(proto_bytes(1, proto_varint(1, 5)) + spm_trainer()), format,
       "pieces.piece", "wire type 0, expected 2"},
      {"SpmScoreTruncated", "tokenizer.model", t,
       bytes(proto_bytes(1, proto_bytes(1, "x") + varint(2 << 3 | 5) + "ab")), format, "pieces.score", "truncated fixed32"},
      {"SpmUnknownPieceType", "tokenizer.model", t, bytes(spm_pieces() + proto_piece("z", 0, 9) + spm_trainer()), format,
       "pieces.type", "unknown piece type 9"},
      {"SpmBosIdOutsideVocab", "tokenizer.model", t, bytes(spm_pieces() + spm_trainer(2, proto_varint(41, 100000))), config,
       "trainer_spec.bos_id", "outside the 8 pieces"},
      {"SpmNegativeUnkId", "tokenizer.model", t,
       bytes(spm_pieces() + spm_trainer(2, proto_varint(40, static_cast<uint64_t>(-5)))), config, "trainer_spec.unk_id",
       "id -5"},
      {"SpmUnigramModel", "tokenizer.model", t, bytes(spm_pieces() + spm_trainer(1)), config, "trainer_spec.model_type",
       "not BPE"},
      {"SpmNoPieces", "tokenizer.model", t, bytes(spm_trainer()), format, "pieces", "no pieces"},
      {"SpmEmptyFile", "tokenizer.model", t, bytes(""), format, "pieces", "no pieces"},
  };
}

std::vector<CorruptCase> llama2c_tokenizer_cases() {
  const std::string good = llama2c_tokenizer();
  const std::string three = le32(8) + llama2c_token("<unk>") + llama2c_token("<s>") + llama2c_token("</s>");
  const Loader t = Loader::tokenizer;
  const Expected format = Expected::format_error;
  return {
      {"BinEmptyFile", "tokenizer.bin", t, bytes(""), format, "max_token_length", "truncated"},
      {"BinMaxLengthZero", "tokenizer.bin", t, bytes(le32(0) + good.substr(4)), format, "max_token_length", "must be positive"},
      {"BinNegativeLength", "tokenizer.bin", t, bytes(three + llama2c_token_with_length("x", -7)), format, "token[3].length",
       "length -7"},
      {"BinLengthInt32Min", "tokenizer.bin", t, bytes(three + llama2c_token_with_length("x", INT32_MIN)), format, "token[3].length",
       "outside [0, max_token_length"},
      {"BinLengthOverMax", "tokenizer.bin", t, bytes(three + llama2c_token("abcdefghi")), format, "token[3].length",
       "max_token_length = 8"},
      {"BinBytesPastEnd", "tokenizer.bin", t, bytes(three + le_float(0) + le32(6) + "abc"), format, "token[3].bytes",
       "runs past the end"},
      {"BinTruncatedScore", "tokenizer.bin", t, bytes(three + "\x01\x02"), format, "token[3].score", "truncated"},
      {"BinFewerThanThreeTokens", "tokenizer.bin", t, bytes(le32(8) + llama2c_token("<unk>") + llama2c_token("<s>")), format,
       "tokens", "fewer than the 3 reserved"},
  };
}

std::vector<CorruptCase> tokenizer_json_cases() {
  const json good = tokenizer_json();
  const Loader t = Loader::tokenizer;
  const Expected format = Expected::format_error, config = Expected::config_error;
  return {
      {"JsonNotJson", "tokenizer.json", t, bytes("{\"model\": "), format, "json", "parse error"},
      // Found by fuzz_hf_config: nlohmann/json throws out_of_range, not parse_error, for 1e999.
      {"JsonNumberTooLarge", "tokenizer.json", t, bytes("{\"model\": 1e999}"), format, "json", "number overflow"},
      {"JsonNoModel", "tokenizer.json", t, json_file(without(good, "model")), config, "model", "missing"},
      {"JsonUnigramModel", "tokenizer.json", t, json_file(with(good, "/model/type"_json_pointer, "Unigram")), config,
       "model.type", "unsupported model type 'Unigram'"},
      {"JsonVocabNotObject", "tokenizer.json", t, json_file(with(good, "/model/vocab"_json_pointer, json::array())), config,
       "model.vocab", "expected an object"},
      {"JsonNegativeVocabId", "tokenizer.json", t, json_file(with(good, "/model/vocab/a"_json_pointer, -3)), config,
       "model.vocab", "token 'a' has an invalid id"},
      {"JsonVocabIdNotInteger", "tokenizer.json", t, json_file(with(good, "/model/vocab/a"_json_pointer, "5")), config,
       "model.vocab", "invalid id"},
      {"JsonMergeNotAPair", "tokenizer.json", t, json_file(with(good, "/model/merges/0"_json_pointer, "a")), config,
       "merges[0]", "'a'"},
      {"JsonMergeNotAString", "tokenizer.json", t, json_file(with(good, "/model/merges/0"_json_pointer, 7)), config,
       "model.merges[0]", "expected"},
      {"JsonAddedTokenNegativeId", "tokenizer.json", t, json_file(with(good, "/added_tokens/0/id"_json_pointer, -1)), config,
       "added_tokens[0].id", "invalid id"},
      {"JsonUnkTokenNotInVocab", "tokenizer.json", t, json_file(with(good, "/model/unk_token"_json_pointer, "<nope>")),
       config, "model.unk_token", "'<nope>' is not in the vocabulary"},
      // Found by fuzz_tokenizer_json: one id of 2^31 - 1 made the loader allocate 2^31 tokens (64 GiB).
      {"JsonVocabIdFarBeyondTheEntries", "tokenizer.json", t,
       json_file(with(good, "/model/vocab/a"_json_pointer, INT32_MAX)), config, "model.vocab", "ids reach 2147483647"},
      {"JsonDropout", "tokenizer.json", t, json_file(with(good, "/model/dropout"_json_pointer, 0.1)), config,
       "model.dropout", "dropout"},
      {"JsonUnsupportedNormalizer", "tokenizer.json", t,
       json_file(with(good, "/normalizer"_json_pointer, {{"type", "NFKD"}})), config, "normalizer", "'NFKD'"},
      {"JsonUnsupportedPreTokenizer", "tokenizer.json", t,
       json_file(with(good, "/pre_tokenizer"_json_pointer, {{"type", "Whitespace"}})), config, "pre_tokenizer",
       "'Whitespace'"},
      {"JsonUnknownSplitRegex", "tokenizer.json", t,
       json_file(with(good, "/pre_tokenizer"_json_pointer,
                      {{"type", "Split"}, {"pattern", {{"Regex", "(a|b)*c"}}}, {"behavior", "Isolated"}})),
       config, "pre_tokenizer", "(a|b)*c"},
      {"JsonUnsupportedDecoder", "tokenizer.json", t,
       json_file(with(good, "/decoder"_json_pointer, {{"type", "WordPiece"}})), config, "decoder", "'WordPiece'"},
      {"JsonUnsupportedPostProcessor", "tokenizer.json", t,
       json_file(with(good, "/post_processor"_json_pointer, {{"type", "RobertaProcessing"}})), config, "post_processor",
       "'RobertaProcessing'"},
  };
}

std::vector<CorruptCase> config_json_cases() {
  const json good = config_json();
  const Loader c = Loader::config;
  const Expected format = Expected::format_error, config = Expected::config_error;
  json mixtral = with(with(good, "/architectures"_json_pointer, {"MixtralForCausalLM"}), "/num_local_experts"_json_pointer, 8);
  return {
      {"ConfigNotJson", "config.json", c, bytes("{\"hidden_size\": 64,"), format, "config.json", "not valid JSON"},
      {"ConfigNumberTooLarge", "config.json", c, bytes("{\"hidden_size\": 1e999}"), format, "config.json",
       "number overflow"},
      {"ConfigNotObject", "config.json", c, bytes("[64]"), config, "config", "not a JSON object"},
      {"ConfigMissingVocabSize", "config.json", c, json_file(without(good, "vocab_size")), config, "vocab_size",
       "required key is missing"},
      {"ConfigBoolForInt", "config.json", c, json_file(with(good, "/num_hidden_layers"_json_pointer, true)), config,
       "num_hidden_layers", "must be an integer"},
      {"ConfigIntOutOfRange", "config.json", c, json_file(with(good, "/hidden_size"_json_pointer, 1ll << 40)), config,
       "hidden_size", "out of range"},
      {"ConfigZeroLayers", "config.json", c, json_file(with(good, "/num_hidden_layers"_json_pointer, 0)), config,
       "num_hidden_layers", "must be positive"},
      {"ConfigZeroNormEps", "config.json", c, json_file(with(good, "/rms_norm_eps"_json_pointer, 0)), config,
       "norm_eps", "must be positive"},
      {"ConfigUnknownActivation", "config.json", c, json_file(with(good, "/hidden_act"_json_pointer, "swish2")), config,
       "hidden_act", "'swish2'"},
      {"ConfigRopeScalingList", "config.json", c, json_file(with(good, "/rope_scaling"_json_pointer, {1, 2})), config,
       "rope_scaling", "must be an object"},
      {"ConfigRopeScalingUnknownType", "config.json", c,
       json_file(with(good, "/rope_scaling"_json_pointer, {{"rope_type", "quantum"}, {"factor", 2.0}})), config,
       "rope_scaling.rope_type", "'quantum'"},
      {"ConfigLlama3ScalingWithoutOriginalContext", "config.json", c,
       json_file(with(good, "/rope_scaling"_json_pointer, {{"rope_type", "llama3"}, {"factor", 8.0}})), config,
       "rope_scaling.original_max_position_embeddings", "required"},
      // Found by fuzz_hf_config: q_dim() = n_heads x head_dim overflowed an int.
      {"ConfigHeadDimOverflowsQDim", "config.json", c,
       json_file(with(good, "/head_dim"_json_pointer, 1 << 30)), config, "head_dim", "overflow an int"},
      {"ConfigMoreExpertsPerTokenThanExperts", "config.json", c,
       json_file(with(mixtral, "/num_experts_per_tok"_json_pointer, 9)), config, "num_experts_per_tok", "between 1 and 8"},
  };
}

std::vector<CorruptCase> model_cases() {
  const Loader m = Loader::model;
  const Expected format = Expected::format_error, config = Expected::config_error;
  const std::string good_bin = llama2c_model();
  // Found by fuzz_gguf: with a zero dimension the byte size is 0, yet ne[0] * ne[1] overflowed
  // int64 in TensorView::n_elements(). One tensor "t" of shape ne = [4, 2^62, 0].
  const std::string zero_dim_gguf = std::string("GGUF") + le32(3) + le64(1) + le64(0) + le64(1) + "t" + le32(3) + le64(4) +
                                    le64(uint64_t{1} << 62) + le64(0) + le32(0) + le64(0) + std::string(32, '\0');
  GgufModelSpec bad_q;
  bad_q.attn_q_shape = {8, 4};
  GgufModelSpec vocab_only;
  vocab_only.with_tensors = false;
  // Found by fuzz_model_load: a block_count of 2^31 - 1 with tensors for one layer asked for
  // 2^31 - 1 LayerWeights before the first missing tensor was noticed (ASan: 64 GB allocation).
  GgufModelSpec too_many_layers;
  too_many_layers.block_count = INT32_MAX;
  return {
      // llama2.c checkpoints through Model::load (the tokenizer.bin beside them is written too).
      {"Llama2cVocabSizeInt32Min", "model.bin", m, bytes(llama2c_header({8, 16, 1, 2, 1, INT32_MIN, 4}) + good_bin.substr(28)),
       format, "vocab_size", "must be positive"},
      {"Llama2cMoreKvHeadsThanHeads", "model.bin", m, bytes(llama2c_header({8, 16, 1, 2, 4, 6, 4}) + good_bin.substr(28)),
       config, "num_key_value_heads", "do not divide"},
      {"Llama2cZeroSeqLen", "model.bin", m, bytes(llama2c_header({8, 16, 1, 2, 1, 6, 0}) + good_bin.substr(28)), format,
       "seq_len", "must be positive"},
      {"Llama2cHugeHiddenDim", "model.bin", m, bytes(llama2c_header({8, INT32_MAX, 1, 2, 1, 6, 4}) + good_bin.substr(28)),
       format, "w1", "needs"},
      {"Llama2cTruncatedWeights", "model.bin", m, bytes(good_bin.substr(0, good_bin.size() - 5)), format, "freq_cis_imag",
       "needs"},
      {"Llama2cVersion2", "model.bin", m, bytes(le32(0x616b3432) + le32(2) + std::string(300, '\0')), format, "version",
       "version 2"},
      {"GgufZeroDimDoesNotHideInt64Overflow", "model.gguf", m, bytes(zero_dim_gguf), format, "t", "overflows 64 bits"},
      // GGUF models whose tensors disagree with their own metadata.
      {"GgufTensorShapeDisagreesWithConfig", "model.gguf", m, gguf_model(bad_q), format, "blk.0.attn_q.weight",
       "does not match the config"},
      {"GgufVocabOnlyLoadedAsModel", "model.gguf", m, gguf_model(vocab_only), format, "token_embd.weight",
       "required tensor is missing"},
      {"GgufBlockCountBeyondTheTensors", "model.gguf", m, gguf_model(too_many_layers), format, "blk.1.attn_norm.weight",
       "required tensor is missing"},
  };
}

std::vector<CorruptCase> gguf_tokenizer_cases() {
  const Loader t = Loader::tokenizer;
  const Expected format = Expected::format_error, config = Expected::config_error;
  GgufModelSpec bos_outside;
  bos_outside.bos_id = 9999;
  GgufModelSpec scores_short;
  scores_short.scores.pop_back();
  GgufModelSpec bad_type;
  bad_type.token_types[4] = 42;
  return {
      {"GgufBosIdOutsideVocab", "vocab.gguf", t, gguf_model(bos_outside), config, "bos_token_id", "outside the vocabulary"},
      {"GgufScoresCountMismatch", "vocab.gguf", t, gguf_model(scores_short), config, "scores", "5 entries for 6 tokens"},
      {"GgufUnknownTokenType", "vocab.gguf", t, gguf_model(bad_type), format, "tokenizer.ggml.token_type[4]", "42"},
  };
}

// Files of one format under another's name: each reader must refuse the foreign bytes itself.
std::vector<CorruptCase> cross_format_cases() {
  const Loader t = Loader::tokenizer, m = Loader::model;
  const Expected format = Expected::format_error;
  std::string safetensors = std::string(8, '\0') + "{}";
  safetensors[0] = 2;
  return {
      {"CrossSafetensorsAsGguf", "model.gguf", m, bytes(safetensors), format, "magic", "not a GGUF file"},
      {"CrossTokenizerJsonAsSentencePiece", "tokenizer.model", t, bytes(tokenizer_json().dump()), format, "ModelProto",
       "unsupported wire type"},
      {"CrossSentencePieceAsTokenizerJson", "tokenizer.json", t, bytes(spm_model()), format, "json", "parse error"},
      {"CrossModelBinAsTokenizerBin", "tokenizer.bin", t, bytes(llama2c_model()), format, "token[", "max_token_length"},
      {"CrossConfigJsonAsTokenizerBin", "tokenizer.bin", t, bytes(config_json().dump()), format, "token[", ""},
  };
}

std::vector<CorruptCase> all_cases() {
  std::vector<CorruptCase> cases;
  for (auto part : {tokenizer_model_cases(), llama2c_tokenizer_cases(), tokenizer_json_cases(), config_json_cases(),
                    model_cases(), gguf_tokenizer_cases(), cross_format_cases()})
    cases.insert(cases.end(), part.begin(), part.end());
  return cases;
}

// ---- running them -------------------------------------------------------------------

// A fresh folder per test, removed afterwards.
class ScratchFolder {
 public:
  ScratchFolder() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name)
      if (c == '/') c = '_';
    path_ = fs::path(::testing::TempDir()) / ("llmpp_corrupt_corpus_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchFolder() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void load(Loader loader, const std::string& path) {
  switch (loader) {
    case Loader::tokenizer: (void)tokenizer::load_tokenizer(path); break;
    case Loader::config: (void)io::hf_config_from_file(path); break;
    case Loader::model: (void)Model::load(path); break;
  }
}

TEST(CorruptCorpusBaseline, ValidFilesLoad) {
  ScratchFolder folder;
  bytes(spm_model())(folder.file("tokenizer.model"));
  EXPECT_EQ(tokenizer::load_tokenizer(folder.file("tokenizer.model")).n_vocab(), 8);
  bytes(llama2c_tokenizer())(folder.file("tokenizer.bin"));
  EXPECT_EQ(tokenizer::load_tokenizer(folder.file("tokenizer.bin")).n_vocab(), 6);
  json_file(tokenizer_json())(folder.file("tokenizer.json"));
  const tokenizer::Tokenizer from_json = tokenizer::load_tokenizer(folder.file("tokenizer.json"));
  EXPECT_EQ(from_json.n_vocab(), 7);
  EXPECT_EQ(from_json.decode(from_json.encode("a a", false)), "a a");
  json_file(config_json())(folder.file("config.json"));
  EXPECT_EQ(io::hf_config_from_file(folder.file("config.json")).dim, 64);
  bytes(llama2c_model())(folder.file("model.bin"));
  EXPECT_EQ(Model::load(folder.file("model.bin"))->config().n_vocab, 6);
  write_gguf_model(folder.file("model.gguf"), GgufModelSpec{});
  EXPECT_EQ(Model::load(folder.file("model.gguf"))->config().dim, 8);
  EXPECT_EQ(tokenizer::load_tokenizer(folder.file("model.gguf")).n_vocab(), 6);
}

class CorruptCorpus : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptCorpus, RaisesTypedErrorNamingTheField) {
  const CorruptCase& c = GetParam();
  ScratchFolder folder;
  const std::string path = folder.file(c.file_name);
  c.write(path);
  // llama2.c checkpoints are opened with the tokenizer.bin beside them.
  if (c.loader == Loader::model && c.file_name == "model.bin") bytes(llama2c_tokenizer())(folder.file("tokenizer.bin"));
  try {
    load(c.loader, path);
    FAIL() << "expected an error naming '" << c.field << "'";
  } catch (const FormatError& e) {
    EXPECT_EQ(c.expected, Expected::format_error) << "got FormatError: " << e.what();
    EXPECT_EQ(e.file(), path) << e.what();
    EXPECT_NE(e.field().find(c.field), std::string::npos) << "field '" << e.field() << "' in: " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
  } catch (const ConfigError& e) {
    EXPECT_EQ(c.expected, Expected::config_error) << "got ConfigError: " << e.what();
    EXPECT_NE(e.field().find(c.field), std::string::npos) << "field '" << e.field() << "' in: " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    FAIL() << "untyped or wrong error type: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, CorruptCorpus, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) { return info.param.name; });

TEST(CorruptCorpusSize, AtLeastFortyCases) { EXPECT_GE(all_cases().size(), 40u); }

}  // namespace
}  // namespace llmpp
