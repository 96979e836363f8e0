// Tensor names. The canonical names are GGUF's (token_embd.weight, blk.N.attn_q.weight, ...);
// each other layout is one table of rows mapping a canonical pattern to the file's pattern.
// `{N}` stands for a layer index and `{E}` for an expert index. Adding a family (GPT-2, OPT,
// BLOOM, Falcon, Phi-3, Gemma) means adding rows and a table, not code.
#pragma once

#include <cctype>
#include <initializer_list>
#include <string>
#include <vector>

namespace llmpp {

struct WeightNameRule {
  const char* canonical;  // e.g. "blk.{N}.attn_q.weight"
  const char* file_name;  // e.g. "model.layers.{N}.self_attn.q_proj.weight"
};

struct WeightNameTable {
  const char* family;                         // for messages
  std::vector<std::string> hf_architectures;  // config.json architectures[0] values that use this table
  std::vector<WeightNameRule> rules;
};

namespace detail {

inline std::vector<WeightNameRule> concat_rules(std::initializer_list<std::vector<WeightNameRule>> groups) {
  std::vector<WeightNameRule> out;
  for (const auto& g : groups) out.insert(out.end(), g.begin(), g.end());
  return out;
}

// Rows shared by the Llama-style Hugging Face checkpoints (Llama, Mistral, Mixtral, Qwen2).
inline const std::vector<WeightNameRule>& hf_llama_attention_rules() {
  static const std::vector<WeightNameRule> rules = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.{N}.attn_norm.weight", "model.layers.{N}.input_layernorm.weight"},
      {"blk.{N}.attn_q.weight", "model.layers.{N}.self_attn.q_proj.weight"},
      {"blk.{N}.attn_k.weight", "model.layers.{N}.self_attn.k_proj.weight"},
      {"blk.{N}.attn_v.weight", "model.layers.{N}.self_attn.v_proj.weight"},
      {"blk.{N}.attn_q.bias", "model.layers.{N}.self_attn.q_proj.bias"},
      {"blk.{N}.attn_k.bias", "model.layers.{N}.self_attn.k_proj.bias"},
      {"blk.{N}.attn_v.bias", "model.layers.{N}.self_attn.v_proj.bias"},
      {"blk.{N}.attn_output.weight", "model.layers.{N}.self_attn.o_proj.weight"},
      {"blk.{N}.ffn_norm.weight", "model.layers.{N}.post_attention_layernorm.weight"},
  };
  return rules;
}

inline const std::vector<WeightNameRule>& hf_gated_ffn_rules() {
  static const std::vector<WeightNameRule> rules = {
      {"blk.{N}.ffn_gate.weight", "model.layers.{N}.mlp.gate_proj.weight"},
      {"blk.{N}.ffn_up.weight", "model.layers.{N}.mlp.up_proj.weight"},
      {"blk.{N}.ffn_down.weight", "model.layers.{N}.mlp.down_proj.weight"},
  };
  return rules;
}

// Mixtral: a router and one (w1 = gate, w3 = up, w2 = down) FFN per expert.
inline const std::vector<WeightNameRule>& hf_mixtral_moe_rules() {
  static const std::vector<WeightNameRule> rules = {
      {"blk.{N}.ffn_gate_inp.weight", "model.layers.{N}.block_sparse_moe.gate.weight"},
      {"blk.{N}.ffn_gate.{E}.weight", "model.layers.{N}.block_sparse_moe.experts.{E}.w1.weight"},
      {"blk.{N}.ffn_up.{E}.weight", "model.layers.{N}.block_sparse_moe.experts.{E}.w3.weight"},
      {"blk.{N}.ffn_down.{E}.weight", "model.layers.{N}.block_sparse_moe.experts.{E}.w2.weight"},
  };
  return rules;
}

// Matches `name` against `pattern`; each placeholder takes one run of digits.
inline bool match_weight_pattern(const char* pattern, const std::string& name, std::string& layer, std::string& expert) {
  size_t i = 0;
  for (const char* p = pattern; *p;) {
    if (p[0] == '{' && (p[1] == 'N' || p[1] == 'E') && p[2] == '}') {
      const size_t start = i;
      while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
      if (i == start) return false;
      (p[1] == 'N' ? layer : expert) = name.substr(start, i - start);
      p += 3;
    } else {
      if (i >= name.size() || name[i] != *p) return false;
      ++i;
      ++p;
    }
  }
  return i == name.size();
}

inline std::string fill_weight_pattern(const char* pattern, const std::string& layer, const std::string& expert) {
  std::string out;
  for (const char* p = pattern; *p;) {
    if (p[0] == '{' && (p[1] == 'N' || p[1] == 'E') && p[2] == '}') {
      out += p[1] == 'N' ? layer : expert;
      p += 3;
    } else {
      out += *p++;
    }
  }
  return out;
}

}  // namespace detail

inline const std::vector<WeightNameTable>& weight_name_tables() {
  using namespace detail;
  static const std::vector<WeightNameTable> tables = {
      {"llama", {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"},
       concat_rules({hf_llama_attention_rules(), hf_gated_ffn_rules()})},
      {"mixtral", {"MixtralForCausalLM"}, concat_rules({hf_llama_attention_rules(), hf_mixtral_moe_rules()})},
  };
  return tables;
}

// The table for a config.json architectures[0] value; nullptr when none.
inline const WeightNameTable* find_weight_name_table(const std::string& hf_architecture) {
  for (const WeightNameTable& t : weight_name_tables())
    for (const std::string& a : t.hf_architectures)
      if (a == hf_architecture) return &t;
  return nullptr;
}

// canonical -> file name; empty when no row matches.
inline std::string to_file_name(const WeightNameTable& table, const std::string& canonical) {
  std::string layer, expert;
  for (const WeightNameRule& r : table.rules)
    if (detail::match_weight_pattern(r.canonical, canonical, layer, expert))
      return detail::fill_weight_pattern(r.file_name, layer, expert);
  return {};
}

// file name -> canonical; empty when no row matches.
inline std::string to_canonical_name(const WeightNameTable& table, const std::string& file_name) {
  std::string layer, expert;
  for (const WeightNameRule& r : table.rules)
    if (detail::match_weight_pattern(r.file_name, file_name, layer, expert))
      return detail::fill_weight_pattern(r.canonical, layer, expert);
  return {};
}

}  // namespace llmpp
