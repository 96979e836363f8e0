// Hugging Face folder -> GGUF, for the Llama-style families (Llama, Mistral, Mixtral,
// Qwen2). Writes llama.cpp's metadata keys and canonical tensor names, and:
//  - undoes transformers' q/k row permutation for families whose GGUF rope type pairs
//    adjacent dimensions (llama, as llama.cpp's convert_hf_to_gguf.py does); Qwen2 GGUFs
//    use NeoX rope (half split), so its rows stay as they are;
//  - stacks Mixtral's per-expert matrices into 3-D blk.N.ffn_{gate,up,down}_exps tensors;
//  - keeps 1-D tensors (norms, biases) and the MoE router in F32, and falls back to F16 for
//    a matrix whose rows are not whole blocks of the requested type;
//  - copies a SentencePiece tokenizer.model (llama.cpp's `llama` tokenizer keys), else a
//    GPT-2-style byte-level tokenizer.json (llama.cpp's `gpt2` tokenizer keys).
// The other families (GPT-2, BLOOM, Falcon, Phi-3, Gemma) are in model/family_to_gguf.hpp.
// Tensors are converted row by row while the file is written: memory stays small.
#pragma once

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/io/gguf_config.hpp"
#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/io/hf_config.hpp"
#include "llmpp/io/safetensors.hpp"
#include "llmpp/kernels/quant.hpp"
#include "llmpp/model/weight_names.hpp"
#include "llmpp/tokenizer/sentencepiece_model.hpp"
#include "llmpp/tokenizer/tokenizer_json.hpp"

namespace llmpp::io {

struct ConvertOptions {
  DType type = DType::F32;  // for the matrices
  std::string name;         // general.name; the folder's name when empty
  bool copy_tokenizer = true;
};

struct ConvertReport {
  int n_tensors = 0;
  bool tokenizer_copied = false;
  std::vector<std::string> notes;  // skipped tensors, type fallbacks, tokenizer remarks
};

// llama.cpp's general.file_type (enum llama_ftype) for a model whose matrices are `type`.
inline uint32_t llama_file_type(DType type) {
  switch (type) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q8_0: return 7;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q4_K: return 14;  // Q4_K_S: every matrix Q4_K
    case DType::Q5_K: return 16;  // Q5_K_S
    case DType::Q6_K: return 18;
    case DType::BF16: return 32;
    default: throw InvalidArgument(std::string("no llama.cpp file type for ") + dtype_name(type));
  }
}

// transformers' convert script reorders each head's q/k rows for rotate_half: HF row
// h*head_dim + j*(head_dim/2) + i holds Meta's row h*head_dim + 2*i + j (RoFormer eq. 34
// pairs dimensions 2i and 2i+1; rotate_half pairs i and i + head_dim/2). This returns the
// HF row that holds Meta's row `meta_row`.
inline uint64_t hf_row_of_meta_row(uint64_t meta_row, uint64_t head_dim) {
  const uint64_t head = meta_row / head_dim, within = meta_row % head_dim;
  return head * head_dim + (within % 2) * (head_dim / 2) + within / 2;
}

