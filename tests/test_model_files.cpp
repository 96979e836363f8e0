// open_model_files over the three layouts of stories260K (GGUF, llama2.c, Hugging Face F32
// and sharded BF16). All hold the same weights, so each canonical tensor must match the
// GGUF's: exactly for llama2.c and HF F32 (after undoing HF's q/k row permutation, computed
// here from transformers' convert script), and after BF16 rounding for the BF16 folder.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "llmpp/core/fp16.hpp"
#include "llmpp/io/model_files.hpp"
#include "llmpp/model/weight_names.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

const char* const gguf_path = "models/stories260K/stories260K.gguf";

std::vector<float> to_floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.type == DType::F32) out[i] = t.f32()[i];
    else if (t.type == DType::BF16) out[i] = bf16_to_fp32(static_cast<const uint16_t*>(t.data)[i]);
    else ADD_FAILURE() << t.name << ": unexpected type";
  }
  return out;
}

// transformers' convert_llama_weights_to_hf.py permutes each head's rows of wq/wk for
// rotate_half: w.view(n_heads, head_dim/2, 2, dim).transpose(1, 2). So HF row
// h*head_dim + j*(head_dim/2) + i holds Meta's row h*head_dim + 2*i + j.
std::vector<float> undo_hf_permutation(const std::vector<float>& hf, int n_heads, int head_dim, int cols) {
  std::vector<float> meta(hf.size());  // (n_heads * head_dim, cols)
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < head_dim / 2; ++i)
      for (int j = 0; j < 2; ++j) {
        const size_t hf_row = static_cast<size_t>(h * head_dim + j * (head_dim / 2) + i);
        const size_t meta_row = static_cast<size_t>(h * head_dim + 2 * i + j);
        std::memcpy(&meta[meta_row * cols], &hf[hf_row * cols], static_cast<size_t>(cols) * sizeof(float));
      }
  return meta;
}

// Compares every canonical tensor of `m` with the GGUF's; `round` is applied to the GGUF
// values first (identity for F32 sources).
void expect_matches_gguf(const ModelFiles& m, float (*round)(float)) {
  const GGUFFile gguf(test::shared_path(gguf_path));
  const ModelConfig& c = m.config;
  int n_compared = 0;
  for (const TensorView& g : gguf.tensors()) {
    const TensorView* t = m.weights->find(g.name);
    if (g.name == "output.weight" && c.tied_embeddings) {
      EXPECT_EQ(t, nullptr);
      continue;
    }
    ASSERT_NE(t, nullptr) << g.name;
    ASSERT_EQ(t->ne, g.ne) << g.name;
    std::vector<float> values = to_floats(*t);
    const bool is_q = g.name.find("attn_q.weight") != std::string::npos;
    const bool is_k = g.name.find("attn_k.weight") != std::string::npos;
    if (m.format == "hf" && (is_q || is_k))
      values = undo_hf_permutation(values, is_q ? c.n_heads : c.n_kv_heads, c.head_dim(), c.dim);
    std::vector<float> expected = to_floats(g);
    for (float& x : expected) x = round(x);
    ASSERT_EQ(values.size(), expected.size());
    EXPECT_EQ(std::memcmp(values.data(), expected.data(), values.size() * sizeof(float)), 0) << g.name;
    ++n_compared;
  }
  EXPECT_EQ(n_compared, 47);
}

float identity(float x) { return x; }
float round_bf16(float x) { return bf16_to_fp32(fp32_to_bf16(x)); }

TEST(ModelFiles, GGUF) {
  LLMPP_REQUIRE_SHARED(gguf_path);
  const ModelFiles m = open_model_files(test::shared_path(gguf_path));
  EXPECT_EQ(m.format, "gguf");
  ASSERT_NE(m.gguf, nullptr);
  EXPECT_EQ(m.tokenizer_path, test::shared_path(gguf_path));
  EXPECT_EQ(m.config.n_layers, 5);
  EXPECT_EQ(m.config.rope_layout, RopeLayout::interleaved);
  EXPECT_EQ(m.weights->path(), test::shared_path(gguf_path));
  ASSERT_NE(m.weights->find("blk.3.ffn_down.weight"), nullptr);
  EXPECT_EQ(m.weights->find("blk.5.ffn_down.weight"), nullptr);
}

