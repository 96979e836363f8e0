// GGUF reader: the real files in ../shared (facts from /work/shared/README.md and the
// llama.cpp conversions), then one hand-built hostile file per failure mode. Every hostile
// case checks the exception type and that the message names the offending field.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "llmpp/io/gguf.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

// ---- Real files -------------------------------------------------------------------------

TEST(GGUFReal, Stories260KHeaderAndMetadata) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const GGUFFile f(test::shared_path("models/stories260K/stories260K.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.get_string("general.architecture", ""), "llama");
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_strings().size(), 512u);
  EXPECT_EQ(f.get("tokenizer.ggml.scores").as_floats().size(), 512u);
  EXPECT_EQ(f.get("tokenizer.ggml.token_type").array_type(), GGUFType::i32);
  EXPECT_EQ(f.get_int("llama.embedding_length", 0), 64);
  EXPECT_EQ(f.get_int("llama.block_count", 0), 5);
  EXPECT_EQ(f.get_int("llama.attention.head_count", 0), 8);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv", 0), 4);
  EXPECT_EQ(f.get_int("llama.feed_forward_length", 0), 172);
  EXPECT_EQ(f.get_int("llama.context_length", 0), 2048);
  EXPECT_FLOAT_EQ(f.get_float("llama.attention.layer_norm_rms_epsilon", 0.0f), 1e-5f);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.bos_token_id", 99), 1u);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.eos_token_id", 99), 2u);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.padding_token_id", 0), 4294967295u);  // u32 -1: unset
  EXPECT_FLOAT_EQ(f.get_float("llama.rope.freq_base", 10000.0f), 10000.0f);  // absent: the fallback
  EXPECT_EQ(f.find("no.such.key"), nullptr);
  EXPECT_EQ(f.metadata().front().first, "tokenizer.ggml.tokens");  // file order
  const std::vector<std::string>& tokens = f.get("tokenizer.ggml.tokens").as_strings();
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
}

TEST(GGUFReal, Stories260KTensors) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const GGUFFile f(test::shared_path("models/stories260K/stories260K.gguf"));
  // token_embd, output_norm, output + 9 per layer
  EXPECT_EQ(f.tensors().size(), 3u + 5u * 9u);
  struct Expected { const char* name; std::vector<int64_t> ne; };
  const Expected expected[] = {
      {"token_embd.weight", {64, 512}},      {"output.weight", {64, 512}},       {"output_norm.weight", {64}},
      {"blk.0.attn_q.weight", {64, 64}},     {"blk.4.attn_k.weight", {64, 32}},  {"blk.2.attn_v.weight", {64, 32}},
      {"blk.3.attn_output.weight", {64, 64}}, {"blk.1.ffn_gate.weight", {64, 172}}, {"blk.1.ffn_up.weight", {64, 172}},
      {"blk.1.ffn_down.weight", {172, 64}},  {"blk.4.attn_norm.weight", {64}},   {"blk.4.ffn_norm.weight", {64}},
  };
  for (const Expected& e : expected) {
    const TensorView* t = f.find_tensor(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->type, DType::F32) << e.name;
    ASSERT_EQ(t->n_dims, static_cast<int>(e.ne.size())) << e.name;
    for (size_t d = 0; d < e.ne.size(); ++d) EXPECT_EQ(t->ne[d], e.ne[d]) << e.name << " ne[" << d << "]";
    EXPECT_EQ(t->nbytes, static_cast<uint64_t>(t->n_elements()) * 4) << e.name;
    // Zero-copy: the view points into the map, inside the data section.
    const uint8_t* base = f.mapped_file().data();
    EXPECT_GE(static_cast<const uint8_t*>(t->data), base + f.data_offset());
    EXPECT_LE(static_cast<const uint8_t*>(t->data) + t->nbytes, base + f.mapped_file().size());
  }
  EXPECT_EQ(f.find_tensor("blk.5.attn_q.weight"), nullptr);
  // RMSNorm weights of a trained model are finite and not all zero.
  const TensorView* norm = f.find_tensor("output_norm.weight");
  double sum = 0;
  for (int64_t i = 0; i < norm->n_elements(); ++i) sum += std::fabs(norm->f32()[i]);
  EXPECT_GT(sum, 1.0);
}

