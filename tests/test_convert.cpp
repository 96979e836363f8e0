// HF -> GGUF conversion. Converting the stories260K HF folder must give back the tensors of
// ggml-org's stories260K.gguf bit for bit (q/k rows un-permuted to Meta's order) and the
// same tokenizer metadata; tiny synthetic Mixtral and Qwen2 folders check expert stacking
// and that Qwen2 rows stay in NeoX order.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "llmpp/core/fp16.hpp"
#include "llmpp/io/hf_to_gguf.hpp"
#include "llmpp/io/model_files.hpp"
#include "llmpp/model/generate.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& tag) {
  return ::testing::TempDir() + "llmpp_convert_" + std::to_string(::getpid()) + "_" + tag;
}

const char* const gguf_path = "models/stories260K/stories260K.gguf";

TEST(Convert, Stories260KF32EqualsGGMLConversion) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf/model.safetensors");
  const std::string out = temp_path("stories_f32.gguf");
  const ConvertReport report = convert_hf_to_gguf(test::shared_path("models/stories260K-hf"), out);
  EXPECT_EQ(report.n_tensors, 47);
  EXPECT_TRUE(report.tokenizer_copied);

  const GGUFFile converted(out);
  const GGUFFile original(test::shared_path(gguf_path));
  ASSERT_EQ(converted.tensors().size(), 47u);  // tied: no output.weight
  for (const TensorView& t : converted.tensors()) {
    const TensorView* o = original.find_tensor(t.name);
    ASSERT_NE(o, nullptr) << t.name;
    ASSERT_EQ(t.type, DType::F32) << t.name;
    ASSERT_EQ(t.ne, o->ne) << t.name;
    EXPECT_EQ(std::memcmp(t.data, o->data, t.nbytes), 0) << t.name;
  }
  EXPECT_EQ(converted.tensors().front().name, "token_embd.weight");  // llama.cpp's order
  for (const char* key : {"general.architecture", "tokenizer.ggml.model"})
    EXPECT_EQ(converted.get(key).as_string(), original.get(key).as_string()) << key;
  for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
                          "llama.attention.head_count_kv", "llama.block_count", "llama.rope.dimension_count",
                          "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id"})
    EXPECT_EQ(converted.get(key).as_int(), original.get(key).as_int()) << key;
  EXPECT_EQ(converted.get("llama.attention.layer_norm_rms_epsilon").as_double(),
            original.get("llama.attention.layer_norm_rms_epsilon").as_double());
  EXPECT_EQ(converted.get_int("llama.context_length", 0), 512);  // config.json's value (the GGUF says 2048)
  EXPECT_EQ(converted.get("tokenizer.ggml.tokens").as_strings(), original.get("tokenizer.ggml.tokens").as_strings());
  EXPECT_EQ(converted.get("tokenizer.ggml.scores").as_floats(), original.get("tokenizer.ggml.scores").as_floats());
  EXPECT_EQ(converted.get("tokenizer.ggml.token_type").as_ints(), original.get("tokenizer.ggml.token_type").as_ints());

  const ModelFiles m = open_model_files(out);
  EXPECT_TRUE(m.config.tied_embeddings);
  EXPECT_EQ(m.config.rope_layout, RopeLayout::interleaved);
  EXPECT_EQ(m.config.n_vocab, 512);
  std::remove(out.c_str());
}