TEST(ModelFiles, Llama2cMatchesGGUF) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const ModelFiles m = open_model_files(test::shared_path("models/stories260K/stories260K.bin"));
  EXPECT_EQ(m.format, "llama2c");
  EXPECT_EQ(m.gguf, nullptr);
  EXPECT_EQ(m.tokenizer_path, test::shared_path("models/stories260K/tok512.bin"));
  EXPECT_EQ(m.config.n_ctx_train, 512);
  expect_matches_gguf(m, identity);
}

TEST(ModelFiles, HuggingFaceF32MatchesGGUF) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf/model.safetensors");
  const ModelFiles m = open_model_files(test::shared_path("models/stories260K-hf"));
  EXPECT_EQ(m.format, "hf");
  EXPECT_EQ(m.tokenizer_path, test::shared_path("models/stories260K-hf"));
  EXPECT_EQ(m.config.rope_layout, RopeLayout::half_split);
  EXPECT_TRUE(m.config.tied_embeddings);
  EXPECT_EQ(m.weights->find("blk.0.attn_q.weight")->type, DType::F32);
  expect_matches_gguf(m, identity);
}

TEST(ModelFiles, HuggingFaceBF16ShardsMatchGGUF) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf-bf16/model.safetensors.index.json");
  const ModelFiles m = open_model_files(test::shared_path("models/stories260K-hf-bf16"));
  EXPECT_EQ(m.weights->find("token_embd.weight")->type, DType::BF16);
  // PyTorch's .to(bfloat16) rounds to nearest even, as fp32_to_bf16 does.
  expect_matches_gguf(m, round_bf16);
}

TEST(ModelFiles, TokenizerOverride) {
  LLMPP_REQUIRE_SHARED(gguf_path);
  const ModelFiles m = open_model_files(test::shared_path(gguf_path), "/elsewhere/tokenizer.json");
  EXPECT_EQ(m.tokenizer_path, "/elsewhere/tokenizer.json");
}

TEST(ModelFiles, UnknownFile) {
  const std::string path = ::testing::TempDir() + "llmpp_unknown_model.xyz";
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("hello world", f);
  std::fclose(f);
  EXPECT_THROW(open_model_files(path), FormatError);
  EXPECT_THROW(open_model_files(path + ".missing"), IoError);
  std::remove(path.c_str());
}

TEST(WeightNames, EveryHFTensorHasACanonicalNameAndBack) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf/model.safetensors");
  const WeightNameTable* table = find_weight_name_table("LlamaForCausalLM");
  ASSERT_NE(table, nullptr);
  const SafetensorsSet files(test::shared_path("models/stories260K-hf"));
  for (const TensorView* t : files.tensors()) {
    const std::string canonical = to_canonical_name(*table, t->name);
    ASSERT_FALSE(canonical.empty()) << t->name;
    EXPECT_EQ(to_file_name(*table, canonical), t->name);
  }
}

TEST(WeightNames, MixtralExperts) {
  const WeightNameTable* table = find_weight_name_table("MixtralForCausalLM");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(to_file_name(*table, "blk.12.ffn_gate.7.weight"), "model.layers.12.block_sparse_moe.experts.7.w1.weight");
  EXPECT_EQ(to_file_name(*table, "blk.0.ffn_up.3.weight"), "model.layers.0.block_sparse_moe.experts.3.w3.weight");
  EXPECT_EQ(to_file_name(*table, "blk.0.ffn_down.3.weight"), "model.layers.0.block_sparse_moe.experts.3.w2.weight");
  EXPECT_EQ(to_file_name(*table, "blk.1.ffn_gate_inp.weight"), "model.layers.1.block_sparse_moe.gate.weight");
  EXPECT_EQ(to_canonical_name(*table, "model.layers.31.self_attn.o_proj.weight"), "blk.31.attn_output.weight");
  EXPECT_EQ(to_file_name(*table, "blk.1.ffn_gate.weight"), "");  // Mixtral has no dense FFN
  EXPECT_EQ(to_file_name(*table, "blk.x.attn_q.weight"), "");     // not a layer index
  EXPECT_EQ(to_file_name(*table, "blk.1.attn_q.weight.extra"), "");
  const WeightNameTable* qwen2 = find_weight_name_table("Qwen2ForCausalLM");
  ASSERT_NE(qwen2, nullptr);
  EXPECT_EQ(to_file_name(*qwen2, "blk.2.attn_k.bias"), "model.layers.2.self_attn.k_proj.bias");
  EXPECT_EQ(find_weight_name_table("GPT2LMHeadModel"), nullptr);
}

}  // namespace
}  // namespace llmpp::io
