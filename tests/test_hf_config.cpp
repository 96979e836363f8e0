// ModelConfig from Hugging Face config.json and from GGUF metadata. The config.json texts
// are the ones published with the models (Mistral-7B-v0.1, Mixtral-8x7B-v0.1, Qwen2-0.5B,
// Llama-3.1-8B, trimmed of keys we do not read); the stories260K facts are from
// /work/shared/README.md.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "llmpp/io/gguf_config.hpp"
#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/io/hf_config.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

ModelConfig parse(const std::string& text) { return hf_config_from_json(nlohmann::json::parse(text), "config.json"); }

// Expects a ConfigError whose field is `field` and whose message names it.
void expect_config_error(const std::string& text, const std::string& field) {
  try {
    parse(text);
    ADD_FAILURE() << "no exception; expected one naming '" << field << "'";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
}

const char* const mistral_7b = R"({"architectures":["MistralForCausalLM"],"bos_token_id":1,"eos_token_id":2,
  "hidden_act":"silu","hidden_size":4096,"intermediate_size":14336,"max_position_embeddings":32768,
  "model_type":"mistral","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,
  "rms_norm_eps":1e-05,"rope_theta":10000.0,"sliding_window":4096,"tie_word_embeddings":false,
  "torch_dtype":"bfloat16","vocab_size":32000})";

const char* const mixtral_8x7b = R"({"architectures":["MixtralForCausalLM"],"bos_token_id":1,"eos_token_id":2,
  "hidden_act":"silu","hidden_size":4096,"intermediate_size":14336,"max_position_embeddings":32768,
  "model_type":"mixtral","num_attention_heads":32,"num_experts_per_tok":2,"num_hidden_layers":32,
  "num_key_value_heads":8,"num_local_experts":8,"rms_norm_eps":1e-05,"rope_theta":1000000.0,
  "sliding_window":null,"tie_word_embeddings":false,"vocab_size":32000})";

const char* const qwen2_05b = R"({"architectures":["Qwen2ForCausalLM"],"bos_token_id":151643,"eos_token_id":151643,
  "hidden_act":"silu","hidden_size":896,"intermediate_size":4864,"max_position_embeddings":131072,
  "max_window_layers":24,"model_type":"qwen2","num_attention_heads":14,"num_hidden_layers":24,
  "num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,"sliding_window":131072,
  "tie_word_embeddings":true,"use_sliding_window":false,"vocab_size":151936})";

const char* const llama31_8b = R"({"architectures":["LlamaForCausalLM"],"bos_token_id":128000,
  "eos_token_id":[128001,128008,128009],"hidden_act":"silu","hidden_size":4096,"intermediate_size":14336,
  "max_position_embeddings":131072,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,
  "num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,
  "high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,
  "tie_word_embeddings":false,"vocab_size":128256})";

TEST(HFConfig, Stories260KFolder) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf/config.json");
  for (const char* folder : {"models/stories260K-hf", "models/stories260K-hf/config.json", "models/stories260K-hf-bf16"}) {
    const ModelConfig c = hf_config_from_file(test::shared_path(folder));
    EXPECT_EQ(c.architecture, "llama") << folder;
    EXPECT_EQ(c.dim, 64);
    EXPECT_EQ(c.n_layers, 5);
    EXPECT_EQ(c.n_heads, 8);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.head_dim(), 8);
    EXPECT_EQ(c.ffn_dim, 172);
    EXPECT_EQ(c.n_vocab, 512);
    EXPECT_EQ(c.n_ctx_train, 512);
    EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
    EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
    EXPECT_EQ(c.rope_layout, RopeLayout::half_split);
    EXPECT_TRUE(c.tied_embeddings);
    EXPECT_FALSE(c.attn_qkv_bias);
    EXPECT_EQ(c.bos_token_id, 1);
    EXPECT_EQ(c.eos_token_id, 2);
    EXPECT_EQ(c.rope_scaling.type, RopeScalingType::none);
  }
}

TEST(HFConfig, Mistral) {
  const ModelConfig c = parse(mistral_7b);
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_EQ(c.ffn_dim, 14336);
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(c.n_ctx_train, 32768);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.is_moe());
}

TEST(HFConfig, Mixtral) {
  const ModelConfig c = parse(mixtral_8x7b);
  EXPECT_EQ(c.n_experts, 8);
  EXPECT_EQ(c.n_experts_per_tok, 2);
  EXPECT_TRUE(c.moe_renormalize);
  EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  EXPECT_EQ(c.sliding_window, 0);  // null: full attention
}

TEST(HFConfig, Qwen2) {
  const ModelConfig c = parse(qwen2_05b);
  EXPECT_EQ(c.architecture, "qwen2");
  EXPECT_TRUE(c.attn_qkv_bias);
  EXPECT_EQ(c.rope_layout, RopeLayout::half_split);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window is false
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
  EXPECT_EQ(c.bos_token_id, 151643);

  nlohmann::json j = nlohmann::json::parse(qwen2_05b);
  j["use_sliding_window"] = true;
  EXPECT_EQ(hf_config_from_json(j, "config.json").sliding_window, 131072);
}