TEST(Convert, Stories260KBF16AndQ8_0) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf-bf16/model.safetensors.index.json");
  const GGUFFile original(test::shared_path(gguf_path));

  ConvertOptions bf16;
  bf16.type = DType::BF16;
  const std::string out_bf16 = temp_path("stories_bf16.gguf");
  convert_hf_to_gguf(test::shared_path("models/stories260K-hf-bf16"), out_bf16, bf16);
  const GGUFFile converted_bf16(out_bf16);
  for (const TensorView& t : converted_bf16.tensors()) {
    const TensorView* o = original.find_tensor(t.name);
    ASSERT_NE(o, nullptr) << t.name;
    EXPECT_EQ(t.type, t.n_dims == 1 ? DType::F32 : DType::BF16) << t.name;
    // The BF16 folder holds the F32 weights rounded to nearest even.
    for (int64_t i = 0; i < t.n_elements(); ++i) {
      const float expected = bf16_to_fp32(fp32_to_bf16(o->f32()[i]));
      const float got = t.type == DType::F32 ? t.f32()[i] : bf16_to_fp32(static_cast<const uint16_t*>(t.data)[i]);
      ASSERT_EQ(got, expected) << t.name << "[" << i << "]";
    }
  }
  std::remove(out_bf16.c_str());

  ConvertOptions q8;
  q8.type = DType::Q8_0;
  const std::string out_q8 = temp_path("stories_q8.gguf");
  const ConvertReport report = convert_hf_to_gguf(test::shared_path("models/stories260K-hf"), out_q8, q8);
  const GGUFFile converted_q8(out_q8);
  EXPECT_EQ(converted_q8.get_int("general.file_type", -1), 7);  // LLAMA_FTYPE_MOSTLY_Q8_0
  int n_fallbacks = 0;
  for (const std::string& note : report.notes) n_fallbacks += note.find("stored as F16") != std::string::npos;
  EXPECT_EQ(n_fallbacks, 5);  // ffn_down rows have 172 elements: not whole blocks of 32
  for (const TensorView& t : converted_q8.tensors()) {
    const TensorView* o = original.find_tensor(t.name);
    ASSERT_NE(o, nullptr) << t.name;
    const DType expected_type =
        t.n_dims == 1 ? DType::F32 : t.name.find("ffn_down") != std::string::npos ? DType::F16 : DType::Q8_0;
    ASSERT_EQ(t.type, expected_type) << t.name;
    // Each row is the Q8_0 (or F16) encoding of the original GGUF row.
    std::vector<uint8_t> expected(t.row_stride());
    for (int64_t r = 0; r < t.rows(); ++r) {
      kernels::quantize_row(t.type, reinterpret_cast<const float*>(o->row(r)), expected.data(), t.cols());
      ASSERT_EQ(std::memcmp(t.row(r), expected.data(), expected.size()), 0) << t.name << " row " << r;
    }
  }
  std::remove(out_q8.c_str());
}

TEST(Convert, ConvertedStories260KGeneratesTheReferenceText) {
  // The converted file carries its own tokenizer; greedy decoding from BOS must print what
  // llama2.c's run.c prints for stories260K (../shared/README.md), 200 tokens.
  LLMPP_REQUIRE_SHARED("models/stories260K-hf/model.safetensors");
  const std::string out = temp_path("stories_generate.gguf");
  convert_hf_to_gguf(test::shared_path("models/stories260K-hf"), out);
  const LoadedModel loaded = LoadedModel::load(out);
  Session session(loaded, {512, 2, 64});
  GenerateOptions greedy;
  greedy.max_tokens = 200;
  greedy.sampler.temperature = 0.0f;
  greedy.echo_prompt = true;
  const GenerateResult result = generate_from_tokens(session, {loaded.tokenizer->bos_id()}, greedy);
  EXPECT_EQ(result.text,
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, "
            "she saw a big, red ball. She wanted to play with it, but it was too high.\n"
            "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I "
            "want to play with your ball, but I can't find it.\"\n"
            "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
            "Lily didn't want to help her mom, so she");
  std::remove(out.c_str());
}

// ---- Synthetic folders ----

// Writes an F32 safetensors file with the given tensors (name -> (shape, values)).
void write_safetensors(const std::string& path, const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    const size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(tensor.second.data()), tensor.second.size() * sizeof(float));
    header[name] = {{"dtype", "F32"}, {"shape", tensor.first}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // pad as the safetensors library does: F32 data 4-byte aligned
  const uint64_t n = text.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::vector<float> ramp(size_t n, float start) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + 0.25f * static_cast<float>(i);
  return v;
}