TEST(GGUFReal, VocabOnlyFiles) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
  struct Expected { const char* file; const char* model; size_t n_tokens; size_t n_merges; };
  const Expected expected[] = {
      {"vocab/ggml-vocab-llama-spm.gguf", "llama", 32000, 0},
      {"vocab/ggml-vocab-phi-3.gguf", "llama", 32064, 0},
      {"vocab/ggml-vocab-gpt-2.gguf", "gpt2", 50257, 50000},
      {"vocab/ggml-vocab-starcoder.gguf", "gpt2", 49152, 48872},
      {"vocab/ggml-vocab-deepseek-llm.gguf", "gpt2", 102400, 99757},
  };
  for (const Expected& e : expected) {
    const GGUFFile f(test::shared_path(e.file));
    EXPECT_TRUE(f.tensors().empty()) << e.file;
    EXPECT_EQ(f.get_string("tokenizer.ggml.model", ""), e.model) << e.file;
    EXPECT_EQ(f.get("tokenizer.ggml.tokens").array_size(), e.n_tokens) << e.file;
    const GGUFValue* merges = f.find("tokenizer.ggml.merges");
    EXPECT_EQ(merges ? merges->as_strings().size() : 0u, e.n_merges) << e.file;
  }
  const GGUFFile gpt2(test::shared_path("vocab/ggml-vocab-gpt-2.gguf"));
  EXPECT_EQ(gpt2.get("tokenizer.ggml.tokens").as_strings()[50256], "<|endoftext|>");
  EXPECT_EQ(gpt2.get("tokenizer.ggml.merges").as_strings()[0], "\xC4\xA0 t");  // "Ġ t", GPT-2's first merge
  const GGUFFile spm(test::shared_path("vocab/ggml-vocab-llama-spm.gguf"));
  EXPECT_TRUE(spm.get_bool("tokenizer.ggml.add_bos_token", false));
  EXPECT_FALSE(spm.get_bool("tokenizer.ggml.add_eos_token", true));
}

