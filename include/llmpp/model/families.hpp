// Families beyond LLaMA: GPT-2, OPT, BLOOM, Falcon, Phi-3 and Gemma. Each one is a row of
// data — how its Hugging Face config.json maps to ModelConfig, and a weight-name table from
// the canonical (GGUF) names to its checkpoint's names — and no forward code: Model runs
// them all by the flags these rows set (model/config.hpp).
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/io/gguf.hpp"
#include "llmpp/io/gguf_config.hpp"
#include "llmpp/io/hf_config.hpp"
#include "llmpp/model/config.hpp"
#include "llmpp/model/weight_names.hpp"

namespace llmpp {

struct GGUFFamily {
  const char* architecture;  // general.architecture, with llama.cpp's `{arch}.*` keys
  void (*configure)(const io::GGUFFile& file, ModelConfig& c);  // what the shared keys do not say
};

struct HFFamily {
  const char* class_name;  // config.json architectures[0]
  const char* model_type;  // config.json model_type
  ModelConfig (*config)(const io::detail::JsonFields& f);
  // The weight-name table; Falcon's depends on the config (one or two norms per layer).
  const WeightNameTable& (*names)(const ModelConfig& c);
};

namespace families {

using io::detail::JsonFields;

// The first of two names a key goes by (BLOOM's config.json says n_head or num_attention_heads).
inline int int_alias(const JsonFields& f, const char* key, const char* alias) {
  return f.find(key) ? f.get_int(key) : f.get_int(alias);
}

inline void require_divisible(const JsonFields& f, const ModelConfig& c, const char* heads_key) {
  if (c.n_heads > 0 && c.dim % c.n_heads != 0)
    throw ConfigError(f.source(), heads_key,
                      std::to_string(c.n_heads) + " heads do not divide hidden_size " + std::to_string(c.dim));
}

inline void reject(const JsonFields& f, const char* key, bool unsupported, const std::string& why) {
  if (unsupported) throw ConfigError(f.source(), key, why);
}

// The LayerNorm + biases + plain-FFN skeleton GPT-2, OPT and BLOOM share.
inline ModelConfig layer_norm_config(const char* architecture) {
  ModelConfig c;
  c.architecture = architecture;
  c.norm = NormType::layer_norm;
  c.ffn = FfnType::plain;
  c.attn_qkv_bias = c.attn_out_bias = c.ffn_bias = true;
  c.tied_embeddings = true;
  return c;
}

// GPT-2 (Radford et al. 2019; transformers' GPT2Config / modeling_gpt2).
inline ModelConfig gpt2_config(const JsonFields& f) {
  ModelConfig c = layer_norm_config("gpt2");
  c.n_vocab = f.get_int("vocab_size");
  c.dim = f.get_int("n_embd");
  c.n_layers = f.get_int("n_layer");
  c.n_heads = c.n_kv_heads = f.get_int("n_head");
  c.ffn_dim = f.get_int("n_inner", 4 * c.dim);
  c.n_ctx_train = f.get_int("n_positions", 1024);
  c.norm_eps = f.get_float("layer_norm_epsilon", 1e-5f);
  c.positions = PositionType::learned;
  c.activation = io::detail::activation_from_name(f.get_string("activation_function", "gelu_new"), f.source());
  c.linear_weights_transposed = true;  // Conv1D
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_token_id = f.get_first_int("bos_token_id", 50256);
  c.eos_token_id = f.get_first_int("eos_token_id", 50256);
  reject(f, "scale_attn_by_inverse_layer_idx", f.get_bool("scale_attn_by_inverse_layer_idx", false),
         "per-layer attention scaling is not supported");
  reject(f, "scale_attn_weights", !f.get_bool("scale_attn_weights", true), "unscaled attention is not supported");
  require_divisible(f, c, "n_head");
  return c;
}

// OPT (Zhang et al. 2022; OPTConfig / modeling_opt).
inline ModelConfig opt_config(const JsonFields& f) {
  ModelConfig c = layer_norm_config("opt");
  c.n_vocab = f.get_int("vocab_size");
  c.dim = f.get_int("hidden_size");
  c.n_layers = f.get_int("num_hidden_layers");
  c.n_heads = c.n_kv_heads = f.get_int("num_attention_heads");
  c.ffn_dim = f.get_int("ffn_dim");
  c.n_ctx_train = f.get_int("max_position_embeddings", 2048);
  c.norm_eps = 1e-5f;  // nn.LayerNorm's default; OPTConfig has no key for it
  c.positions = PositionType::learned;
  c.position_offset = 2;  // OPTLearnedPositionalEmbedding: two rows before position 0
  c.activation = io::detail::activation_from_name(f.get_string("activation_function", "relu"), f.source());
  c.attn_qkv_bias = c.attn_out_bias = c.ffn_bias = f.get_bool("enable_bias", true);
  const bool pre_norm = f.get_bool("do_layer_norm_before", true);
  c.post_norm = !pre_norm;  // OPT 350M
  c.output_norm = pre_norm && !f.get_bool("_remove_final_layer_norm", false);
  const int embed_dim = f.get_int("word_embed_proj_dim", c.dim);
  if (embed_dim != c.dim) c.embedding_dim = embed_dim;
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_token_id = f.get_first_int("bos_token_id", 2);
  c.eos_token_id = f.get_first_int("eos_token_id", 2);
  reject(f, "layer_norm_elementwise_affine", !f.get_bool("layer_norm_elementwise_affine", true),
         "LayerNorm without weights is not supported");
  require_divisible(f, c, "num_attention_heads");
  return c;
}

// BLOOM (BigScience 2022; BloomConfig / modeling_bloom): ALiBi, an embedding LayerNorm,
// query/key/value interleaved per head.
inline ModelConfig bloom_config(const JsonFields& f) {
  ModelConfig c = layer_norm_config("bloom");
  c.n_vocab = f.get_int("vocab_size");
  c.dim = int_alias(f, "hidden_size", "n_embed");
  c.n_layers = int_alias(f, "n_layer", "num_hidden_layers");
  c.n_heads = c.n_kv_heads = int_alias(f, "n_head", "num_attention_heads");
  c.ffn_dim = 4 * c.dim;
  c.n_ctx_train = f.get_int("seq_length", 2048);  // ALiBi has no table; this only sizes the default cache
  c.norm_eps = f.get_float("layer_norm_epsilon", 1e-5f);
  c.positions = PositionType::alibi;
  c.activation = Activation::gelu_tanh;  // bloom_gelu_forward
  c.embedding_norm = true;
  c.qkv_layout = QkvLayout::grouped;
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_token_id = f.get_first_int("bos_token_id", 1);
  c.eos_token_id = f.get_first_int("eos_token_id", 2);
  reject(f, "apply_residual_connection_post_layernorm", f.get_bool("apply_residual_connection_post_layernorm", false),
         "residuals taken after the LayerNorm are not supported");
  require_divisible(f, c, f.find("n_head") ? "n_head" : "num_attention_heads");
  return c;
}

// Falcon (Almazrouei et al. 2023; FalconConfig / modeling_falcon): parallel attention and
// MLP, MQA (7B) or GQA with one norm per branch (40B/180B: new_decoder_architecture).
inline ModelConfig falcon_config(const JsonFields& f) {
  ModelConfig c;
  c.architecture = "falcon";
  c.n_vocab = f.get_int("vocab_size");
  c.dim = f.get_int("hidden_size");
  c.n_layers = f.get_int("num_hidden_layers");
  c.n_heads = f.get_int("num_attention_heads");
  const bool new_architecture = f.get_bool("new_decoder_architecture", false);
  const bool parallel = f.get_bool("parallel_attn", true);
  if (new_architecture) c.n_kv_heads = f.get_int("num_kv_heads", c.n_heads);
  else c.n_kv_heads = f.get_bool("multi_query", true) ? 1 : c.n_heads;
  c.ffn_dim = f.get_int("ffn_hidden_size", 4 * c.dim);
  c.n_ctx_train = f.get_int("max_position_embeddings", 2048);
  c.norm = NormType::layer_norm;
  c.norm_eps = f.get_float("layer_norm_epsilon", 1e-5f);
  c.positions = PositionType::rope;
  c.rope_layout = RopeLayout::half_split;
  c.rope_theta = f.get_float("rope_theta", 10000.0f);
  c.ffn = FfnType::plain;
  c.activation = io::detail::activation_from_name(f.get_string("activation", "gelu"), f.source());
  c.attn_qkv_bias = c.attn_out_bias = c.ffn_bias = f.get_bool("bias", false);
  c.parallel_residual = parallel;
  c.qkv_layout = QkvLayout::grouped;  // with one KV head (7B) the same as contiguous
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_token_id = f.get_first_int("bos_token_id", 11);
  c.eos_token_id = f.get_first_int("eos_token_id", 11);
  reject(f, "alibi", f.get_bool("alibi", false), "Falcon's ALiBi variant (scaled with the scores) is not supported");
  if (new_architecture) {
    const int n_norms = f.get_int("num_ln_in_parallel_attn", 2);
    reject(f, "num_ln_in_parallel_attn", n_norms != 1 && n_norms != 2,
           "new_decoder_architecture has 1 or 2 LayerNorms per layer, got " + std::to_string(n_norms));
    reject(f, "parallel_attn", !parallel, "new_decoder_architecture needs parallel_attn = true");
    c.parallel_ffn_norm = n_norms == 2;
  }
  require_divisible(f, c, "num_attention_heads");
  return c;
}

// The RMSNorm / RoPE / gated-FFN keys Phi-3 and Gemma share with Llama.
inline ModelConfig llama_like_config(const JsonFields& f, const char* architecture) {
  ModelConfig c;
  c.architecture = architecture;
  c.n_vocab = f.get_int("vocab_size");
  c.dim = f.get_int("hidden_size");
  c.ffn_dim = f.get_int("intermediate_size");
  c.n_layers = f.get_int("num_hidden_layers");
  c.n_heads = f.get_int("num_attention_heads");
  c.n_kv_heads = f.get_int("num_key_value_heads", c.n_heads);
  c.rope_layout = RopeLayout::half_split;  // rotate_half
  c.rope_theta = f.get_float("rope_theta", 10000.0f);
  return c;
}

// Phi-3 (Abdin et al. 2024; Phi3Config / modeling_phi3): fused qkv_proj and gate_up_proj,
// LongRoPE (`su` / `longrope`) scaling whose factor is the context growth.
inline ModelConfig phi3_config(const JsonFields& f) {
  ModelConfig c = llama_like_config(f, "phi3");
  c.n_ctx_train = f.get_int("max_position_embeddings", 4096);
  c.norm_eps = f.get_float("rms_norm_eps", 1e-5f);
  c.activation = io::detail::activation_from_name(f.get_string("hidden_act", "silu"), f.source());
  c.tied_embeddings = f.get_bool("tie_word_embeddings", false);
  c.sliding_window = f.get_int("sliding_window", 0);
  c.bos_token_id = f.get_first_int("bos_token_id", 1);
  c.eos_token_id = f.get_first_int("eos_token_id", 32000);
  const float rotary_fraction = f.get_float("partial_rotary_factor", 1.0f);
  if (rotary_fraction != 1.0f && c.n_heads > 0) c.rope_dim = static_cast<int>(rotary_fraction * (c.dim / c.n_heads));
  if (const nlohmann::json* rs = f.find("rope_scaling")) {
    if (!rs->is_object()) throw ConfigError(f.source(), "rope_scaling", "must be an object or null");
    const JsonFields s(*rs, f.source());
    std::string name = s.get_string("type", "");
    if (name.empty()) name = s.get_string("rope_type", "");
    RopeScaling& r = c.rope_scaling;
    r.type = io::detail::rope_scaling_type_from_name(name, f.source(), "rope_scaling.type");
    reject(f, "rope_scaling.type", r.type != RopeScalingType::longrope, "Phi-3 uses longrope (su) scaling only");
    r.original_max_position = f.get_int("original_max_position_embeddings", c.n_ctx_train);
    reject(f, "original_max_position_embeddings", r.original_max_position <= 0, "must be positive");
    r.factor = static_cast<float>(c.n_ctx_train) / static_cast<float>(r.original_max_position);
    r.short_factor = s.get_floats("short_factor");
    r.long_factor = s.get_floats("long_factor");
    const size_t n_pairs = static_cast<size_t>(c.n_rot() / 2);
    auto check_factors = [&](const char* key, const std::vector<float>& factors) {
      reject(f, key, factors.size() != n_pairs,
             "needs one factor per rotated pair (" + std::to_string(n_pairs) + "), got " +
                 std::to_string(factors.size()));
    };
    check_factors("rope_scaling.short_factor", r.short_factor);
    check_factors("rope_scaling.long_factor", r.long_factor);
  }
  return c;
}

// Gemma (Gemma Team 2024; GemmaConfig / modeling_gemma): embedding · sqrt(dim), RMSNorm
// by (1 + w), GeGLU with tanh GELU, its own head_dim, tied head.
inline ModelConfig gemma_config(const JsonFields& f) {
  ModelConfig c = llama_like_config(f, "gemma");
  c.head_dim_override = f.get_int("head_dim", 256);
  c.n_ctx_train = f.get_int("max_position_embeddings", 8192);
  c.norm_eps = f.get_float("rms_norm_eps", 1e-6f);
  c.norm_weight_plus_one = true;
  c.scale_embeddings = true;
  // modeling_gemma ignores hidden_act (forcing the tanh GELU) unless hidden_activation is set.
  c.activation = io::detail::activation_from_name(f.get_string("hidden_activation", "gelu_pytorch_tanh"), f.source());
  c.attn_qkv_bias = c.attn_out_bias = f.get_bool("attention_bias", false);
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_token_id = f.get_first_int("bos_token_id", 2);
  c.eos_token_id = f.get_first_int("eos_token_id", 1);
  return c;
}

// ---- weight names: canonical (GGUF) → Hugging Face --------------------------------------

inline const WeightNameTable& gpt2_names(const ModelConfig&) {
  static const WeightNameTable table = {"gpt2", {"GPT2LMHeadModel"}, {
      {"token_embd.weight", "transformer.wte.weight"},
      {"position_embd.weight", "transformer.wpe.weight"},
      {"output_norm.weight", "transformer.ln_f.weight"},
      {"output_norm.bias", "transformer.ln_f.bias"},
      {"output.weight", "lm_head.weight"},
      {"blk.{N}.attn_norm.weight", "transformer.h.{N}.ln_1.weight"},
      {"blk.{N}.attn_norm.bias", "transformer.h.{N}.ln_1.bias"},
      {"blk.{N}.attn_qkv.weight", "transformer.h.{N}.attn.c_attn.weight"},
      {"blk.{N}.attn_qkv.bias", "transformer.h.{N}.attn.c_attn.bias"},
      {"blk.{N}.attn_output.weight", "transformer.h.{N}.attn.c_proj.weight"},
      {"blk.{N}.attn_output.bias", "transformer.h.{N}.attn.c_proj.bias"},
      {"blk.{N}.ffn_norm.weight", "transformer.h.{N}.ln_2.weight"},
      {"blk.{N}.ffn_norm.bias", "transformer.h.{N}.ln_2.bias"},
      {"blk.{N}.ffn_up.weight", "transformer.h.{N}.mlp.c_fc.weight"},
      {"blk.{N}.ffn_up.bias", "transformer.h.{N}.mlp.c_fc.bias"},
      {"blk.{N}.ffn_down.weight", "transformer.h.{N}.mlp.c_proj.weight"},
      {"blk.{N}.ffn_down.bias", "transformer.h.{N}.mlp.c_proj.bias"},
  }};
  return table;
}

inline const WeightNameTable& opt_names(const ModelConfig&) {
  static const WeightNameTable table = {"opt", {"OPTForCausalLM"}, {
      {"token_embd.weight", "model.decoder.embed_tokens.weight"},
      {"position_embd.weight", "model.decoder.embed_positions.weight"},
      {"token_embd_proj.weight", "model.decoder.project_in.weight"},
      {"output_proj.weight", "model.decoder.project_out.weight"},
      {"output_norm.weight", "model.decoder.final_layer_norm.weight"},
      {"output_norm.bias", "model.decoder.final_layer_norm.bias"},
      {"output.weight", "lm_head.weight"},
      {"blk.{N}.attn_norm.weight", "model.decoder.layers.{N}.self_attn_layer_norm.weight"},
      {"blk.{N}.attn_norm.bias", "model.decoder.layers.{N}.self_attn_layer_norm.bias"},
      {"blk.{N}.attn_q.weight", "model.decoder.layers.{N}.self_attn.q_proj.weight"},
      {"blk.{N}.attn_q.bias", "model.decoder.layers.{N}.self_attn.q_proj.bias"},
      {"blk.{N}.attn_k.weight", "model.decoder.layers.{N}.self_attn.k_proj.weight"},
      {"blk.{N}.attn_k.bias", "model.decoder.layers.{N}.self_attn.k_proj.bias"},
      {"blk.{N}.attn_v.weight", "model.decoder.layers.{N}.self_attn.v_proj.weight"},
      {"blk.{N}.attn_v.bias", "model.decoder.layers.{N}.self_attn.v_proj.bias"},
      {"blk.{N}.attn_output.weight", "model.decoder.layers.{N}.self_attn.out_proj.weight"},
      {"blk.{N}.attn_output.bias", "model.decoder.layers.{N}.self_attn.out_proj.bias"},
      {"blk.{N}.ffn_norm.weight", "model.decoder.layers.{N}.final_layer_norm.weight"},
      {"blk.{N}.ffn_norm.bias", "model.decoder.layers.{N}.final_layer_norm.bias"},
      {"blk.{N}.ffn_up.weight", "model.decoder.layers.{N}.fc1.weight"},
      {"blk.{N}.ffn_up.bias", "model.decoder.layers.{N}.fc1.bias"},
      {"blk.{N}.ffn_down.weight", "model.decoder.layers.{N}.fc2.weight"},
      {"blk.{N}.ffn_down.bias", "model.decoder.layers.{N}.fc2.bias"},
  }};
  return table;
}

inline const WeightNameTable& bloom_names(const ModelConfig&) {
  static const WeightNameTable table = {"bloom", {"BloomForCausalLM"}, {
      {"token_embd.weight", "transformer.word_embeddings.weight"},
      {"token_embd_norm.weight", "transformer.word_embeddings_layernorm.weight"},
      {"token_embd_norm.bias", "transformer.word_embeddings_layernorm.bias"},
      {"output_norm.weight", "transformer.ln_f.weight"},
      {"output_norm.bias", "transformer.ln_f.bias"},
      {"output.weight", "lm_head.weight"},
      {"blk.{N}.attn_norm.weight", "transformer.h.{N}.input_layernorm.weight"},
      {"blk.{N}.attn_norm.bias", "transformer.h.{N}.input_layernorm.bias"},
      {"blk.{N}.attn_qkv.weight", "transformer.h.{N}.self_attention.query_key_value.weight"},
      {"blk.{N}.attn_qkv.bias", "transformer.h.{N}.self_attention.query_key_value.bias"},
      {"blk.{N}.attn_output.weight", "transformer.h.{N}.self_attention.dense.weight"},
      {"blk.{N}.attn_output.bias", "transformer.h.{N}.self_attention.dense.bias"},
      {"blk.{N}.ffn_norm.weight", "transformer.h.{N}.post_attention_layernorm.weight"},
      {"blk.{N}.ffn_norm.bias", "transformer.h.{N}.post_attention_layernorm.bias"},
      {"blk.{N}.ffn_up.weight", "transformer.h.{N}.mlp.dense_h_to_4h.weight"},
      {"blk.{N}.ffn_up.bias", "transformer.h.{N}.mlp.dense_h_to_4h.bias"},
      {"blk.{N}.ffn_down.weight", "transformer.h.{N}.mlp.dense_4h_to_h.weight"},
      {"blk.{N}.ffn_down.bias", "transformer.h.{N}.mlp.dense_4h_to_h.bias"},
  }};
  return table;
}

namespace detail {
// Falcon rows shared by both norm layouts.
inline std::vector<WeightNameRule> falcon_rules(std::vector<WeightNameRule> norm_rules) {
  std::vector<WeightNameRule> rules = {
      {"token_embd.weight", "transformer.word_embeddings.weight"},
      {"output_norm.weight", "transformer.ln_f.weight"},
      {"output_norm.bias", "transformer.ln_f.bias"},
      {"output.weight", "lm_head.weight"},
      {"blk.{N}.attn_qkv.weight", "transformer.h.{N}.self_attention.query_key_value.weight"},
      {"blk.{N}.attn_qkv.bias", "transformer.h.{N}.self_attention.query_key_value.bias"},
      {"blk.{N}.attn_output.weight", "transformer.h.{N}.self_attention.dense.weight"},
      {"blk.{N}.attn_output.bias", "transformer.h.{N}.self_attention.dense.bias"},
      {"blk.{N}.ffn_up.weight", "transformer.h.{N}.mlp.dense_h_to_4h.weight"},
      {"blk.{N}.ffn_up.bias", "transformer.h.{N}.mlp.dense_h_to_4h.bias"},
      {"blk.{N}.ffn_down.weight", "transformer.h.{N}.mlp.dense_4h_to_h.weight"},
      {"blk.{N}.ffn_down.bias", "transformer.h.{N}.mlp.dense_4h_to_h.bias"},
  };
  rules.insert(rules.end(), norm_rules.begin(), norm_rules.end());
  return rules;
}
}  // namespace detail

inline const WeightNameTable& falcon_names(const ModelConfig& c) {
  // 7B (and sequential falcon-rw): input_layernorm [+ post_attention_layernorm].
  static const WeightNameTable one_norm = {"falcon", {"FalconForCausalLM"}, detail::falcon_rules({
      {"blk.{N}.attn_norm.weight", "transformer.h.{N}.input_layernorm.weight"},
      {"blk.{N}.attn_norm.bias", "transformer.h.{N}.input_layernorm.bias"},
      {"blk.{N}.ffn_norm.weight", "transformer.h.{N}.post_attention_layernorm.weight"},
      {"blk.{N}.ffn_norm.bias", "transformer.h.{N}.post_attention_layernorm.bias"},
  })};
  // 40B/180B: ln_attn for attention, ln_mlp for the MLP (llama.cpp: attn_norm, attn_norm_2).
  static const WeightNameTable two_norms = {"falcon", {"FalconForCausalLM"}, detail::falcon_rules({
      {"blk.{N}.attn_norm.weight", "transformer.h.{N}.ln_attn.weight"},
      {"blk.{N}.attn_norm.bias", "transformer.h.{N}.ln_attn.bias"},
      {"blk.{N}.attn_norm_2.weight", "transformer.h.{N}.ln_mlp.weight"},
      {"blk.{N}.attn_norm_2.bias", "transformer.h.{N}.ln_mlp.bias"},
  })};
  return c.parallel_ffn_norm ? two_norms : one_norm;
}

// Phi-3: Llama's rows, with the fused projections as GGUF's attn_qkv and (gate-first) ffn_up.
inline const WeightNameTable& phi3_names(const ModelConfig&) {
  static const WeightNameTable table = {"phi3", {"Phi3ForCausalLM"}, llmpp::detail::concat_rules({
      llmpp::detail::hf_llama_attention_rules(),
      {{"blk.{N}.attn_qkv.weight", "model.layers.{N}.self_attn.qkv_proj.weight"},
       {"blk.{N}.ffn_up.weight", "model.layers.{N}.mlp.gate_up_proj.weight"},
       {"blk.{N}.ffn_down.weight", "model.layers.{N}.mlp.down_proj.weight"}},
  })};
  return table;
}

// Gemma's checkpoints use Llama's names.
inline const WeightNameTable& gemma_names(const ModelConfig&) {
  static const WeightNameTable table = {"gemma", {"GemmaForCausalLM"}, llmpp::detail::concat_rules({
      llmpp::detail::hf_llama_attention_rules(), llmpp::detail::hf_gated_ffn_rules()})};
  return table;
}

// ---- GGUF: llama.cpp's `{arch}.*` keys ------------------------------------------------------
// llama.cpp's converter already wrote the tensors in GGUF's layout (contiguous qkv, (out,
// in) matrices, Gemma's norm weights with the 1 added), so these rows set no layout flags.

inline void gguf_gpt2(const io::GGUFFile&, ModelConfig& c) {
  c.positions = PositionType::learned;
  c.activation = Activation::gelu_tanh;
}

inline void gguf_bloom(const io::GGUFFile&, ModelConfig& c) {
  c.positions = PositionType::alibi;
  c.activation = Activation::gelu_tanh;
  c.embedding_norm = true;
}

inline void gguf_falcon(const io::GGUFFile& file, ModelConfig& c) {
  c.positions = PositionType::rope;
  c.activation = Activation::gelu_erf;  // the nn.GELU() Falcon was trained with
  c.parallel_residual = true;
  c.parallel_ffn_norm = file.find_tensor("blk.0.attn_norm_2.weight") != nullptr;  // 40B/180B
}

// LongRoPE's factors are tensors (rope_factors_short/long.weight); the cos/sin scale is a key.
inline void gguf_phi3(const io::GGUFFile& file, ModelConfig& c) {
  c.norm = NormType::rms_norm;
  c.ffn = FfnType::gated;
  const TensorView* short_factors = file.find_tensor("rope_factors_short.weight");
  const TensorView* long_factors = file.find_tensor("rope_factors_long.weight");
  if (!short_factors || !long_factors) return;
  RopeScaling& r = c.rope_scaling;
  r.type = RopeScalingType::longrope;
  const std::string p = "phi3.";
  r.original_max_position = static_cast<int>(file.get_int(p + "rope.scaling.original_context_length", c.n_ctx_train));
  if (r.original_max_position <= 0)
    throw ConfigError(file.path(), p + "rope.scaling.original_context_length", "must be positive");
  r.factor = static_cast<float>(c.n_ctx_train) / static_cast<float>(r.original_max_position);
  r.attention_factor = file.get_float(p + "rope.scaling.attn_factor", 0.0f);
  auto read_factors = [&](const TensorView& t) {
    if (t.type != DType::F32) throw FormatError(file.path(), t.name, 0, "RoPE factors must be F32");
    return std::vector<float>(t.f32(), t.f32() + t.n_elements());
  };
  r.short_factor = read_factors(*short_factors);
  r.long_factor = read_factors(*long_factors);
}

inline void gguf_gemma(const io::GGUFFile&, ModelConfig& c) {
  c.norm = NormType::rms_norm;
  c.ffn = FfnType::gated;
  c.activation = Activation::gelu_tanh;
  c.scale_embeddings = true;
}

}  // namespace families

inline const std::vector<GGUFFamily>& gguf_families() {
  static const std::vector<GGUFFamily> table = {
      {"gpt2", families::gguf_gpt2},     {"bloom", families::gguf_bloom}, {"falcon", families::gguf_falcon},
      {"phi3", families::gguf_phi3},     {"gemma", families::gguf_gemma},
  };
  return table;
}

inline const GGUFFamily* find_gguf_family(const io::GGUFFile& file) {
  const io::GGUFValue* arch = file.find("general.architecture");
  if (!arch || !arch->is_string()) return nullptr;
  for (const GGUFFamily& f : gguf_families())
    if (arch->as_string() == f.architecture) return &f;
  return nullptr;
}

// The keys every family shares ({arch}.embedding_length, ...), then the family's row.
// LayerNorm families say attention.layer_norm_epsilon, RMSNorm ones
// attention.layer_norm_rms_epsilon; biases and the tied head are read off the tensors.
inline ModelConfig gguf_family_config(const GGUFFamily& family, const io::GGUFFile& file) {
  const std::string& source = file.path();
  const std::string p = std::string(family.architecture) + ".";
  const io::GGUFIntKeys ints{file};
  auto required = [&](const std::string& key) { return ints.required(key); };
  auto optional = [&](const std::string& key, int fallback) { return ints.optional(key, fallback); };
  auto has_tensor = [&](const std::string& name) { return file.find_tensor(name) != nullptr; };

  ModelConfig c;
  c.architecture = family.architecture;
  c.dim = required(p + "embedding_length");
  c.n_layers = required(p + "block_count");
  c.ffn_dim = required(p + "feed_forward_length");
  c.n_heads = required(p + "attention.head_count");
  c.n_kv_heads = optional(p + "attention.head_count_kv", c.n_heads);
  c.head_dim_override = optional(p + "attention.key_length", 0);
  c.n_ctx_train = optional(p + "context_length", 2048);
  c.sliding_window = optional(p + "attention.sliding_window", 0);  // Phi-3 mini: 2047
  const bool rms = file.find(p + "attention.layer_norm_rms_epsilon") != nullptr;
  c.norm = rms ? NormType::rms_norm : NormType::layer_norm;
  c.norm_eps = file.get_float(p + (rms ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon"), 1e-5f);
  c.ffn = FfnType::plain;
  c.rope_layout = RopeLayout::half_split;  // llama.cpp's NEOX rope for all of these
  c.rope_theta = file.get_float(p + "rope.freq_base", 10000.0f);
  const int rope_dim = optional(p + "rope.dimension_count", 0);
  family.configure(file, c);
  if (c.positions == PositionType::rope && rope_dim != c.head_dim()) c.rope_dim = rope_dim;

  const TensorView* embedding = file.find_tensor("token_embd.weight");
  if (const io::GGUFValue* tokens = file.find("tokenizer.ggml.tokens"))
    c.n_vocab = ints.checked("tokenizer.ggml.tokens", static_cast<int64_t>(tokens->array_size()));
  else if (embedding)
    c.n_vocab = ints.checked("token_embd.weight", embedding->ne[1]);
  c.tied_embeddings = !has_tensor("output.weight");
  c.attn_qkv_bias = has_tensor("blk.0.attn_qkv.bias") || has_tensor("blk.0.attn_q.bias");
  c.attn_out_bias = has_tensor("blk.0.attn_output.bias");
  c.ffn_bias = has_tensor("blk.0.ffn_up.bias");
  auto token_id = [&](const std::string& key, int fallback) {
    const io::GGUFValue* v = file.find(key);
    if (!v || !v->is_int()) return fallback;
    const double id = v->as_double();
    return id < 0 || id > std::numeric_limits<int>::max() ? fallback : static_cast<int>(id);
  };
  c.bos_token_id = token_id("tokenizer.ggml.bos_token_id", c.bos_token_id);
  c.eos_token_id = token_id("tokenizer.ggml.eos_token_id", c.eos_token_id);
  c.validate(source);
  return c;
}

inline const std::vector<HFFamily>& hf_families() {
  static const std::vector<HFFamily> table = {
      {"GPT2LMHeadModel", "gpt2", families::gpt2_config, families::gpt2_names},
      {"OPTForCausalLM", "opt", families::opt_config, families::opt_names},
      {"BloomForCausalLM", "bloom", families::bloom_config, families::bloom_names},
      {"FalconForCausalLM", "falcon", families::falcon_config, families::falcon_names},
      {"Phi3ForCausalLM", "phi3", families::phi3_config, families::phi3_names},
      {"GemmaForCausalLM", "gemma", families::gemma_config, families::gemma_names},
  };
  return table;
}

// The family a config.json names (architectures[0], else model_type); nullptr when it is
// none of these (Llama-style configs are read by io/hf_config.hpp).
inline const HFFamily* find_hf_family(const nlohmann::json& j) {
  if (!j.is_object()) return nullptr;
  std::string class_name, model_type;
  if (const auto a = j.find("architectures"); a != j.end() && a->is_array() && !a->empty() && (*a)[0].is_string())
    class_name = (*a)[0].get<std::string>();
  if (const auto t = j.find("model_type"); t != j.end() && t->is_string()) model_type = t->get<std::string>();
  for (const HFFamily& f : hf_families())
    if (class_name == f.class_name || (class_name.empty() && model_type == f.model_type)) return &f;
  return nullptr;
}

// ModelConfig of a family's config.json, validated.
inline ModelConfig hf_family_config(const HFFamily& family, const nlohmann::json& j, const std::string& source) {
  const io::detail::JsonFields fields(j, source);
  ModelConfig c = family.config(fields);
  c.validate(source);
  return c;
}

}  // namespace llmpp