TEST(HFConfig, Llama31RopeScalingAndEosList) {
  const ModelConfig c = parse(llama31_8b);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::llama3);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 8.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.high_freq_factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position, 8192);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.eos_token_id, 128001);  // the first of the list
  EXPECT_EQ(c.bos_token_id, 128000);
}

TEST(HFConfig, OtherRopeScalings) {
  nlohmann::json j = nlohmann::json::parse(mistral_7b);
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  ModelConfig c = hf_config_from_json(j, "config.json");
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::linear);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 2.0f);

  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 4.0}};
  c = hf_config_from_json(j, "config.json");
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::dynamic_ntk);
  EXPECT_EQ(c.rope_scaling.original_max_position, 32768);  // defaults to max_position_embeddings

  j["rope_scaling"] = {{"rope_type", "yarn"},        {"factor", 4.0},   {"original_max_position_embeddings", 4096},
                       {"beta_fast", 16},           {"beta_slow", 2.0}, {"attention_factor", 1.25}};
  c = hf_config_from_json(j, "config.json");
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::yarn);
  EXPECT_EQ(c.rope_scaling.original_max_position, 4096);
  EXPECT_FLOAT_EQ(c.rope_scaling.beta_fast, 16.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.beta_slow, 2.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.attention_factor, 1.25f);

  j["rope_scaling"] = nullptr;
  EXPECT_EQ(hf_config_from_json(j, "config.json").rope_scaling.type, RopeScalingType::none);
}

TEST(HFConfig, ModelTypeWithoutArchitectures) {
  nlohmann::json j = nlohmann::json::parse(qwen2_05b);
  j.erase("architectures");
  EXPECT_EQ(hf_config_from_json(j, "config.json").architecture, "qwen2");
  j.erase("num_key_value_heads");
  EXPECT_EQ(hf_config_from_json(j, "config.json").n_kv_heads, 14);  // defaults to the head count
}

// ---- Errors: each names its key ----

std::string with(const char* base, const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = nlohmann::json::parse(base);
  j[key] = value;
  return j.dump();
}
std::string without(const char* base, const std::string& key) {
  nlohmann::json j = nlohmann::json::parse(base);
  j.erase(key);
  return j.dump();
}

TEST(HFConfigErrors, MissingRequiredKeys) {
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"})
    expect_config_error(without(mistral_7b, key), key);
}

TEST(HFConfigErrors, WrongTypes) {
  expect_config_error(with(mistral_7b, "hidden_size", "4096"), "hidden_size");
  expect_config_error(with(mistral_7b, "num_hidden_layers", 32.5), "num_hidden_layers");
  expect_config_error(with(mistral_7b, "rms_norm_eps", "small"), "rms_norm_eps");
  expect_config_error(with(mistral_7b, "tie_word_embeddings", 1), "tie_word_embeddings");
  expect_config_error(with(mistral_7b, "rope_scaling", 2.0), "rope_scaling");
  expect_config_error(with(mistral_7b, "vocab_size", int64_t{1} << 40), "vocab_size");
  expect_config_error(with(mistral_7b, "architectures", "MistralForCausalLM"), "architectures");
}

TEST(HFConfigErrors, UnknownArchitecture) {
  expect_config_error(with(mistral_7b, "architectures", {"GPTNeoXForCausalLM"}), "architectures");
  expect_config_error(without(without(mistral_7b, "architectures").c_str(), "model_type"), "model_type");
}

TEST(HFConfigErrors, HeadsDoNotDivideHiddenSize) {
  expect_config_error(with(mistral_7b, "num_attention_heads", 30), "num_attention_heads");
}

TEST(HFConfigErrors, KvHeadsDoNotDivideHeads) {
  expect_config_error(with(mistral_7b, "num_key_value_heads", 5), "num_key_value_heads");
}

TEST(HFConfigErrors, ImpossibleValues) {
  expect_config_error(with(mistral_7b, "num_hidden_layers", 0), "num_hidden_layers");
  expect_config_error(with(mistral_7b, "rms_norm_eps", 0.0), "norm_eps");
  expect_config_error(with(mixtral_8x7b, "num_experts_per_tok", 9), "num_experts_per_tok");
  expect_config_error(with(mistral_7b, "rope_scaling", {{"rope_type", "quantum"}}), "rope_scaling.rope_type");
  expect_config_error(with(mistral_7b, "rope_scaling", {{"factor", 2.0}}), "rope_scaling.rope_type");
  expect_config_error(with(mistral_7b, "rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}),
                      "rope_scaling.original_max_position_embeddings");
  expect_config_error(with(mistral_7b, "hidden_act", "swiglu7"), "hidden_act");
}

TEST(HFConfigErrors, FileNotJson) {
  const std::string path = ::testing::TempDir() + "llmpp_bad_config_" + std::to_string(::getpid()) + ".json";
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("{\"hidden_size\": 64,, }", f);
  std::fclose(f);
  try {
    hf_config_from_file(path);
    ADD_FAILURE() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), std::filesystem::path(path).filename().string());
    EXPECT_EQ(e.offset(), 20u);  // the second comma
  }
  std::remove(path.c_str());
}