TEST(GGUFReal, WrongTypeAccessNamesTheKey) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const GGUFFile f(test::shared_path("models/stories260K/stories260K.gguf"));
  auto expect_names_key = [](auto&& access, const std::string& key) {
    try {
      access();
      ADD_FAILURE() << "no exception for " << key;
    } catch (const FormatError& e) {
      EXPECT_EQ(e.field(), key);
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  expect_names_key([&] { f.get("llama.block_count").as_string(); }, "llama.block_count");
  expect_names_key([&] { f.get("general.architecture").as_int(); }, "general.architecture");
  expect_names_key([&] { f.get("tokenizer.ggml.scores").as_strings(); }, "tokenizer.ggml.scores");
  expect_names_key([&] { f.get("tokenizer.ggml.tokens").as_ints(); }, "tokenizer.ggml.tokens");
  expect_names_key([&] { f.get("llama.block_count").as_bool(); }, "llama.block_count");
  expect_names_key([&] { f.get_float("general.name", 0.0f); }, "general.name");
  expect_names_key([&] { f.get("missing.key"); }, "missing.key");
}

// ---- Hand-built files -------------------------------------------------------------------

// Little-endian byte builder for hostile files.
struct Bytes {
  std::string b;
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u16(uint16_t v) { return raw(&v, 2); }
  Bytes& i16(int16_t v) { return raw(&v, 2); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& i32(int32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& i64(int64_t v) { return raw(&v, 8); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& str(const std::string& s) { u64(s.size()); b += s; return *this; }
  Bytes& raw(const void* p, size_t n) { b.append(static_cast<const char*>(p), n); return *this; }
  Bytes& add(const Bytes& other) { b += other.b; return *this; }
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;  // F32
  uint64_t offset = 0;
};

// A whole GGUF file: header, the given (pre-encoded) metadata entries, tensor infos, padding
// and `data_bytes` bytes of data. Counts can be overridden to lie.
struct FileSpec {
  uint32_t magic = gguf_magic;
  uint32_t version = 3;
  std::vector<Bytes> kvs;
  std::vector<TensorSpec> tensors;
  uint64_t alignment = 32;
  uint64_t data_bytes = 0;
  int64_t tensor_count = -1, kv_count = -1;  // -1: the true count
};

Bytes kv_u32(const std::string& key, uint32_t v) { return Bytes().str(key).u32(4).u32(v); }
Bytes kv_string(const std::string& key, const std::string& v) { return Bytes().str(key).u32(8).str(v); }

std::string encode(const FileSpec& s) {
  Bytes out;
  out.u32(s.magic).u32(s.version);
  out.u64(s.tensor_count >= 0 ? static_cast<uint64_t>(s.tensor_count) : s.tensors.size());
  out.u64(s.kv_count >= 0 ? static_cast<uint64_t>(s.kv_count) : s.kvs.size());
  for (const Bytes& kv : s.kvs) out.add(kv);
  for (const TensorSpec& t : s.tensors) {
    out.str(t.name).u32(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) out.u64(n);
    out.u32(t.type).u64(t.offset);
  }
  while (out.b.size() % s.alignment) out.u8(0);
  for (uint64_t i = 0; i < s.data_bytes; ++i) out.u8(static_cast<uint8_t>(i * 7));
  return out.b;
}

// A small valid file: two metadata entries and two F32 tensors of 8 and 4 elements.
FileSpec valid_spec() {
  FileSpec s;
  s.kvs = {kv_string("general.architecture", "llama"), kv_u32("llama.block_count", 1)};
  s.tensors = {{"a.weight", {4, 2}, 0, 0}, {"b.weight", {4}, 0, 32}};
  s.data_bytes = 48;
  return s;
}

std::string write_temp(const std::string& bytes) {
  static int counter = 0;
  const std::string path = ::testing::TempDir() + "llmpp_gguf_" + std::to_string(::getpid()) + "_" +
                           std::to_string(counter++) + ".gguf";
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// Parses `bytes` and expects a FormatError whose field is `field` and whose message names it
// (and the file).
void expect_format_error(const std::string& bytes, const std::string& field, const std::string& also = "") {
  const std::string path = write_temp(bytes);
  try {
    GGUFFile f(path);
    ADD_FAILURE() << "no exception; expected one naming '" << field << "'";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.field(), field) << message;
    EXPECT_NE(message.find(field), std::string::npos) << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("byte offset"), std::string::npos) << message;
    if (!also.empty()) {
      EXPECT_NE(message.find(also), std::string::npos) << message;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
  std::remove(path.c_str());
}

TEST(GGUFBuilt, ValidFileParses) {
  const std::string path = write_temp(encode(valid_spec()));
  const GGUFFile f(path);
  EXPECT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.find_tensor("a.weight")->ne[1], 2);
  EXPECT_EQ(f.find_tensor("b.weight")->nbytes, 16u);
  EXPECT_EQ(static_cast<const uint8_t*>(f.find_tensor("b.weight")->data) - f.mapped_file().data(),
            static_cast<std::ptrdiff_t>(f.data_offset() + 32));
  EXPECT_EQ(f.get_int("llama.block_count", 0), 1);
  std::remove(path.c_str());
}

TEST(GGUFHostile, EmptyFile) { expect_format_error("", "magic", "truncated"); }

TEST(GGUFHostile, BadMagic) {
  FileSpec s = valid_spec();
  s.magic = 0x46554746;
  expect_format_error(encode(s), "magic");
}

TEST(GGUFHostile, VersionOne) {
  FileSpec s = valid_spec();
  s.version = 1;
  expect_format_error(encode(s), "version", "v1");
}

TEST(GGUFHostile, FutureVersion) {
  FileSpec s = valid_spec();
  s.version = 4;
  expect_format_error(encode(s), "version", "unsupported version 4");
}

TEST(GGUFHostile, BigEndianVersion) {
  FileSpec s = valid_spec();
  s.version = 0x03000000;
  expect_format_error(encode(s), "version", "big-endian");
}

TEST(GGUFHostile, TruncatedHeader) { expect_format_error(encode(valid_spec()).substr(0, 12), "tensor_count", "truncated"); }

TEST(GGUFHostile, TensorCountTooLarge) {
  FileSpec s = valid_spec();
  s.tensor_count = int64_t{1} << 40;
  expect_format_error(encode(s), "tensor_count");
}

TEST(GGUFHostile, TensorCountHuge) {
  FileSpec s = valid_spec();
  s.tensor_count = std::numeric_limits<int64_t>::max();
  expect_format_error(encode(s), "tensor_count");
}

TEST(GGUFHostile, KvCountTooLarge) {
  FileSpec s = valid_spec();
  s.kv_count = 1000000;
  expect_format_error(encode(s), "metadata_kv_count");
}

TEST(GGUFHostile, KeyLengthPastEnd) {
  FileSpec s = valid_spec();
  s.kvs.insert(s.kvs.begin(), Bytes().u64(1u << 20).raw("abc", 3));
  expect_format_error(encode(s), "metadata[0].key", "string length");
}

TEST(GGUFHostile, KeyLengthOverflows) {
  FileSpec s = valid_spec();
  s.kvs.insert(s.kvs.begin(), Bytes().u64(std::numeric_limits<uint64_t>::max()).raw("abc", 3));
  expect_format_error(encode(s), "metadata[0].key", "string length");
}

TEST(GGUFHostile, UnknownValueType) {
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("weird.key").u32(13).u32(0));
  expect_format_error(encode(s), "weird.key", "unknown value type 13");
}

TEST(GGUFHostile, StringValueLengthPastEnd) {
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("general.name").u32(8).u64(uint64_t{1} << 62));
  expect_format_error(encode(s), "general.name", "string length");
}

TEST(GGUFHostile, ArrayCountPastEnd) {
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("tokenizer.ggml.scores").u32(9).u32(6).u64(1u << 30));
  expect_format_error(encode(s), "tokenizer.ggml.scores", "array of 1073741824 f32");
}

TEST(GGUFHostile, ArrayByteSizeOverflows) {
  // 2^62 u64 elements: count * 8 overflows 64 bits; must be refused before multiplying.
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("big.array").u32(9).u32(10).u64(uint64_t{1} << 62));
  expect_format_error(encode(s), "big.array");
}

