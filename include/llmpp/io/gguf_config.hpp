// ModelConfig from a GGUF file's metadata, using llama.cpp's key names
// ({arch}.embedding_length, {arch}.attention.head_count, ...).
#pragma once

#include <limits>
#include <string>

#include "llmpp/core/error.hpp"
#include "llmpp/io/gguf.hpp"
#include "llmpp/io/hf_config.hpp"
#include "llmpp/model/config.hpp"

namespace llmpp::io {

// One supported general.architecture value and how it differs from the others.
struct GGUFArchitecture {
  const char* name;     // general.architecture
  const char* family;   // ModelConfig::architecture
  RopeLayout rope_layout;  // llama.cpp's rope type: NORM pairs (x0,x1),(x2,x3)…; NEOX pairs x_i with x_{i+d/2}
  bool qkv_bias;
};

inline const std::vector<GGUFArchitecture>& gguf_architectures() {
  static const std::vector<GGUFArchitecture> table = {
      {"llama", "llama", RopeLayout::interleaved, false},
      {"mistral", "llama", RopeLayout::interleaved, false},
      {"qwen2", "qwen2", RopeLayout::half_split, true},
  };
  return table;
}

// Reads non-negative int config values from GGUF metadata; out of range -> ConfigError
// naming the key. Shared by every family's GGUF row.
struct GGUFIntKeys {
  const GGUFFile& file;
  int checked(const std::string& key, int64_t value) const {
    if (value < 0 || value > std::numeric_limits<int>::max())
      throw ConfigError(file.path(), key, std::to_string(value) + " is out of range");
    return static_cast<int>(value);
  }
  int required(const std::string& key) const { return checked(key, file.get(key).as_int()); }
  int optional(const std::string& key, int fallback) const { return checked(key, file.get_int(key, fallback)); }
};

inline ModelConfig gguf_config(const GGUFFile& file) {
  const std::string& source = file.path();
  const std::string arch_name = file.get("general.architecture").as_string();
  const GGUFArchitecture* arch = nullptr;
  for (const GGUFArchitecture& a : gguf_architectures())
    if (arch_name == a.name) arch = &a;
  if (!arch)
    throw ConfigError(source, "general.architecture",
                      "unsupported architecture '" + arch_name + "' (supported: llama, mistral, qwen2)");

  const std::string p = arch_name + ".";
  const GGUFIntKeys ints{file};
  auto required = [&](const std::string& key) { return ints.required(key); };
  auto optional = [&](const std::string& key, int fallback) { return ints.optional(key, fallback); };

  ModelConfig c;
  c.architecture = arch->family;
  c.dim = required(p + "embedding_length");
  c.n_layers = required(p + "block_count");
  c.ffn_dim = required(p + "feed_forward_length");
  c.n_heads = required(p + "attention.head_count");
  c.n_kv_heads = optional(p + "attention.head_count_kv", c.n_heads);
  c.head_dim_override = optional(p + "attention.key_length", 0);
  c.n_ctx_train = optional(p + "context_length", 2048);
  c.norm = NormType::rms_norm;
  c.norm_eps = file.get_float(p + "attention.layer_norm_rms_epsilon", 1e-5f);
  c.positions = PositionType::rope;
  c.rope_layout = arch->rope_layout;
  c.rope_theta = file.get_float(p + "rope.freq_base", 10000.0f);
  const int rope_dim = optional(p + "rope.dimension_count", 0);
  if (rope_dim != c.head_dim()) c.rope_dim = rope_dim;  // 0 or equal: the whole head
  c.ffn = FfnType::gated;
  c.activation = Activation::silu;
  c.n_experts = optional(p + "expert_count", 0);
  c.n_experts_per_tok = optional(p + "expert_used_count", 0);
  c.sliding_window = optional(p + "attention.sliding_window", 0);

  const std::string scaling = file.get_string(p + "rope.scaling.type", "none");
  c.rope_scaling.type = detail::rope_scaling_type_from_name(scaling, source, p + "rope.scaling.type");
  c.rope_scaling.factor = file.get_float(p + "rope.scaling.factor", 1.0f);
  c.rope_scaling.original_max_position = optional(p + "rope.scaling.original_context_length", c.n_ctx_train);
  c.rope_scaling.attention_factor = file.get_float(p + "rope.scaling.attn_factor", 0.0f);

  // Vocabulary: the tokenizer's list, else the declared size, else the embedding's rows.
  const TensorView* embedding = file.find_tensor("token_embd.weight");
  if (const GGUFValue* tokens = file.find("tokenizer.ggml.tokens")) {
    c.n_vocab = ints.checked("tokenizer.ggml.tokens", static_cast<int64_t>(tokens->array_size()));
  } else if (file.find(p + "vocab_size")) {
    c.n_vocab = required(p + "vocab_size");
  } else if (embedding) {
    c.n_vocab = ints.checked("token_embd.weight", embedding->ne[1]);
  }
  // llama.cpp writes no output.weight when the head shares the embedding.
  c.tied_embeddings = !file.tensors().empty() && file.find_tensor("output.weight") == nullptr;
  c.attn_qkv_bias = file.tensors().empty() ? arch->qkv_bias : file.find_tensor("blk.0.attn_q.bias") != nullptr;
  // Token ids; llama.cpp writes u32 -1 for "none", which keeps the default.
  auto token_id = [&](const std::string& key, int fallback) {
    const GGUFValue* v = file.find(key);
    if (!v) return fallback;
    if (!v->is_int()) throw ConfigError(source, key, "is " + v->describe() + ", expected an integer");
    const double id = v->as_double();
    return id < 0 || id > std::numeric_limits<int>::max() ? fallback : static_cast<int>(id);
  };
  c.bos_token_id = token_id("tokenizer.ggml.bos_token_id", c.bos_token_id);
  c.eos_token_id = token_id("tokenizer.ggml.eos_token_id", c.eos_token_id);
  c.validate(source);
  return c;
}

}  // namespace llmpp::io
