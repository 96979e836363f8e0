// ModelConfig from a Hugging Face config.json (LlamaForCausalLM, MistralForCausalLM,
// MixtralForCausalLM, Qwen2ForCausalLM). Absent optional keys take the defaults of the
// corresponding transformers config class; a key of the wrong type, or a missing required
// key, is a ConfigError naming the key.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/model/config.hpp"

namespace llmpp::io {

// One supported Hugging Face architecture and the transformers defaults that differ between them.
struct HFArchitecture {
  const char* class_name;  // architectures[0]
  const char* model_type;  // model_type
  const char* family;      // ModelConfig::architecture, as GGUF's general.architecture
  float default_norm_eps;
  float default_rope_theta;
  int default_max_position;
  bool qkv_bias;
  bool has_sliding_window;          // reads `sliding_window`...
  const char* sliding_window_switch;  // ...only when this boolean key is true (nullptr: always)
  bool is_moe;
};

inline const std::vector<HFArchitecture>& hf_architectures() {
  static const std::vector<HFArchitecture> table = {
      // class, model_type, family, eps, theta, max_pos, qkv_bias, window, window switch, moe
      {"LlamaForCausalLM", "llama", "llama", 1e-6f, 10000.0f, 2048, false, false, nullptr, false},
      {"MistralForCausalLM", "mistral", "llama", 1e-6f, 10000.0f, 4096 * 32, false, true, nullptr, false},
      {"MixtralForCausalLM", "mixtral", "llama", 1e-5f, 1e6f, 4096 * 32, false, true, nullptr, true},
      {"Qwen2ForCausalLM", "qwen2", "qwen2", 1e-6f, 10000.0f, 32768, true, true, "use_sliding_window", false},
  };
  return table;
}

namespace detail {

// Typed access to config.json keys; each failure names the key.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {}

  const nlohmann::json* find(const std::string& key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  int get_int(const std::string& key) const {
    const nlohmann::json* v = find(key);
    if (!v) throw ConfigError(source_, key, "required key is missing");
    return to_int(*v, key);
  }
  int get_int(const std::string& key, int fallback) const {
    const nlohmann::json* v = find(key);
    return v ? to_int(*v, key) : fallback;
  }
  float get_float(const std::string& key, float fallback) const {
    const nlohmann::json* v = find(key);
    return v ? to_float(*v, key) : fallback;
  }
  bool get_bool(const std::string& key, bool fallback) const {
    const nlohmann::json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw ConfigError(source_, key, "must be true or false, got " + v->dump());
    return v->get<bool>();
  }
  std::string get_string(const std::string& key, const std::string& fallback) const {
    const nlohmann::json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) throw ConfigError(source_, key, "must be a string, got " + v->dump());
    return v->get<std::string>();
  }
  // An int, or the first of a list of ints (eos_token_id may list several).
  int get_first_int(const std::string& key, int fallback) const {
    const nlohmann::json* v = find(key);
    if (!v) return fallback;
    if (v->is_array()) {
      if (v->empty()) return fallback;
      return to_int((*v)[0], key);
    }
    return to_int(*v, key);
  }
  std::vector<float> get_floats(const std::string& key) const {
    const nlohmann::json* v = find(key);
    if (!v) return {};
    if (!v->is_array()) throw ConfigError(source_, key, "must be a list of numbers, got " + v->dump());
    std::vector<float> out;
    for (const auto& x : *v) out.push_back(to_float(x, key));
    return out;
  }

  int to_int(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_number_integer())
      throw ConfigError(source_, key, "must be an integer, got " + v.dump());
    const int64_t value = v.get<int64_t>();
    if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
      throw ConfigError(source_, key, std::to_string(value) + " is out of range");
    return static_cast<int>(value);
  }
  float to_float(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_number()) throw ConfigError(source_, key, "must be a number, got " + v.dump());
    const double value = v.get<double>();
    if (!std::isfinite(value)) throw ConfigError(source_, key, "must be finite");
    return static_cast<float>(value);
  }
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& j_;
  std::string source_;
};

// Maps a RoPE scaling name from config.json (`rope_type` or `type`) or GGUF
// (`{arch}.rope.scaling.type`) to RopeScalingType.
inline RopeScalingType rope_scaling_type_from_name(const std::string& name, const std::string& source,
                                                   const std::string& field) {
  if (name == "none" || name == "default") return RopeScalingType::none;
  if (name == "linear") return RopeScalingType::linear;
  if (name == "dynamic") return RopeScalingType::dynamic_ntk;
  if (name == "yarn") return RopeScalingType::yarn;
  if (name == "llama3") return RopeScalingType::llama3;
  if (name == "longrope" || name == "su") return RopeScalingType::longrope;
  throw ConfigError(source, field, "unsupported RoPE scaling type '" + name + "'");
}

inline Activation activation_from_name(const std::string& name, const std::string& source) {
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu") return Activation::gelu_erf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::gelu_tanh;
  if (name == "relu") return Activation::relu;
  throw ConfigError(source, "hidden_act", "unsupported activation '" + name + "'");
}

}  // namespace detail

