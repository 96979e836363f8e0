// llama2.c checkpoints: stories260K.bin holds the same weights as stories260K.gguf (both are
// conversions of karpathy's tinyllamas checkpoint), so every tensor must equal the GGUF
// tensor of the same canonical name bit for bit. A version-1 file is assembled in the test
// from the GGUF's tensors, in export.py's version-1 order, and must read back identically.
// Hostile headers and truncations raise errors naming the field.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "llmpp/io/gguf.hpp"
#include "llmpp/io/llama2c.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

const char* const bin_path = "models/stories260K/stories260K.bin";
const char* const gguf_path = "models/stories260K/stories260K.gguf";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string write_temp(const std::string& bytes, const std::string& tag) {
  const std::string path = ::testing::TempDir() + "llmpp_llama2c_" + std::to_string(::getpid()) + "_" + tag + ".bin";
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

void expect_same_tensor(const TensorView& a, const TensorView& b, const std::string& label) {
  ASSERT_EQ(a.type, b.type) << label;
  ASSERT_EQ(a.ne, b.ne) << label << ": " << a.shape_string() << " vs " << b.shape_string();
  ASSERT_EQ(a.nbytes, b.nbytes) << label;
  EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0) << label;
}

TEST(Llama2c, Stories260KLegacyHeader) {
  LLMPP_REQUIRE_SHARED(bin_path);
  const Llama2cFile f(test::shared_path(bin_path));
  EXPECT_EQ(f.version(), 0);
  const ModelConfig& c = f.config();
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.ffn_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.n_ctx_train, 512);
  EXPECT_TRUE(c.tied_embeddings);  // shared classifier
  EXPECT_EQ(c.rope_layout, RopeLayout::interleaved);
  EXPECT_EQ(f.tensors().size(), 2u + 5u * 9u);  // no output.weight: shared
  EXPECT_EQ(f.find("output.weight"), nullptr);
}

TEST(Llama2c, Stories260KEqualsGGUF) {
  LLMPP_REQUIRE_SHARED(bin_path);
  const Llama2cFile bin(test::shared_path(bin_path));
  const GGUFFile gguf(test::shared_path(gguf_path));
  for (const TensorView& t : bin.tensors()) {
    const TensorView* g = gguf.find_tensor(t.name);
    ASSERT_NE(g, nullptr) << t.name;
    expect_same_tensor(t, *g, t.name);
  }
  // The GGUF stores the shared classifier explicitly: it equals the embedding.
  expect_same_tensor(*bin.find("token_embd.weight"), *gguf.find_tensor("output.weight"), "output.weight");
}

// Assembles a version-1 file (export.py --version 1) from the GGUF's tensors.
std::string version1_bytes(const GGUFFile& gguf, bool shared) {
  std::string out;
  auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  const uint32_t magic = 0x616b3432;
  const int32_t version = 1;
  const int32_t params[7] = {64, 172, 5, 8, 4, 512, 512};
  put(&magic, 4);
  put(&version, 4);
  put(params, sizeof params);
  const uint8_t flag = shared ? 1 : 0;
  put(&flag, 1);
  out.resize(256, '\0');
  auto tensor = [&](const std::string& name) {
    const TensorView* t = gguf.find_tensor(name);
    put(t->data, t->nbytes);
  };
  auto per_layer = [&](const std::string& suffix) {
    for (int l = 0; l < 5; ++l) tensor("blk." + std::to_string(l) + "." + suffix);
  };
  per_layer("attn_norm.weight");
  per_layer("ffn_norm.weight");
  tensor("output_norm.weight");
  tensor("token_embd.weight");
  for (const char* s : {"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_gate.weight",
                        "ffn_down.weight", "ffn_up.weight"})
    per_layer(s);
  if (!shared) tensor("output.weight");
  return out;
}

TEST(Llama2c, Version1RoundTrip) {
  LLMPP_REQUIRE_SHARED(gguf_path);
  const GGUFFile gguf(test::shared_path(gguf_path));
  for (const bool shared : {true, false}) {
    const std::string path = write_temp(version1_bytes(gguf, shared), shared ? "v1_shared" : "v1_unshared");
    const Llama2cFile f(path);
    EXPECT_EQ(f.version(), 1);
    EXPECT_EQ(f.config().tied_embeddings, shared);
    EXPECT_EQ(f.tensors().size(), (shared ? 47u : 48u));
    for (const TensorView& t : f.tensors()) expect_same_tensor(t, *gguf.find_tensor(t.name), t.name);
    std::remove(path.c_str());
  }
}