// A 1-layer model: dim 8, 2 heads of 4, 1 KV head, FFN 8, vocab 16.
std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tiny_attention_tensors() {
  return {
      {"model.embed_tokens.weight", {{16, 8}, ramp(128, 0.0f)}},
      {"model.norm.weight", {{8}, ramp(8, 1.0f)}},
      {"lm_head.weight", {{16, 8}, ramp(128, -3.0f)}},
      {"model.layers.0.input_layernorm.weight", {{8}, ramp(8, 2.0f)}},
      {"model.layers.0.post_attention_layernorm.weight", {{8}, ramp(8, 3.0f)}},
      {"model.layers.0.self_attn.q_proj.weight", {{8, 8}, ramp(64, 100.0f)}},
      {"model.layers.0.self_attn.k_proj.weight", {{4, 8}, ramp(32, 200.0f)}},
      {"model.layers.0.self_attn.v_proj.weight", {{4, 8}, ramp(32, 300.0f)}},
      {"model.layers.0.self_attn.o_proj.weight", {{8, 8}, ramp(64, 400.0f)}},
  };
}

nlohmann::json tiny_config(const char* architecture) {
  return {{"architectures", {architecture}}, {"hidden_size", 8}, {"intermediate_size", 8}, {"num_hidden_layers", 1},
          {"num_attention_heads", 2},        {"num_key_value_heads", 1}, {"vocab_size", 16},
          {"max_position_embeddings", 64}};
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const float* row_of(const TensorView& t, int64_t r) { return reinterpret_cast<const float*>(t.row(r)); }

TEST(Convert, MixtralExpertsAreStackedAndQKUnpermuted) {
  const std::string folder = temp_path("mixtral");
  fs::create_directories(folder);
  nlohmann::json config = tiny_config("MixtralForCausalLM");
  config["num_local_experts"] = 3;
  config["num_experts_per_tok"] = 2;
  write_text(folder + "/config.json", config.dump());
  auto tensors = tiny_attention_tensors();
  tensors["model.layers.0.block_sparse_moe.gate.weight"] = {{3, 8}, ramp(24, 50.0f)};
  for (int e = 0; e < 3; ++e) {
    const std::string p = "model.layers.0.block_sparse_moe.experts." + std::to_string(e) + ".";
    tensors[p + "w1.weight"] = {{8, 8}, ramp(64, 1000.0f * (e + 1))};
    tensors[p + "w3.weight"] = {{8, 8}, ramp(64, 1000.0f * (e + 1) + 500.0f)};
    tensors[p + "w2.weight"] = {{8, 8}, ramp(64, -1000.0f * (e + 1))};
  }
  write_safetensors(folder + "/model.safetensors", tensors);
  const std::string out = temp_path("mixtral.gguf");
  const ConvertReport report = convert_hf_to_gguf(folder, out);
  EXPECT_FALSE(report.tokenizer_copied);

  const GGUFFile f(out);
  EXPECT_EQ(f.get_int("llama.expert_count", 0), 3);
  EXPECT_EQ(f.get_int("llama.expert_used_count", 0), 2);
  const SafetensorsFile hf(folder + "/model.safetensors");
  for (const auto& [kind, w] : {std::pair<const char*, const char*>{"ffn_gate", "w1"}, {"ffn_up", "w3"}, {"ffn_down", "w2"}}) {
    const TensorView* stacked = f.find_tensor(std::string("blk.0.") + kind + "_exps.weight");
    ASSERT_NE(stacked, nullptr) << kind;
    EXPECT_EQ(stacked->n_dims, 3);
    EXPECT_EQ(stacked->ne[2], 3);
    for (int e = 0; e < 3; ++e) {
      const TensorView& expert = hf.get("model.layers.0.block_sparse_moe.experts." + std::to_string(e) + "." + w + ".weight");
      EXPECT_EQ(std::memcmp(stacked->row(e * 8), expert.data, expert.nbytes), 0) << kind << " expert " << e;
    }
  }
  EXPECT_EQ(f.find_tensor("blk.0.ffn_gate_inp.weight")->type, DType::F32);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_gate.0.weight"), nullptr);
  // q: 2 heads of 4 rows. Meta row h*4 + 2i + j is HF row h*4 + j*2 + i.
  const TensorView& hf_q = hf.get("model.layers.0.self_attn.q_proj.weight");
  const TensorView* q = f.find_tensor("blk.0.attn_q.weight");
  const int expected_hf_row[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int r = 0; r < 8; ++r) EXPECT_EQ(row_of(*q, r)[0], row_of(hf_q, expected_hf_row[r])[0]) << "q row " << r;
  const TensorView& hf_k = hf.get("model.layers.0.self_attn.k_proj.weight");
  const TensorView* k = f.find_tensor("blk.0.attn_k.weight");
  for (int r = 0; r < 4; ++r) EXPECT_EQ(row_of(*k, r)[0], row_of(hf_k, expected_hf_row[r])[0]) << "k row " << r;

  const ModelFiles m = open_model_files(out);
  EXPECT_EQ(m.config.n_experts, 3);
  EXPECT_FALSE(m.config.tied_embeddings);
  fs::remove_all(folder);
  std::remove(out.c_str());
}

TEST(Convert, Qwen2KeepsNeoXOrderAndBiases) {
  const std::string folder = temp_path("qwen2");
  fs::create_directories(folder);
  write_text(folder + "/config.json", tiny_config("Qwen2ForCausalLM").dump());
  auto tensors = tiny_attention_tensors();
  tensors["model.layers.0.self_attn.q_proj.bias"] = {{8}, ramp(8, 7.0f)};
  tensors["model.layers.0.self_attn.k_proj.bias"] = {{4}, ramp(4, 8.0f)};
  tensors["model.layers.0.self_attn.v_proj.bias"] = {{4}, ramp(4, 9.0f)};
  tensors["model.layers.0.mlp.gate_proj.weight"] = {{8, 8}, ramp(64, 10.0f)};
  tensors["model.layers.0.mlp.up_proj.weight"] = {{8, 8}, ramp(64, 20.0f)};
  tensors["model.layers.0.mlp.down_proj.weight"] = {{8, 8}, ramp(64, 30.0f)};
  write_safetensors(folder + "/model.safetensors", tensors);
  const std::string out = temp_path("qwen2.gguf");
  convert_hf_to_gguf(folder, out);

  const GGUFFile f(out);
  EXPECT_EQ(f.get_string("general.architecture", ""), "qwen2");
  const SafetensorsFile hf(folder + "/model.safetensors");
  for (const auto& [canonical, hf_name] : {std::pair<const char*, const char*>{"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"},
                                           {"blk.0.attn_k.bias", "model.layers.0.self_attn.k_proj.bias"},
                                           {"blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight"}}) {
    const TensorView* t = f.find_tensor(canonical);
    ASSERT_NE(t, nullptr) << canonical;
    EXPECT_EQ(std::memcmp(t->data, hf.get(hf_name).data, t->nbytes), 0) << canonical;
  }
  const ModelConfig c = open_model_files(out).config;
  EXPECT_EQ(c.rope_layout, RopeLayout::half_split);
  EXPECT_TRUE(c.attn_qkv_bias);
  fs::remove_all(folder);
  std::remove(out.c_str());
}

TEST(Convert, RefusesUnrepresentableRopeScaling) {
  const std::string folder = temp_path("llama3");
  fs::create_directories(folder);
  nlohmann::json config = tiny_config("LlamaForCausalLM");
  config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"original_max_position_embeddings", 32}};
  write_text(folder + "/config.json", config.dump());
  write_safetensors(folder + "/model.safetensors", tiny_attention_tensors());
  try {
    convert_hf_to_gguf(folder, temp_path("llama3.gguf"));
    ADD_FAILURE() << "no exception";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "rope_scaling");
  }
  fs::remove_all(folder);
}

}  // namespace
}  // namespace llmpp::io