namespace detail {

// llama.cpp's special-token id keys, for the ids the vocabulary has (< 0: none).
template <typename Vocabulary>
void write_special_token_ids(GGUFWriter& w, const Vocabulary& v) {
  if (v.bos_id >= 0) w.add("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  if (v.eos_id >= 0) w.add("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  if (v.unk_id >= 0) w.add("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk_id));
  if (v.pad_id >= 0) w.add("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad_id));
}

// The keys every llama.cpp architecture has: general.*, the shape, the norm epsilon.
inline void write_common_metadata(GGUFWriter& w, const std::string& architecture, const ModelConfig& c,
                                  const std::string& name, DType type) {
  const std::string a = architecture + ".";
  auto u32 = [](int v) { return static_cast<uint32_t>(v); };
  w.add("general.architecture", architecture);
  w.add("general.name", name);
  w.add("general.file_type", llama_file_type(type));
  if (dtype_is_quantized(type)) w.add("general.quantization_version", uint32_t{2});
  w.add(a + "vocab_size", u32(c.n_vocab));
  w.add(a + "context_length", u32(c.n_ctx_train));
  w.add(a + "embedding_length", u32(c.dim));
  w.add(a + "block_count", u32(c.n_layers));
  w.add(a + "feed_forward_length", u32(c.ffn_dim));
  w.add(a + "attention.head_count", u32(c.n_heads));
  w.add(a + "attention.head_count_kv", u32(c.n_kv_heads));
  if (c.norm == NormType::rms_norm) w.add(a + "attention.layer_norm_rms_epsilon", c.norm_eps);
  else w.add(a + "attention.layer_norm_epsilon", c.norm_eps);
}

inline void write_model_metadata(GGUFWriter& w, const ModelConfig& c, const std::string& name, DType type,
                                 const std::string& config_path) {
  const std::string a = c.architecture + ".";
  auto u32 = [](int v) { return static_cast<uint32_t>(v); };
  write_common_metadata(w, c.architecture, c, name, type);
  w.add(a + "rope.freq_base", c.rope_theta);
  w.add(a + "rope.dimension_count", u32(c.n_rot()));
  if (c.head_dim_override > 0 && c.head_dim_override * c.n_heads != c.dim) {
    w.add(a + "attention.key_length", u32(c.head_dim()));
    w.add(a + "attention.value_length", u32(c.head_dim()));
  }
  if (c.is_moe()) {
    w.add(a + "expert_count", u32(c.n_experts));
    w.add(a + "expert_used_count", u32(c.n_experts_per_tok));
  }
  if (c.sliding_window > 0) w.add(a + "attention.sliding_window", u32(c.sliding_window));
  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeScalingType::linear || s.type == RopeScalingType::yarn) {
    w.add(a + "rope.scaling.type", std::string(s.type == RopeScalingType::linear ? "linear" : "yarn"));
    w.add(a + "rope.scaling.factor", s.factor);
    w.add(a + "rope.scaling.original_context_length", u32(s.original_max_position));
    if (s.attention_factor > 0.0f) w.add(a + "rope.scaling.attn_factor", s.attention_factor);
  } else if (s.type != RopeScalingType::none) {
    throw ConfigError(config_path, "rope_scaling",
                      "this RoPE scaling type has no GGUF metadata keys this converter writes (llama.cpp stores "
                      "llama3/longrope factors as a rope_freqs tensor)");
  }
}

// tokenizer.model -> llama.cpp's `llama` tokenizer keys. Returns false (with a note) when
// there is nothing simple to copy.
inline bool write_sentencepiece_tokenizer(GGUFWriter& w, const std::string& folder, const ModelConfig& c,
                                          ConvertReport& report) {
  const std::string path = (std::filesystem::path(folder) / "tokenizer.model").string();
  using tokenizer::TokenType;
  const MappedFile file(path);
  const tokenizer::SentencePieceModel model = tokenizer::parse_sentencepiece_model(file.data(), static_cast<size_t>(file.size()), path);
  if (model.model_type != 2) {
    report.notes.push_back("tokenizer.model is not SentencePiece-BPE: tokenizer not copied");
    return false;
  }
  const tokenizer::Vocab& v = model.vocab;
  if (v.size() > c.n_vocab)
    throw ConfigError(path, "pieces", std::to_string(v.size()) + " pieces exceed vocab_size " + std::to_string(c.n_vocab));
  std::vector<std::string> tokens = v.tokens;
  std::vector<float> scores = v.scores;
  std::vector<int32_t> types;
  for (TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
  // Embedding rows beyond the tokenizer get placeholder tokens, as llama.cpp's converter does.
  for (int id = v.size(); id < c.n_vocab; ++id) {
    tokens.push_back("[PAD" + std::to_string(id) + "]");
    scores.push_back(-1000.0f);
    types.push_back(static_cast<int32_t>(TokenType::user_defined));
  }
  w.add("tokenizer.ggml.model", std::string("llama"));
  w.add("tokenizer.ggml.tokens", tokens);
  w.add("tokenizer.ggml.scores", scores);
  w.add("tokenizer.ggml.token_type", types);
  write_special_token_ids(w, v);
  w.add("tokenizer.ggml.add_bos_token", true);
  w.add("tokenizer.ggml.add_eos_token", false);
  return true;
}

// The placeholder llama.cpp's converter writes for an id no token has.
inline std::string pad_token(int id) { return "[PAD" + std::to_string(id) + "]"; }

// tokenizer.json of a GPT-2-style byte-level BPE (no normalizer, one ByteLevel pre-tokenizer
// with GPT-2's split and no prefix space, ByteLevel decoding) -> llama.cpp's `gpt2`
// tokenizer keys with tokenizer.ggml.pre "gpt-2". The ids, token types, BOS/EOS and
// add_bos/add_eos are those the HF folder loads with (tokenizer_config.json included).
// Returns false (with a note) for another kind of tokenizer.json.
inline bool write_byte_level_tokenizer(GGUFWriter& w, const std::string& folder, const ModelConfig& c,
                                       ConvertReport& report) {
  namespace tj = tokenizer::tokenizer_json_detail;
  const std::string path = (std::filesystem::path(folder) / "tokenizer.json").string();
  const nlohmann::json root = tj::parse_json_file(path);
  const tj::Reader reader(path);
  const nlohmann::json absent;
  auto steps = [&](const char* key, const char* list_key) {  // pointers into `root`
    return tj::flatten(reader, root.contains(key) ? root.at(key) : absent, list_key, key);
  };
  const auto normalizers = steps("normalizer", "normalizers");
  const auto pre_tokenizers = steps("pre_tokenizer", "pretokenizers");
  const auto decoders = steps("decoder", "decoders");
  bool gpt2_style = normalizers.empty() && pre_tokenizers.size() == 1 && !decoders.empty();
  if (gpt2_style) {
    const nlohmann::json& pre = *pre_tokenizers[0];
    gpt2_style = reader.type(pre, "pre_tokenizer") == "ByteLevel" &&
                 reader.boolean(pre, "use_regex", true, "pre_tokenizer") &&
                 !reader.boolean(pre, "add_prefix_space", true, "pre_tokenizer");
  }
  for (const nlohmann::json* d : decoders) gpt2_style = gpt2_style && reader.type(*d, "decoder") == "ByteLevel";
  const nlohmann::json& model = reader.member(root, "model", "model");
  gpt2_style = gpt2_style && !reader.boolean(model, "byte_fallback", false, "model");
  if (!gpt2_style) {
    report.notes.push_back("tokenizer.json is not a GPT-2-style byte-level BPE: tokenizer not copied "
                           "(load tokenizer.json from the HF folder)");
    return false;
  }
  using tokenizer::TokenType;
  const tokenizer::Tokenizer loaded = tokenizer::load_tokenizer_json(path);
  const tokenizer::Vocab& v = loaded.vocab();
  if (v.size() > c.n_vocab)
    throw ConfigError(path, "model.vocab", std::to_string(v.size()) + " tokens exceed vocab_size " + std::to_string(c.n_vocab));
  std::vector<std::string> tokens = v.tokens;  // (n_vocab)
  std::vector<int32_t> types;                  // (n_vocab)
  for (int id = 0; id < v.size(); ++id) {
    if (v.type(id) == TokenType::unused && tokens[static_cast<size_t>(id)].empty()) tokens[static_cast<size_t>(id)] = pad_token(id);
    types.push_back(static_cast<int32_t>(v.type(id)));
  }
  for (int id = v.size(); id < c.n_vocab; ++id) {  // embedding rows beyond the tokenizer
    tokens.push_back(pad_token(id));
    types.push_back(static_cast<int32_t>(TokenType::unused));
  }
  std::vector<std::string> merges;  // "left right", best first
  if (model.contains("merges")) {
    const nlohmann::json& list = model.at("merges");
    if (!list.is_array()) reader.fail("model.merges", "expected an array");
    for (const nlohmann::json& merge : list) {
      if (merge.is_string()) merges.push_back(merge.get<std::string>());
      else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string())
        merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
      else reader.fail("model.merges", "expected \"a b\" or [\"a\", \"b\"] entries");
    }
  }
  w.add("tokenizer.ggml.model", std::string("gpt2"));
  w.add("tokenizer.ggml.pre", std::string("gpt-2"));
  w.add("tokenizer.ggml.tokens", tokens);
  w.add("tokenizer.ggml.token_type", types);
  w.add("tokenizer.ggml.merges", merges);
  write_special_token_ids(w, v);
  w.add("tokenizer.ggml.add_bos_token", v.add_bos);
  w.add("tokenizer.ggml.add_eos_token", v.add_eos);
  if (!v.chat_template.empty()) w.add("tokenizer.chat_template", v.chat_template);
  return true;
}

// The folder's tokenizer: tokenizer.model (SentencePiece), else a byte-level tokenizer.json.
inline bool write_tokenizer(GGUFWriter& w, const std::string& folder, const ModelConfig& c, ConvertReport& report) {
  const std::filesystem::path dir(folder);
  if (path_exists(dir / "tokenizer.model")) return write_sentencepiece_tokenizer(w, folder, c, report);
  if (path_exists(dir / "tokenizer.json")) return write_byte_level_tokenizer(w, folder, c, report);
  report.notes.push_back("no tokenizer.model or tokenizer.json: tokenizer not copied");
  return false;
}

// Canonical tensors in llama.cpp's order: embedding, layers by index, then the head.
inline int canonical_order(const std::string& name) {
  if (name.rfind("token_embd", 0) == 0) return -1;
  if (name.rfind("blk.", 0) == 0) return std::atoi(name.c_str() + 4);
  return INT_MAX;
}

}  // namespace detail

inline ConvertReport convert_hf_to_gguf(const std::string& folder, const std::string& out_path,
                                        const ConvertOptions& options = {}) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(folder) / "config.json").string();
  const nlohmann::json j = load_json_file(config_path);
  const ModelConfig c = hf_config_from_json(j, config_path);
  const HFArchitecture& arch = hf_architecture(j, config_path);
  const WeightNameTable* names = find_weight_name_table(arch.class_name);
  if (!names) throw ConfigError(config_path, "architectures", std::string("no weight-name table for ") + arch.class_name);
  RopeLayout gguf_layout = RopeLayout::interleaved;
  for (const GGUFArchitecture& g : gguf_architectures())
    if (c.architecture == g.name) gguf_layout = g.rope_layout;
  const bool unpermute_qk = c.rope_layout != gguf_layout;