TEST(Llama2c, UnsharedLegacyClassifier) {
  // Negative vocab_size: the classifier follows the RoPE tables.
  LLMPP_REQUIRE_SHARED(bin_path);
  const GGUFFile gguf(test::shared_path(gguf_path));
  std::string bytes = read_all(test::shared_path(bin_path));
  const int32_t negative_vocab = -512;
  std::memcpy(&bytes[20], &negative_vocab, 4);
  const TensorView* output = gguf.find_tensor("output.weight");
  bytes.append(static_cast<const char*>(output->data), output->nbytes);
  const std::string path = write_temp(bytes, "unshared");
  const Llama2cFile f(path);
  EXPECT_FALSE(f.config().tied_embeddings);
  EXPECT_EQ(f.config().n_vocab, 512);
  ASSERT_NE(f.find("output.weight"), nullptr);
  expect_same_tensor(*f.find("output.weight"), *output, "output.weight");
  std::remove(path.c_str());
}

// ---- Hostile files ----

template <typename Error>
void expect_error(const std::string& bytes, const std::string& field, const std::string& tag) {
  const std::string path = write_temp(bytes, tag);
  try {
    Llama2cFile f(path);
    ADD_FAILURE() << tag << ": no exception; expected one naming '" << field << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << tag << ": wrong exception type: " << e.what();
  }
  std::remove(path.c_str());
}

std::string legacy_header(std::vector<int32_t> params) {
  return std::string(reinterpret_cast<const char*>(params.data()), params.size() * 4);
}

TEST(Llama2cHostile, TruncatedHeader) { expect_error<FormatError>(legacy_header({64, 172, 5}), "n_heads", "short_header"); }

TEST(Llama2cHostile, NonPositiveParameters) {
  expect_error<FormatError>(legacy_header({64, 172, 0, 8, 4, 512, 512}), "n_layers", "zero_layers");
  expect_error<FormatError>(legacy_header({-64, 172, 5, 8, 4, 512, 512}), "dim", "negative_dim");
  expect_error<FormatError>(legacy_header({64, 172, 5, 8, 4, 0, 512}), "vocab_size", "zero_vocab");
  expect_error<FormatError>(legacy_header({64, 172, 5, 8, 4, 512, -1}), "seq_len", "negative_seq");
}

TEST(Llama2cHostile, HeadsDoNotDivide) {
  expect_error<ConfigError>(legacy_header({64, 172, 5, 7, 7, 512, 512}), "num_attention_heads", "heads");
  expect_error<ConfigError>(legacy_header({64, 172, 5, 8, 3, 512, 512}), "num_key_value_heads", "kv_heads");
}

TEST(Llama2cHostile, HugeDimensionsNeverOverflow) {
  // 2^30 x 2^30 floats per layer overflow nothing in 64 bits but exceed the file.
  expect_error<FormatError>(legacy_header({1 << 30, 1 << 30, 1 << 30, 1 << 20, 1 << 20, (1 << 30), 1 << 30}),
                            "token_embedding_table", "huge");
}

TEST(Llama2cHostile, TruncatedWeights) {
  LLMPP_REQUIRE_SHARED(bin_path);
  const std::string bytes = read_all(test::shared_path(bin_path));
  expect_error<FormatError>(bytes.substr(0, 1000), "token_embedding_table", "cut_embedding");
  expect_error<FormatError>(bytes.substr(0, 28 + 512 * 64 * 4 + 5 * 64 * 4 + 100), "wq", "cut_wq");
  expect_error<FormatError>(bytes.substr(0, bytes.size() - 4), "freq_cis_imag", "cut_tail");
}

TEST(Llama2cHostile, TrailingBytes) {
  LLMPP_REQUIRE_SHARED(bin_path);
  expect_error<FormatError>(read_all(test::shared_path(bin_path)) + "junk", "file_size", "trailing");
}

TEST(Llama2cHostile, Version1Header) {
  std::string bytes;
  const uint32_t magic = 0x616b3432;
  int32_t version = 2;
  bytes.append(reinterpret_cast<const char*>(&magic), 4).append(reinterpret_cast<const char*>(&version), 4);
  expect_error<FormatError>(bytes + std::string(248, '\0'), "version", "v2");
  version = 1;
  bytes.replace(4, 4, reinterpret_cast<const char*>(&version), 4);
  bytes += legacy_header({64, 172, 5, 8, 4, 512, 512});
  expect_error<FormatError>(bytes, "shared_classifier", "no_flag");
  expect_error<FormatError>(bytes + std::string(1, '\x07') + std::string(219, '\0'), "shared_classifier", "bad_flag");
  expect_error<FormatError>(bytes + std::string(1, '\x01') + std::string(100, '\0'), "header", "short_pad");
}

}  // namespace
}  // namespace llmpp::io