// The supported architecture named by architectures[0] (or else model_type).
inline const HFArchitecture& hf_architecture(const nlohmann::json& j, const std::string& source) {
  std::string class_name, model_type;
  if (j.contains("architectures")) {
    const nlohmann::json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string())
      throw ConfigError(source, "architectures", "must be a non-empty list of strings");
    class_name = a[0].get<std::string>();
  }
  if (j.contains("model_type")) {
    if (!j["model_type"].is_string()) throw ConfigError(source, "model_type", "must be a string");
    model_type = j["model_type"].get<std::string>();
  }
  for (const HFArchitecture& a : hf_architectures())
    if (class_name == a.class_name || (class_name.empty() && model_type == a.model_type)) return a;
  throw ConfigError(source, class_name.empty() ? "model_type" : "architectures",
                    "unsupported architecture '" + (class_name.empty() ? model_type : class_name) +
                        "' (supported: LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM)");
}

inline ModelConfig hf_config_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source, "config", "config.json is not a JSON object");
  const HFArchitecture& arch = hf_architecture(j, source);
  const detail::JsonFields f(j, source);
  ModelConfig c;
  c.architecture = arch.family;
  c.dim = f.get_int("hidden_size");
  c.ffn_dim = f.get_int("intermediate_size");
  c.n_layers = f.get_int("num_hidden_layers");
  c.n_heads = f.get_int("num_attention_heads");
  c.n_kv_heads = f.get_int("num_key_value_heads", c.n_heads);
  c.head_dim_override = f.get_int("head_dim", 0);
  c.n_vocab = f.get_int("vocab_size");
  c.n_ctx_train = f.get_int("max_position_embeddings", arch.default_max_position);
  c.norm = NormType::rms_norm;
  c.norm_eps = f.get_float("rms_norm_eps", arch.default_norm_eps);
  c.positions = PositionType::rope;
  // HF checkpoints store q/k rows permuted for rotate_half (transformers' convert script).
  c.rope_layout = RopeLayout::half_split;
  c.rope_theta = f.get_float("rope_theta", arch.default_rope_theta);
  c.activation = detail::activation_from_name(f.get_string("hidden_act", "silu"), source);
  c.ffn = FfnType::gated;
  c.attn_qkv_bias = arch.qkv_bias;
  c.tied_embeddings = f.get_bool("tie_word_embeddings", false);
  c.bos_token_id = f.get_first_int("bos_token_id", c.bos_token_id);
  c.eos_token_id = f.get_first_int("eos_token_id", c.eos_token_id);

  if (arch.has_sliding_window) {
    const bool enabled = arch.sliding_window_switch ? f.get_bool(arch.sliding_window_switch, false) : true;
    if (enabled) c.sliding_window = f.get_int("sliding_window", 0);
  }
  if (arch.is_moe) {
    c.n_experts = f.get_int("num_local_experts", 8);
    c.n_experts_per_tok = f.get_int("num_experts_per_tok", 2);
    c.moe_renormalize = true;  // Mixtral: softmax over the chosen top-k logits
  }

  if (const nlohmann::json* rs = f.find("rope_scaling")) {
    if (!rs->is_object()) throw ConfigError(source, "rope_scaling", "must be an object or null");
    const detail::JsonFields s(*rs, source);
    std::string name = s.get_string("rope_type", "");
    if (name.empty()) name = s.get_string("type", "");
    if (name.empty()) throw ConfigError(source, "rope_scaling.rope_type", "required key is missing");
    RopeScaling& r = c.rope_scaling;
    r.type = detail::rope_scaling_type_from_name(name, source, "rope_scaling.rope_type");
    r.factor = s.get_float("factor", 1.0f);
    if (r.type != RopeScalingType::none && r.type != RopeScalingType::longrope && !(r.factor > 0.0f))
      throw ConfigError(source, "rope_scaling.factor", "must be positive");
    r.original_max_position = s.get_int("original_max_position_embeddings", c.n_ctx_train);
    r.low_freq_factor = s.get_float("low_freq_factor", r.low_freq_factor);
    r.high_freq_factor = s.get_float("high_freq_factor", r.high_freq_factor);
    r.beta_fast = s.get_float("beta_fast", r.beta_fast);
    r.beta_slow = s.get_float("beta_slow", r.beta_slow);
    r.attention_factor = s.get_float("attention_factor", r.attention_factor);
    r.short_factor = s.get_floats("short_factor");
    r.long_factor = s.get_floats("long_factor");
    if (r.type == RopeScalingType::llama3 && !rs->contains("original_max_position_embeddings"))
      throw ConfigError(source, "rope_scaling.original_max_position_embeddings", "required for llama3 scaling");
  }
  c.validate(source);
  return c;
}

// Parses a JSON file; a syntax error is a FormatError at its byte offset.
inline nlohmann::json load_json_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError(file, "cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(file, std::filesystem::path(file).filename().string(), e.byte,
                      std::string("not valid JSON: ") + e.what());
  } catch (const nlohmann::json::exception& e) {  // a number too large for a double (found by fuzz_hf_config)
    throw FormatError(file, std::filesystem::path(file).filename().string(), 0, std::string("not valid JSON: ") + e.what());
  }
}

// Reads `path` (a config.json, or a folder that holds one).
inline ModelConfig hf_config_from_file(const std::string& path) {
  std::string file = path;
  if (is_folder(path)) file = (std::filesystem::path(path) / "config.json").string();
  return hf_config_from_json(load_json_file(file), file);
}

}  // namespace llmpp::io