TEST(GGUFHostile, StringArrayCountPastEnd) {
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("tokenizer.ggml.tokens").u32(9).u32(8).u64(uint64_t{1} << 50));
  expect_format_error(encode(s), "tokenizer.ggml.tokens");
}

TEST(GGUFHostile, StringInArrayPastEnd) {
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("tokenizer.ggml.tokens").u32(9).u32(8).u64(2).str("ok").u64(1000).raw("x", 1));
  expect_format_error(encode(s), "tokenizer.ggml.tokens[1]", "string length");
}

TEST(GGUFHostile, NestedArray) {
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("nested").u32(9).u32(9).u64(1).u32(4).u64(0));
  expect_format_error(encode(s), "nested", "nested");
}

TEST(GGUFHostile, ArrayUnknownElementType) {
  FileSpec s = valid_spec();
  s.kvs.push_back(Bytes().str("odd").u32(9).u32(77).u64(1));
  expect_format_error(encode(s), "odd", "unknown element type 77");
}

TEST(GGUFHostile, TruncatedScalar) {
  FileSpec s;
  s.kvs = {Bytes().str("llama.block_count").u32(10).u32(1)};  // u64 with 4 bytes
  std::string bytes = encode(s);
  expect_format_error(bytes.substr(0, 24 + 8 + 17 + 4 + 4), "llama.block_count", "truncated");
}

TEST(GGUFHostile, DuplicateKey) {
  FileSpec s = valid_spec();
  s.kvs.push_back(kv_u32("llama.block_count", 2));
  expect_format_error(encode(s), "llama.block_count", "duplicate");
}

TEST(GGUFHostile, AlignmentZero) {
  FileSpec s = valid_spec();
  s.kvs.push_back(kv_u32("general.alignment", 0));
  expect_format_error(encode(s), "general.alignment", "power of two");
}

