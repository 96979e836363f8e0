// ModelConfig: everything that tells one decoder-only family from another, as data.
// Families differ by the values of these fields (and by a weight-name table), never by a
// subclass or a forward function of their own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"

namespace llmpp {

enum class NormType { rms_norm, layer_norm };
enum class PositionType { rope, alibi, learned, sinusoidal, none };
// How RoPE pairs the dimensions of a head. interleaved: (x0,x1),(x2,x3)… as in Meta's
// checkpoints and GGUF `llama`; half_split: (x_i, x_{i+d/2}), HF's rotate_half / NeoX.
enum class RopeLayout { interleaved, half_split };
enum class RopeScalingType { none, linear, dynamic_ntk, yarn, llama3, longrope };
enum class Activation { silu, gelu_erf, gelu_tanh, relu };
enum class FfnType { gated, plain };  // gated: down(act(gate(x)) * up(x)); plain: down(act(up(x)))
// How a file stores a fused query/key/value projection (GGUF files are always contiguous:
// llama.cpp's converter rewrites the other layouts).
//   contiguous: all query rows, then all key rows, then all value rows (Phi-3, GPT-2);
//   grouped:    per KV head, its n_heads / n_kv_heads query heads, then its key head, then
//               its value head (BLOOM: [q, k, v] per head; Falcon 40B: [q.., k, v] per group).
enum class QkvLayout { contiguous, grouped };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::none;
  float factor = 1.0f;
  int original_max_position = 0;  // the context the model was trained with before scaling
  // Llama 3 (`rope_type: llama3`)
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  // YaRN (Peng et al. 2023)
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  float attention_factor = 0.0f;  // 0: use YaRN's default 0.1·ln(s)+1
  // LongRoPE / Phi-3 `su`: per-dimension factors for short and long contexts
  std::vector<float> short_factor, long_factor;
};

struct ModelConfig {
  std::string architecture = "llama";  // the family's name, as in GGUF general.architecture
  int n_vocab = 0;
  int dim = 0;          // hidden size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;   // == n_heads: MHA; 1: MQA; otherwise GQA (Ainslie et al. 2023)
  int head_dim_override = 0;  // 0: dim / n_heads (Gemma sets its own)
  int ffn_dim = 0;
  int n_ctx_train = 0;

  NormType norm = NormType::rms_norm;
  float norm_eps = 1e-5f;
  bool norm_weight_plus_one = false;  // Gemma: x̂ · (1 + w)

  PositionType positions = PositionType::rope;
  RopeLayout rope_layout = RopeLayout::interleaved;
  float rope_theta = 10000.0f;
  int rope_dim = 0;  // 0: the whole head; partial rotary otherwise
  RopeScaling rope_scaling;
  int position_offset = 0;  // OPT's learned positions start at 2

  FfnType ffn = FfnType::gated;
  Activation activation = Activation::silu;

  bool attn_qkv_bias = false;
  bool attn_out_bias = false;
  bool ffn_bias = false;
  bool parallel_residual = false;   // Falcon/GPT-J: attention and FFN read the same input
  bool tied_embeddings = false;
  bool scale_embeddings = false;    // Gemma: embedding · sqrt(dim)
  int sliding_window = 0;           // 0: full causal attention (Mistral: 4096)
  bool parallel_ffn_norm = false;   // parallel_residual with a second LayerNorm for the FFN (Falcon 40B)
  bool post_norm = false;           // OPT 350M: x = norm(x + f(x)) instead of x + f(norm(x))
  bool output_norm = true;          // false: no norm before the head (OPT with post_norm)
  bool embedding_norm = false;      // BLOOM: a LayerNorm right after the token embedding
  int embedding_dim = 0;            // 0: dim. OPT's word_embed_proj_dim: project in/out around the layers

  // How the files store weights whose layout differs from GGUF's (HF checkpoints only).
  QkvLayout qkv_layout = QkvLayout::contiguous;
  bool linear_weights_transposed = false;  // GPT-2's Conv1D stores every projection as (in, out)

  int n_experts = 0;                // 0: dense FFN
  int n_experts_per_tok = 0;
  bool moe_renormalize = true;      // Mixtral renormalises the chosen experts' weights

  int bos_token_id = 1;
  int eos_token_id = 2;

  int head_dim() const { return head_dim_override > 0 ? head_dim_override : (n_heads > 0 ? dim / n_heads : 0); }
  int q_dim() const { return n_heads * head_dim(); }
  int kv_dim() const { return n_kv_heads * head_dim(); }
  bool is_gqa() const { return n_kv_heads != n_heads; }
  int n_rot() const { return rope_dim > 0 ? rope_dim : head_dim(); }
  bool is_moe() const { return n_experts > 0; }
  int embed_dim() const { return embedding_dim > 0 ? embedding_dim : dim; }

  // Throws ConfigError naming the field when the numbers cannot describe a model.
  void validate(const std::string& source) const {
    auto positive = [&](int v, const char* field) {
      if (v <= 0) throw ConfigError(source, field, "must be positive, got " + std::to_string(v));
    };
    positive(n_vocab, "n_vocab");
    positive(dim, "hidden_size");
    positive(n_layers, "num_hidden_layers");
    positive(n_heads, "num_attention_heads");
    positive(n_kv_heads, "num_key_value_heads");
    positive(ffn_dim, "intermediate_size");
    // q_dim() and kv_dim() are ints: a huge head_dim must not overflow them (found by fuzz_hf_config).
    if (int64_t{n_heads} * head_dim() > INT32_MAX)
      throw ConfigError(source, "head_dim", std::to_string(n_heads) + " heads of " + std::to_string(head_dim()) + " overflow an int");
    if (head_dim_override == 0 && dim % n_heads != 0)
      throw ConfigError(source, "num_attention_heads",
                        std::to_string(n_heads) + " heads do not divide hidden_size " + std::to_string(dim));
    if (n_heads % n_kv_heads != 0)
      throw ConfigError(source, "num_key_value_heads",
                        std::to_string(n_kv_heads) + " KV heads do not divide " + std::to_string(n_heads) + " heads");
    if (positions == PositionType::rope && (n_rot() > head_dim() || n_rot() % 2 != 0))
      throw ConfigError(source, "rope_dim", "rotary dimension " + std::to_string(n_rot()) +
                                                " must be even and at most head_dim " + std::to_string(head_dim()));
    if (embedding_dim < 0) throw ConfigError(source, "word_embed_proj_dim", "must not be negative");
    if (!(norm_eps > 0.0f)) throw ConfigError(source, "norm_eps", "must be positive");
    if (sliding_window < 0) throw ConfigError(source, "sliding_window", "must not be negative");
    if (n_experts > 0 && (n_experts_per_tok <= 0 || n_experts_per_tok > n_experts))
      throw ConfigError(source, "num_experts_per_tok",
                        std::to_string(n_experts_per_tok) + " is not between 1 and " + std::to_string(n_experts));
  }
};

}  // namespace llmpp