  const SafetensorsSet files(folder);
  ConvertReport report;
  GGUFWriter w;
  std::string name = options.name;
  if (name.empty()) name = fs::path(folder).filename().string().empty() ? fs::path(folder).parent_path().filename().string()
                                                                        : fs::path(folder).filename().string();
  detail::write_model_metadata(w, c, name, options.type, config_path);
  if (options.copy_tokenizer) report.tokenizer_copied = detail::write_tokenizer(w, folder, c, report);

  // Each output tensor and its source: one HF tensor, or Mixtral's experts to stack.
  struct Source {
    std::string canonical;
    std::vector<const TensorView*> parts;  // (1) or (n_experts)
  };
  std::vector<Source> sources;
  std::map<std::string, size_t> stacks;  // "blk.N.ffn_gate_exps.weight" -> index in sources
  for (const TensorView* t : files.tensors()) {
    const std::string canonical = to_canonical_name(*names, t->name);
    if (canonical.empty()) {
      report.notes.push_back("skipped " + t->name + " (no canonical name)");
      continue;
    }
    std::string layer, expert;
    const char* expert_kind = nullptr;
    for (const char* kind : {"ffn_gate", "ffn_up", "ffn_down"})
      if (llmpp::detail::match_weight_pattern((std::string("blk.{N}.") + kind + ".{E}.weight").c_str(), canonical,
                                              layer, expert))
        expert_kind = kind;
    if (!expert_kind) {
      sources.push_back({canonical, {t}});
      continue;
    }
    const int e = std::atoi(expert.c_str());
    if (e < 0 || e >= c.n_experts)
      throw FormatError(folder, t->name, 0, "expert " + expert + " is outside num_local_experts " + std::to_string(c.n_experts));
    const std::string stacked = "blk." + layer + "." + expert_kind + "_exps.weight";
    if (!stacks.count(stacked)) {
      stacks[stacked] = sources.size();
      sources.push_back({stacked, std::vector<const TensorView*>(static_cast<size_t>(c.n_experts), nullptr)});
    }
    sources[stacks[stacked]].parts[static_cast<size_t>(e)] = t;
  }
  std::stable_sort(sources.begin(), sources.end(), [](const Source& a, const Source& b) {
    return detail::canonical_order(a.canonical) < detail::canonical_order(b.canonical);
  });