TEST(GGUFHostile, AlignmentNotPowerOfTwo) {
  FileSpec s = valid_spec();
  s.kvs.push_back(kv_u32("general.alignment", 48));
  expect_format_error(encode(s), "general.alignment", "power of two");
}

TEST(GGUFHostile, AlignmentWrongType) {
  FileSpec s = valid_spec();
  s.kvs.push_back(kv_string("general.alignment", "32"));
  expect_format_error(encode(s), "general.alignment", "string");
}

TEST(GGUFHostile, TooManyDims) {
  FileSpec s = valid_spec();
  s.tensors[0].ne = {1, 1, 1, 1, 8};
  expect_format_error(encode(s), "a.weight", "n_dims is 5");
}

TEST(GGUFHostile, ZeroDims) {
  FileSpec s = valid_spec();
  s.tensors[1].ne = {};
  expect_format_error(encode(s), "b.weight", "n_dims is 0");
}

TEST(GGUFHostile, NegativeDimension) {
  FileSpec s = valid_spec();
  s.tensors[0].ne = {4, static_cast<uint64_t>(-2)};
  expect_format_error(encode(s), "a.weight", "too large");
}

TEST(GGUFHostile, ShapeOverflows) {
  FileSpec s = valid_spec();
  s.tensors[0].ne = {uint64_t{1} << 32, uint64_t{1} << 32, 4};
  expect_format_error(encode(s), "a.weight", "overflows");
}

TEST(GGUFHostile, ByteSizeOverflows) {
  // 2^62 elements fit int64, but 4 bytes each do not fit 64 bits.
  FileSpec s = valid_spec();
  s.tensors[0].ne = {uint64_t{1} << 31, uint64_t{1} << 31};
  expect_format_error(encode(s), "a.weight", "overflows");
}

TEST(GGUFHostile, UnknownTensorType) {
  FileSpec s = valid_spec();
  s.tensors[0].type = 99;
  expect_format_error(encode(s), "a.weight", "unknown tensor type 99");
}

TEST(GGUFHostile, RowNotWholeBlocks) {
  FileSpec s = valid_spec();
  s.tensors[0].type = static_cast<uint32_t>(DType::Q4_0);
  s.tensors[0].ne = {33, 1};
  expect_format_error(encode(s), "a.weight", "block size 32");
}

TEST(GGUFHostile, MisalignedOffset) {
  FileSpec s = valid_spec();
  s.tensors[1].offset = 36;
  expect_format_error(encode(s), "b.weight", "alignment");
}

TEST(GGUFHostile, OffsetOutsideFile) {
  FileSpec s = valid_spec();
  s.tensors[1].offset = uint64_t{1} << 40;
  expect_format_error(encode(s), "b.weight", "past the end");
}

TEST(GGUFHostile, OffsetNearUint64Max) {
  // offset + nbytes wraps around 2^64: must still be refused.
  FileSpec s = valid_spec();
  s.tensors[1].offset = std::numeric_limits<uint64_t>::max() - 31;
  expect_format_error(encode(s), "b.weight", "past the end");
}

TEST(GGUFHostile, DataPastEnd) {
  FileSpec s = valid_spec();
  s.data_bytes = 40;  // b.weight needs [32, 48)
  expect_format_error(encode(s), "b.weight", "past the end");
}

TEST(GGUFHostile, OverlappingTensors) {
  FileSpec s = valid_spec();
  s.tensors[1].offset = 0;  // inside a.weight's [0, 32)
  expect_format_error(encode(s), "b.weight", "overlaps tensor 'a.weight'");
}

TEST(GGUFHostile, OverlapHiddenBehindSmallTensor) {
  // a: [0, 128), b: [32, 48) (inside a), c: [64, ...) also inside a; sorting alone would
  // compare c only with b.
  FileSpec s;
  s.tensors = {{"a", {32}, 0, 0}, {"b", {4}, 0, 32}, {"c", {4}, 0, 64}};
  s.data_bytes = 128;
  const std::string path = write_temp(encode(s));
  EXPECT_THROW(GGUFFile{path}, FormatError);
  std::remove(path.c_str());
}