// ---- GGUF metadata ----

TEST(GGUFConfig, Stories260K) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const GGUFFile f(test::shared_path("models/stories260K/stories260K.gguf"));
  const ModelConfig c = gguf_config(f);
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.ffn_dim, 172);
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.n_ctx_train, 2048);  // the GGUF says 2048 (README)
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_dim, 0);  // rope.dimension_count 8 = head_dim: the whole head
  EXPECT_EQ(c.rope_layout, RopeLayout::interleaved);
  EXPECT_FALSE(c.tied_embeddings);  // this conversion stores output.weight
  EXPECT_FALSE(c.attn_qkv_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
}

TEST(GGUFConfig, VocabOnlyLlama) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-llama-spm.gguf");
  const ModelConfig c = gguf_config(GGUFFile(test::shared_path("vocab/ggml-vocab-llama-spm.gguf")));
  EXPECT_EQ(c.n_vocab, 32000);
  EXPECT_EQ(c.dim, 4096);
  EXPECT_EQ(c.n_layers, 32);
  EXPECT_EQ(c.head_dim(), 128);
}

TEST(GGUFConfig, UnsupportedArchitecture) {
  LLMPP_REQUIRE_SHARED("vocab/ggml-vocab-gpt-2.gguf");
  try {
    gguf_config(GGUFFile(test::shared_path("vocab/ggml-vocab-gpt-2.gguf")));
    ADD_FAILURE() << "no exception";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "general.architecture");
    EXPECT_NE(std::string(e.what()).find("gpt2"), std::string::npos);
  }
}

TEST(GGUFConfig, Qwen2MoEAndScalingKeys) {
  GGUFWriter w;
  w.add("general.architecture", "qwen2");
  w.add("qwen2.embedding_length", uint32_t{16});
  w.add("qwen2.block_count", uint32_t{1});
  w.add("qwen2.feed_forward_length", uint32_t{32});
  w.add("qwen2.attention.head_count", uint32_t{4});
  w.add("qwen2.attention.head_count_kv", uint32_t{2});
  w.add("qwen2.context_length", uint32_t{256});
  w.add("qwen2.rope.freq_base", 1e6f);
  w.add("qwen2.expert_count", uint32_t{4});
  w.add("qwen2.expert_used_count", uint32_t{2});
  w.add("qwen2.attention.sliding_window", uint32_t{64});
  w.add("qwen2.rope.scaling.type", "yarn");
  w.add("qwen2.rope.scaling.factor", 4.0f);
  w.add("qwen2.rope.scaling.original_context_length", uint32_t{64});
  w.add("tokenizer.ggml.tokens", std::vector<std::string>(10, "x"));
  w.add("tokenizer.ggml.eos_token_id", uint32_t{0xffffffffu});  // "none": keeps the default
  const std::vector<float> bias(16, 0.0f), embd(16 * 10, 0.0f);
  w.add_tensor("token_embd.weight", {16, 10}, embd, DType::F32);
  w.add_tensor("blk.0.attn_q.bias", {16}, bias, DType::F32);
  const std::string path = ::testing::TempDir() + "llmpp_qwen2_cfg_" + std::to_string(::getpid()) + ".gguf";
  w.write(path);
  const ModelConfig c = gguf_config(GGUFFile(path));
  EXPECT_EQ(c.architecture, "qwen2");
  EXPECT_EQ(c.rope_layout, RopeLayout::half_split);
  EXPECT_TRUE(c.attn_qkv_bias);
  EXPECT_TRUE(c.tied_embeddings);  // no output.weight
  EXPECT_EQ(c.n_vocab, 10);
  EXPECT_EQ(c.n_experts, 4);
  EXPECT_EQ(c.n_experts_per_tok, 2);
  EXPECT_EQ(c.sliding_window, 64);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::yarn);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position, 64);
  EXPECT_EQ(c.eos_token_id, 2);
  std::remove(path.c_str());
}

TEST(GGUFConfig, MissingRequiredKeyNamesIt) {
  GGUFWriter w;
  w.add("general.architecture", "llama");
  w.add("llama.embedding_length", uint32_t{16});
  w.add("llama.block_count", uint32_t{1});
  w.add("llama.attention.head_count", uint32_t{4});
  const std::string path = ::testing::TempDir() + "llmpp_llama_cfg_" + std::to_string(::getpid()) + ".gguf";
  w.write(path);
  try {
    gguf_config(GGUFFile(path));
    ADD_FAILURE() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "llama.feed_forward_length");
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace llmpp::io
