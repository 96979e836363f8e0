// Hugging Face folder -> GGUF for the families beyond LLaMA that llama.cpp defines: GPT-2
// (`gpt2`), BLOOM (`bloom`), Falcon (`falcon`, 7B and 40B layouts), Phi-3 (`phi3`) and
// Gemma (`gemma`). OPT has no llama.cpp architecture and stays HF-only. The Llama-style
// families are in io/hf_to_gguf.hpp.
//
// The folder is opened as a Model, so the weights are those the family's row and name
// table bind (the same binding the HF path runs, and that tests check against PyTorch):
// GPT-2's Conv1D matrices already transposed, BLOOM/Falcon's grouped query/key/value
// already contiguous. They are written in llama.cpp's layout: fused attn_qkv (Gemma: q, k,
// v apart), Phi-3's gate-then-up ffn_up, Gemma's norm weights with the 1 added, LongRoPE
// factors as rope_factors_{short,long} tensors, a tied head as no output.weight. Matrices
// are streamed a row at a time from the bound views while the file is written (copied
// straight from the map when already in the requested type). The written file is read
// back and its config compared with the folder's, so a config llama.cpp's keys cannot
// express is refused instead of written.
#pragma once

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/io/hf_to_gguf.hpp"
#include "llmpp/io/model_files.hpp"
#include "llmpp/kernels/quant.hpp"
#include "llmpp/model/families.hpp"
#include "llmpp/model/model.hpp"