TEST(GGUFHostile, DuplicateTensorName) {
  FileSpec s = valid_spec();
  s.tensors[1].name = "a.weight";
  expect_format_error(encode(s), "a.weight", "duplicate tensor name");
}

TEST(GGUFHostile, TensorNameLengthPastEnd) {
  FileSpec s = valid_spec();
  std::string bytes = encode(s);
  // Rewrite the first tensor name's length (right after the metadata).
  size_t pos = 24;
  for (const Bytes& kv : s.kvs) pos += kv.b.size();
  const uint64_t huge = uint64_t{1} << 33;
  std::memcpy(&bytes[pos], &huge, 8);
  expect_format_error(bytes, "tensor[0].name", "string length");
}

TEST(GGUFHostile, DataSectionPastEnd) {
  // Tensor infos end exactly at EOF, so the aligned data start lies beyond the file.
  FileSpec s;
  s.tensors = {{"t", {0}, 0, 0}};
  std::string bytes = encode(s);
  const size_t info_end = 24 + 8 + 1 + 4 + 8 + 4 + 8;
  expect_format_error(bytes.substr(0, info_end), "data_offset", "past the end");
}

TEST(GGUFHostile, EveryTruncationIsAFormatError) {
  const std::string bytes = encode(valid_spec());
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string path = write_temp(bytes.substr(0, n));
    EXPECT_THROW(GGUFFile{path}, FormatError) << "truncated to " << n << " bytes";
    std::remove(path.c_str());
  }
}

TEST(GGUFHostile, ByteFlipsNeverCrash) {
  // Every single-byte corruption of the header either parses or raises FormatError.
  const std::string bytes = encode(valid_spec());
  const size_t header_end = bytes.size() - 48;
  const uint8_t patterns[] = {0xff, 0x80, 0x01};
  for (size_t i = 0; i < header_end; ++i)
    for (uint8_t pattern : patterns) {
      std::string mutated = bytes;
      mutated[i] = static_cast<char>(mutated[i] ^ pattern);
      const std::string path = write_temp(mutated);
      try {
        GGUFFile f(path);
        for (const TensorView& t : f.tensors())
          EXPECT_LE(static_cast<const uint8_t*>(t.data) + t.nbytes, f.mapped_file().data() + f.mapped_file().size());
      } catch (const FormatError&) {
      }
      std::remove(path.c_str());
    }
}

TEST(GGUFValues, IntegerConversions) {
  FileSpec s;
  s.kvs = {Bytes().str("big").u32(10).u64(std::numeric_limits<uint64_t>::max()),
           Bytes().str("neg").u32(5).i32(-7),
           Bytes().str("neg8").u32(1).u8(0xfe),
           Bytes().str("ints").u32(9).u32(2).u64(3).u16(1).u16(65535).u16(7),
           Bytes().str("mixed").u32(9).u32(3).u64(2).i16(-3).i16(300),
           Bytes().str("f").u32(6).f32(0.25f)};
  const std::string path = write_temp(encode(s));
  const GGUFFile f(path);
  EXPECT_EQ(f.get("big").as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_THROW(f.get("big").as_int(), FormatError);  // does not fit int64
  EXPECT_EQ(f.get("neg").as_int(), -7);
  EXPECT_THROW(f.get("neg").as_uint(), FormatError);
  EXPECT_EQ(f.get("neg8").as_int(), -2);
  EXPECT_EQ(f.get("ints").as_ints(), (std::vector<int64_t>{1, 65535, 7}));
  EXPECT_EQ(f.get("mixed").as_ints(), (std::vector<int64_t>{-3, 300}));
  EXPECT_EQ(f.get("mixed").as_floats(), (std::vector<float>{-3.0f, 300.0f}));
  EXPECT_DOUBLE_EQ(f.get("f").as_double(), 0.25);
  EXPECT_DOUBLE_EQ(f.get("neg").as_double(), -7.0);
  EXPECT_THROW(f.get("f").as_int(), FormatError);
  EXPECT_FALSE(f.get("f").is_array());
  EXPECT_EQ(f.get("ints").array_size(), 3u);
  EXPECT_EQ(f.get("ints").array_type(), GGUFType::u16);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace llmpp::io