  // The stored type of a tensor with `n_dims` dimensions and rows of `cols` elements.
  auto output_type = [&](const std::string& canonical, int n_dims, int64_t cols) {
    if (n_dims == 1 || canonical.find("ffn_gate_inp") != std::string::npos) return DType::F32;
    if (cols % dtype_traits(options.type).block_size == 0) return options.type;
    report.notes.push_back(canonical + ": rows of " + std::to_string(cols) + " are not whole " +
                           dtype_name(options.type) + " blocks; stored as F16");
    return DType::F16;
  };
  const uint64_t head_dim = static_cast<uint64_t>(c.head_dim());
  for (const Source& source : sources) {
    const std::string& canonical = source.canonical;
    const TensorView* first = source.parts[0];
    for (size_t e = 0; e < source.parts.size(); ++e) {
      const TensorView* t = source.parts[e];
      if (!t) throw FormatError(folder, canonical, 0, "expert " + std::to_string(e) + " is missing");
      if (t->ne != first->ne || t->type != first->type)
        throw FormatError(folder, t->name, 0, "shape " + t->shape_string() + " differs from expert 0's " + first->shape_string());
    }
    const bool is_stack = source.parts.size() > 1 || canonical.find("_exps.") != std::string::npos;
    std::vector<int64_t> ne(first->ne.begin(), first->ne.begin() + first->n_dims);
    if (is_stack) ne.push_back(static_cast<int64_t>(source.parts.size()));  // (n_experts, rows, cols)
    const DType type = output_type(canonical, static_cast<int>(ne.size()), first->ne[0]);
    const bool permute = unpermute_qk && (canonical.find(".attn_q.") != std::string::npos ||
                                          canonical.find(".attn_k.") != std::string::npos);
    if (!is_stack && !permute && type == first->type) {  // stored as is: copied straight from the map
      w.add_tensor(canonical, type, ne, first->data, first->nbytes);
      continue;
    }
    if (first->n_dims == 1) {  // a bias: its elements are the rows to permute
      w.add_tensor(canonical, ne, [first, permute, head_dim](uint64_t, float* values) {
        std::vector<float> hf(static_cast<size_t>(first->ne[0]));  // (n) as stored
        kernels::dequantize_row(first->type, first->data, hf.data(), first->ne[0]);
        for (uint64_t i = 0; i < hf.size(); ++i) values[i] = hf[permute ? hf_row_of_meta_row(i, head_dim) : i];
      }, type);
      continue;
    }
    const std::vector<const TensorView*> parts = source.parts;
    const uint64_t rows_per_part = static_cast<uint64_t>(first->rows());
    w.add_tensor(canonical, ne, [parts, rows_per_part, permute, head_dim](uint64_t row, float* values) {
      const TensorView* t = parts[row / rows_per_part];
      const uint64_t r = row % rows_per_part;
      kernels::dequantize_row(t->type, t->row(static_cast<int64_t>(permute ? hf_row_of_meta_row(r, head_dim) : r)),
                              values, t->ne[0]);
    }, type);
  }
  report.n_tensors = static_cast<int>(sources.size());
  w.write(out_path);
  return report;
}

}  // namespace llmpp::io