namespace llmpp {

// How llama.cpp stores one family (ModelConfig::architecture) in GGUF.
struct FamilyGGUFLayout {
  const char* architecture;  // the HF row's ModelConfig::architecture, and general.architecture
  bool fused_qkv;            // blk.N.attn_qkv; else attn_q, attn_k, attn_v
  bool fused_gate_up;        // blk.N.ffn_up holds the gate rows, then the up rows (Phi-3)
};

inline const std::vector<FamilyGGUFLayout>& family_gguf_layouts() {
  static const std::vector<FamilyGGUFLayout> table = {
      {"gpt2", true, false}, {"bloom", true, false}, {"falcon", true, false},
      {"phi3", true, true},  {"gemma", false, false},
  };
  return table;
}

inline const FamilyGGUFLayout* find_family_gguf_layout(const std::string& architecture) {
  for (const FamilyGGUFLayout& layout : family_gguf_layouts())
    if (architecture == layout.architecture) return &layout;
  return nullptr;
}

namespace detail {

// The first field where the config read back from the GGUF differs from the folder's;
// empty when they describe the same model. (Flags that only say how the HF files store
// weights, and Gemma's (1 + w), which the GGUF holds in the weights, are not compared.)
inline std::string first_config_difference(const ModelConfig& hf, const ModelConfig& gguf) {
  auto differs = [](const auto& a, const auto& b) { return !(a == b); };
  const struct {
    const char* field;
    bool different;
  } checks[] = {
      {"n_vocab", differs(hf.n_vocab, gguf.n_vocab)},
      {"hidden_size", differs(hf.dim, gguf.dim)},
      {"num_hidden_layers", differs(hf.n_layers, gguf.n_layers)},
      {"num_attention_heads", differs(hf.n_heads, gguf.n_heads)},
      {"num_key_value_heads", differs(hf.n_kv_heads, gguf.n_kv_heads)},
      {"head_dim", differs(hf.head_dim(), gguf.head_dim())},
      {"intermediate_size", differs(hf.ffn_dim, gguf.ffn_dim)},
      {"max_position_embeddings", differs(hf.n_ctx_train, gguf.n_ctx_train)},
      {"norm", differs(hf.norm, gguf.norm)},
      {"norm_eps", differs(hf.norm_eps, gguf.norm_eps)},
      {"positions", differs(hf.positions, gguf.positions)},
      {"position_offset", differs(hf.position_offset, gguf.position_offset)},
      {"activation", differs(hf.activation, gguf.activation)},
      {"ffn", differs(hf.ffn, gguf.ffn)},
      {"attention bias", differs(hf.attn_qkv_bias, gguf.attn_qkv_bias) || differs(hf.attn_out_bias, gguf.attn_out_bias)},
      {"ffn bias", differs(hf.ffn_bias, gguf.ffn_bias)},
      {"parallel_attn", differs(hf.parallel_residual, gguf.parallel_residual)},
      {"num_ln_in_parallel_attn", differs(hf.parallel_ffn_norm, gguf.parallel_ffn_norm)},
      {"post_norm", differs(hf.post_norm, gguf.post_norm) || differs(hf.output_norm, gguf.output_norm)},
      {"embedding_norm", differs(hf.embedding_norm, gguf.embedding_norm)},
      {"scale_embeddings", differs(hf.scale_embeddings, gguf.scale_embeddings)},
      {"embedding_dim", differs(hf.embed_dim(), gguf.embed_dim())},
      {"sliding_window", differs(hf.sliding_window, gguf.sliding_window)},
      {"n_experts", differs(hf.n_experts, gguf.n_experts)},
  };
  for (const auto& check : checks)
    if (check.different) return check.field;
  if (hf.positions != PositionType::rope) return {};
  const RopeScaling &a = hf.rope_scaling, &b = gguf.rope_scaling;
  if (hf.rope_layout != gguf.rope_layout) return "rope_layout";
  if (hf.rope_theta != gguf.rope_theta) return "rope_theta";
  if (hf.n_rot() != gguf.n_rot()) return "partial_rotary_factor";
  if (a.type != b.type || a.factor != b.factor || a.original_max_position != b.original_max_position ||
      a.short_factor != b.short_factor || a.long_factor != b.long_factor)
    return "rope_scaling";
  return {};
}

}  // namespace detail

// Writes the family model in Hugging Face folder `folder` as a GGUF at `out_path`
// (llama.cpp's metadata keys, tensor names and layouts). options.type applies to the
// matrices; a matrix whose rows are not whole blocks of it is stored as F16 (a note says
// so). Norms, biases and RoPE factors stay F32. The tokenizer is copied as in
// io::convert_hf_to_gguf (tokenizer.model, else a byte-level tokenizer.json).
inline io::ConvertReport convert_family_to_gguf(const std::string& folder, const std::string& out_path,
                                                const io::ConvertOptions& options = {}) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(folder) / "config.json").string();
  if (!is_folder(folder)) throw IoError(folder, "not a Hugging Face folder");
  const std::shared_ptr<const Model> model = Model::load(folder);  // alive until write(): views point into it
  const ModelConfig& c = model->config();
  const ModelWeights& weights = model->weights();
  const FamilyGGUFLayout* layout = find_family_gguf_layout(c.architecture);
  if (!layout) {
    if (!find_hf_family(io::load_json_file(config_path)))  // Llama, Mistral, Mixtral, Qwen2
      throw ConfigError(config_path, "architectures", "'" + c.architecture + "' is converted by io::convert_hf_to_gguf");
    throw ConfigError(config_path, "architectures",
                      "llama.cpp defines no GGUF architecture for '" + c.architecture + "': run it from the Hugging Face folder");
  }
  if (c.architecture == std::string("falcon") && !c.parallel_residual)
    throw ConfigError(config_path, "parallel_attn", "llama.cpp's falcon architecture has parallel attention and MLP only");
  if (c.rope_scaling.type != RopeScalingType::none && c.rope_scaling.type != RopeScalingType::longrope)
    throw ConfigError(config_path, "rope_scaling", "no GGUF keys for this RoPE scaling in the " + c.architecture + " architecture");

  io::ConvertReport report;
  io::GGUFWriter w;
  const std::string arch = layout->architecture;
  const std::string p = arch + ".";
  auto u32 = [](int v) { return static_cast<uint32_t>(v); };
  std::string name = options.name;
  if (name.empty()) {
    const fs::path path(folder);
    name = path.filename().string().empty() ? path.parent_path().filename().string() : path.filename().string();
  }
  io::detail::write_common_metadata(w, arch, c, name, options.type);
  if (c.head_dim_override > 0) {
    w.add(p + "attention.key_length", u32(c.head_dim()));
    w.add(p + "attention.value_length", u32(c.head_dim()));
  }
  if (c.sliding_window > 0) w.add(p + "attention.sliding_window", u32(c.sliding_window));
  if (c.positions == PositionType::rope) {
    w.add(p + "rope.freq_base", c.rope_theta);
    w.add(p + "rope.dimension_count", u32(c.n_rot()));
  }
  if (options.copy_tokenizer) report.tokenizer_copied = io::detail::write_tokenizer(w, folder, c, report);

  // The stored type of a matrix with rows of `cols` elements.
  auto matrix_type = [&](const std::string& tensor, int64_t cols) {
    if (cols % dtype_traits(options.type).block_size == 0) return options.type;
    report.notes.push_back(tensor + ": rows of " + std::to_string(cols) + " are not whole " + dtype_name(options.type) +
                           " blocks; stored as F16");
    return DType::F16;
  };
  // A matrix whose rows are the rows of `parts`, in order (several parts: a fused projection).
  auto matrix = [&](const std::string& tensor, std::vector<TensorView> parts) {
    const int64_t cols = parts[0].cols();
    int64_t rows = 0;
    for (const TensorView& part : parts) {
      if (part.cols() != cols) throw FormatError(folder, part.name, 0, "fused parts differ in width");
      rows += part.rows();
    }
    const DType type = matrix_type(tensor, cols);
    if (parts.size() == 1 && parts[0].type == type) {  // as bound: straight from the map (or the rewritten buffer)
      w.add_tensor(tensor, type, {cols, rows}, parts[0].data, parts[0].nbytes);
      return;
    }
    w.add_tensor(tensor, {cols, rows}, [parts](uint64_t row, float* out) {
      size_t i = 0;
      while (row >= static_cast<uint64_t>(parts[i].rows())) row -= static_cast<uint64_t>(parts[i++].rows());
      kernels::dequantize_row(parts[i].type, parts[i].row(static_cast<int64_t>(row)), out, parts[i].cols());
    }, type);
  };
  // A 1-D tensor; absent when empty. `norm`: a norm weight, which llama.cpp's Gemma stores as 1 + w.
  auto vector = [&](const std::string& tensor, std::vector<float> values, bool norm = false) {
    if (values.empty()) return;
    if (norm && c.norm_weight_plus_one)
      for (float& v : values) v += 1.0f;
    const int64_t n = static_cast<int64_t>(values.size());
    w.add_tensor(tensor, {n}, std::move(values), DType::F32);
  };
  auto joined = [](std::initializer_list<const std::vector<float>*> parts) {
    std::vector<float> out;
    for (const std::vector<float>* part : parts) out.insert(out.end(), part->begin(), part->end());
    return out;
  };

  if (c.rope_scaling.type == RopeScalingType::longrope) {
    const RopeScaling& r = c.rope_scaling;
    w.add(p + "rope.scaling.original_context_length", u32(r.original_max_position));
    // LongRoPE's cos/sin scale, as llama.cpp's Phi-3 converter computes it from the growth.
    const double growth = static_cast<double>(c.n_ctx_train) / r.original_max_position;
    w.add(p + "rope.scaling.attn_factor",
          static_cast<float>(growth <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(growth) / std::log(r.original_max_position))));
    vector("rope_factors_long.weight", r.long_factor);
    vector("rope_factors_short.weight", r.short_factor);
  }
  matrix("token_embd.weight", {weights.token_embd});
  if (weights.position_embd.valid()) matrix("position_embd.weight", {weights.position_embd});
  vector("token_embd_norm.weight", weights.token_embd_norm);
  vector("token_embd_norm.bias", weights.token_embd_norm_bias);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = weights.layers[static_cast<size_t>(l)];
    const std::string b = "blk." + std::to_string(l) + ".";
    vector(b + "attn_norm.weight", L.attn_norm, true);
    vector(b + "attn_norm.bias", L.attn_norm_bias);
    if (layout->fused_qkv) {
      matrix(b + "attn_qkv.weight", {L.wq, L.wk, L.wv});
      vector(b + "attn_qkv.bias", joined({&L.bq, &L.bk, &L.bv}));
    } else {
      matrix(b + "attn_q.weight", {L.wq});
      matrix(b + "attn_k.weight", {L.wk});
      matrix(b + "attn_v.weight", {L.wv});
      vector(b + "attn_q.bias", L.bq);
      vector(b + "attn_k.bias", L.bk);
      vector(b + "attn_v.bias", L.bv);
    }
    matrix(b + "attn_output.weight", {L.wo});
    vector(b + "attn_output.bias", L.bo);
    const std::string ffn_norm = c.parallel_residual ? "attn_norm_2" : "ffn_norm";  // Falcon 40B: ln_mlp
    vector(b + ffn_norm + ".weight", L.ffn_norm, true);
    vector(b + ffn_norm + ".bias", L.ffn_norm_bias);
    if (layout->fused_gate_up) {
      matrix(b + "ffn_up.weight", {L.ffn.gate, L.ffn.up});
    } else {
      if (L.ffn.gate.valid()) matrix(b + "ffn_gate.weight", {L.ffn.gate});
      matrix(b + "ffn_up.weight", {L.ffn.up});
      vector(b + "ffn_gate.bias", L.ffn_gate_bias);
    }
    vector(b + "ffn_up.bias", L.ffn_up_bias);
    matrix(b + "ffn_down.weight", {L.ffn.down});
    vector(b + "ffn_down.bias", L.ffn_down_bias);
  }
  vector("output_norm.weight", weights.output_norm, true);
  vector("output_norm.bias", weights.output_norm_bias);
  if (weights.output.data != weights.token_embd.data) matrix("output.weight", {weights.output});  // else tied
  w.write(out_path);
  report.n_tensors = 0;

  // Read back: the GGUF's family row must give the folder's model, else the file is refused.
  try {
    const io::ModelFiles back = io::open_model_files(out_path);
    if (const std::string field = detail::first_config_difference(c, back.config); !field.empty())
      throw ConfigError(config_path, field,
                        "llama.cpp's " + arch + " architecture cannot express this config's value (the GGUF would run "
                        "a different model); not converted");
    report.n_tensors = static_cast<int>(back.gguf->tensors().size());
  } catch (...) {
    std::error_code ignored;
    fs::remove(out_path, ignored);
    throw;
  }
  return report;
}

// Any Hugging Face folder llmpp converts: the families above, or the Llama-style ones
// (Llama, Mistral, Mixtral, Qwen2) through io::convert_hf_to_gguf; config.json decides.
inline io::ConvertReport convert_folder_to_gguf(const std::string& folder, const std::string& out_path,
                                                const io::ConvertOptions& options = {}) {
  const nlohmann::json j = io::load_json_file((std::filesystem::path(folder) / "config.json").string());
  if (find_hf_family(j)) return convert_family_to_gguf(folder, out_path, options);
  return io::convert_hf_to_gguf(folder, out_path, options);
}

}  // namespace llmpp
