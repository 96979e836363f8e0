// The weights of one model, bound by canonical (GGUF) name from any file format. Matrices
// stay as views into the memory-mapped files, in their stored type; only the small 1-D
// tensors (norm weights and biases) are converted to float, because every kernel that uses
// them wants float and they are a rounding error of the file size.
//
// Fused projections become views: a fused query/key/value matrix (Phi-3 qkv_proj, GPT-2
// c_attn, GGUF attn_qkv) is three row ranges, a fused gate/up matrix (Phi-3 gate_up_proj,
// GGUF phi3 ffn_up) two. Two Hugging Face layouts cannot be viewed and are rewritten once
// at load into buffers the weights own: GPT-2's Conv1D (in, out) matrices, which are
// transposed, and BLOOM/Falcon's per-head interleaved query/key/value rows, which are
// regrouped (ModelConfig::qkv_layout). llama.cpp's converter performs the same rewrites,
// so GGUF files (and every quantized file) are bound without a copy.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/io/model_files.hpp"
#include "llmpp/kernels/linear.hpp"
#include "llmpp/layers/feed_forward.hpp"
#include "llmpp/layers/moe.hpp"
#include "llmpp/model/config.hpp"

namespace llmpp {

struct LayerWeights {
  std::vector<float> attn_norm, attn_norm_bias;  // (dim); bias empty unless LayerNorm with bias
  TensorView wq, wk, wv, wo;                     // (q_dim, dim), (kv_dim, dim), (kv_dim, dim), (dim, q_dim)
  std::vector<float> bq, bk, bv, bo;             // (q_dim), (kv_dim), (kv_dim), (dim); empty when absent
  std::vector<float> ffn_norm, ffn_norm_bias;    // (dim)
  layers::FeedForwardWeights ffn;                // dense FFN: (ffn_dim, dim) gate/up, (dim, ffn_dim) down
  std::vector<float> ffn_gate_bias, ffn_up_bias, ffn_down_bias;  // storage behind ffn's bias pointers
  layers::MoeWeights moe;                        // router (n_experts, dim) and one FFN per expert
};

struct ModelWeights {
  TensorView token_embd;                         // (n_vocab, embed_dim)
  std::vector<float> token_embd_norm, token_embd_norm_bias;  // (dim), BLOOM only
  TensorView project_in, project_out;            // (dim, embed_dim), (embed_dim, dim), OPT only
  TensorView position_embd;                      // (n_positions, dim), learned positions only
  std::vector<float> output_norm, output_norm_bias;  // (dim); empty without an output norm
  TensorView output;                             // (n_vocab, embed_dim); the embedding when tied
  std::vector<LayerWeights> layers;              // (n_layers)
  // Tensors rewritten at load (see the top of this file); views above point into them.
  std::vector<std::shared_ptr<const std::vector<uint8_t>>> converted;
};

namespace detail {

inline const TensorView* find_weight(const io::WeightSource& source, const std::string& name) {
  return source.find(name);
}

inline TensorView require_matrix(const io::WeightSource& source, const std::string& name, int64_t rows, int64_t cols) {
  const TensorView* t = source.find(name);
  if (!t) throw FormatError(source.path(), name, 0, "required tensor is missing");
  if (t->cols() != cols || t->rows() != rows)
    throw FormatError(source.path(), name, 0,
                      "shape " + t->shape_string() + " does not match the config's [" + std::to_string(rows) + ", " +
                          std::to_string(cols) + "]");
  return *t;
}

// A 1-D tensor as floats; empty when absent and not required.
inline std::vector<float> vector_weight(const io::WeightSource& source, const std::string& name, int64_t n,
                                        bool required) {
  const TensorView* t = source.find(name);
  if (!t) {
    if (required) throw FormatError(source.path(), name, 0, "required tensor is missing");
    return {};
  }
  if (t->n_elements() != n)
    throw FormatError(source.path(), name, 0,
                      "has " + std::to_string(t->n_elements()) + " elements, the config needs " + std::to_string(n));
  std::vector<float> out(static_cast<size_t>(n));
  kernels::dequantize_row(t->type, t->data, out.data(), n);
  return out;
}

// Expert `e` of a stacked (n_experts, rows, cols) tensor, as a view: no copy.
inline TensorView expert_slice(const TensorView& stacked, int expert) {
  TensorView t = stacked;
  t.name = stacked.name + "[" + std::to_string(expert) + "]";
  t.n_dims = 2;
  t.ne = {stacked.ne[0], stacked.ne[1], 1, 1};
  t.nbytes = stacked.row_stride() * static_cast<uint64_t>(stacked.ne[1]);
  t.data = static_cast<const uint8_t*>(stacked.data) + t.nbytes * static_cast<uint64_t>(expert);
  return t;
}

// Rows [first, first + n_rows) of a matrix, as a view: no copy.
inline TensorView row_slice(const TensorView& matrix, int64_t first, int64_t n_rows, const std::string& name) {
  TensorView t = matrix;
  t.name = name;
  t.n_dims = 2;
  t.ne = {matrix.ne[0], n_rows, 1, 1};
  t.nbytes = matrix.row_stride() * static_cast<uint64_t>(n_rows);
  t.data = matrix.row(first);
  return t;
}

// A (rows, cols) view of `bytes`, which `w.converted` keeps alive.
inline TensorView own(ModelWeights& w, std::vector<uint8_t> bytes, const TensorView& like, int64_t rows,
                      int64_t cols) {
  auto buffer = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  TensorView t = like;
  t.n_dims = 2;
  t.ne = {cols, rows, 1, 1};
  t.data = buffer->data();
  t.nbytes = buffer->size();
  w.converted.push_back(std::move(buffer));
  return t;
}

// A (rows, cols) projection. With `transposed` the file stores it as (cols, rows) (GPT-2's
// Conv1D): it is transposed here, element by element, in its stored (unquantized) type.
inline TensorView linear_weight(ModelWeights& w, const io::WeightSource& source, const std::string& name,
                                int64_t rows, int64_t cols, bool transposed) {
  if (!transposed) return require_matrix(source, name, rows, cols);
  const TensorView stored = require_matrix(source, name, cols, rows);
  if (dtype_is_quantized(stored.type))
    throw FormatError(source.path(), name, 0, "a transposed (Conv1D) weight cannot be quantized");
  const size_t element = dtype_traits(stored.type).block_bytes;
  std::vector<uint8_t> out(static_cast<size_t>(rows * cols) * element);  // (rows, cols)
  const auto* in = static_cast<const uint8_t*>(stored.data);             // (cols, rows)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      std::memcpy(&out[(static_cast<size_t>(r * cols + c)) * element], in + static_cast<size_t>(c * rows + r) * element,
                  element);
  return own(w, std::move(out), stored, rows, cols);
}

// Rewrites fused query/key/value units (rows of a matrix, or elements of a bias) from the
// grouped layout — per KV head g: its q_per_kv query heads, its key head, its value head —
// into all query heads, then all key heads, then all value heads. head_bytes: one head.
inline std::vector<uint8_t> ungroup_qkv(const uint8_t* fused, int n_kv_heads, int q_per_kv, size_t head_bytes) {
  const size_t group_bytes = (static_cast<size_t>(q_per_kv) + 2) * head_bytes;
  const size_t q_bytes = static_cast<size_t>(n_kv_heads) * q_per_kv * head_bytes;
  const size_t kv_bytes = static_cast<size_t>(n_kv_heads) * head_bytes;
  std::vector<uint8_t> out(static_cast<size_t>(n_kv_heads) * group_bytes);
  for (int g = 0; g < n_kv_heads; ++g) {
    const uint8_t* group = fused + g * group_bytes;
    std::memcpy(&out[g * q_per_kv * head_bytes], group, q_per_kv * head_bytes);
    std::memcpy(&out[q_bytes + g * head_bytes], group + q_per_kv * head_bytes, head_bytes);
    std::memcpy(&out[q_bytes + kv_bytes + g * head_bytes], group + (q_per_kv + 1) * head_bytes, head_bytes);
  }
  return out;
}

// Query, key and value projections (and biases) from separate tensors or one fused tensor.
inline void bind_attention_projections(const ModelConfig& c, const io::WeightSource& source, const std::string& p,
                                       ModelWeights& w, LayerWeights& L) {
  const bool transposed = c.linear_weights_transposed;
  const int64_t q_dim = c.q_dim(), kv_dim = c.kv_dim(), fused_dim = q_dim + 2 * kv_dim;
  if (!source.find(p + "attn_qkv.weight")) {
    L.wq = linear_weight(w, source, p + "attn_q.weight", q_dim, c.dim, transposed);
    L.wk = linear_weight(w, source, p + "attn_k.weight", kv_dim, c.dim, transposed);
    L.wv = linear_weight(w, source, p + "attn_v.weight", kv_dim, c.dim, transposed);
    L.bq = vector_weight(source, p + "attn_q.bias", q_dim, c.attn_qkv_bias);
    L.bk = vector_weight(source, p + "attn_k.bias", kv_dim, c.attn_qkv_bias);
    L.bv = vector_weight(source, p + "attn_v.bias", kv_dim, c.attn_qkv_bias);
    return;
  }
  TensorView qkv = linear_weight(w, source, p + "attn_qkv.weight", fused_dim, c.dim, transposed);
  std::vector<float> bias = vector_weight(source, p + "attn_qkv.bias", fused_dim, c.attn_qkv_bias);
  if (c.qkv_layout == QkvLayout::grouped && c.n_kv_heads > 1) {  // one group (Falcon 7B) is contiguous
    const int q_per_kv = c.n_heads / c.n_kv_heads;
    const uint64_t head_rows = static_cast<uint64_t>(c.head_dim());
    qkv = own(w, ungroup_qkv(static_cast<const uint8_t*>(qkv.data), c.n_kv_heads, q_per_kv, head_rows * qkv.row_stride()),
              qkv, fused_dim, c.dim);
    if (!bias.empty()) {
      const std::vector<uint8_t> bytes = ungroup_qkv(reinterpret_cast<const uint8_t*>(bias.data()), c.n_kv_heads,
                                                     q_per_kv, head_rows * sizeof(float));
      std::memcpy(bias.data(), bytes.data(), bytes.size());
    }
  }
  L.wq = row_slice(qkv, 0, q_dim, p + "attn_q.weight");
  L.wk = row_slice(qkv, q_dim, kv_dim, p + "attn_k.weight");
  L.wv = row_slice(qkv, q_dim + kv_dim, kv_dim, p + "attn_v.weight");
  if (!bias.empty()) {
    L.bq.assign(bias.begin(), bias.begin() + q_dim);
    L.bk.assign(bias.begin() + q_dim, bias.begin() + q_dim + kv_dim);
    L.bv.assign(bias.begin() + q_dim + kv_dim, bias.end());
  }
}

// A dense FFN: gate (gated only), up and down, the gate and up possibly fused into one
// (2 ffn_dim, dim) `ffn_up` whose first half is the gate (Phi-3, GGUF phi3).
inline void bind_dense_ffn(const ModelConfig& c, const io::WeightSource& source, const std::string& p,
                           ModelWeights& w, LayerWeights& L) {
  const bool transposed = c.linear_weights_transposed;
  const bool gated = c.ffn == FfnType::gated;
  if (gated && !source.find(p + "ffn_gate.weight")) {
    const TensorView gate_up = linear_weight(w, source, p + "ffn_up.weight", 2 * int64_t{c.ffn_dim}, c.dim, transposed);
    L.ffn.gate = row_slice(gate_up, 0, c.ffn_dim, p + "ffn_gate.weight");
    L.ffn.up = row_slice(gate_up, c.ffn_dim, c.ffn_dim, p + "ffn_up.weight");
  } else {
    if (gated) L.ffn.gate = linear_weight(w, source, p + "ffn_gate.weight", c.ffn_dim, c.dim, transposed);
    L.ffn.up = linear_weight(w, source, p + "ffn_up.weight", c.ffn_dim, c.dim, transposed);
  }
  L.ffn.down = linear_weight(w, source, p + "ffn_down.weight", c.dim, c.ffn_dim, transposed);
  if (gated) L.ffn_gate_bias = vector_weight(source, p + "ffn_gate.bias", c.ffn_dim, false);
  L.ffn_up_bias = vector_weight(source, p + "ffn_up.bias", c.ffn_dim, c.ffn_bias);
  L.ffn_down_bias = vector_weight(source, p + "ffn_down.bias", c.dim, c.ffn_bias);
  L.ffn.gate_bias = L.ffn_gate_bias.empty() ? nullptr : L.ffn_gate_bias.data();
  L.ffn.up_bias = L.ffn_up_bias.empty() ? nullptr : L.ffn_up_bias.data();
  L.ffn.down_bias = L.ffn_down_bias.empty() ? nullptr : L.ffn_down_bias.data();
}

inline TensorView require_expert(const io::WeightSource& source, const std::string& layer_prefix,
                                 const std::string& kind, int expert, int n_experts, int64_t rows, int64_t cols) {
  // Stacked (llama.cpp since 2024) or one tensor per expert (older GGUFs, HF after renaming).
  if (const TensorView* stacked = source.find(layer_prefix + kind + "_exps.weight")) {
    if (stacked->ne[0] != cols || stacked->ne[1] != rows || stacked->ne[2] != n_experts)
      throw FormatError(source.path(), stacked->name, 0,
                        "shape " + stacked->shape_string() + " does not match [" + std::to_string(n_experts) + ", " +
                            std::to_string(rows) + ", " + std::to_string(cols) + "]");
    return expert_slice(*stacked, expert);
  }
  return require_matrix(source, layer_prefix + kind + "." + std::to_string(expert) + ".weight", rows, cols);
}

}  // namespace detail

// Binds every tensor the config calls for; a missing or misshapen one is a FormatError
// naming the tensor.
inline ModelWeights bind_weights(const ModelConfig& c, const io::WeightSource& source) {
  using detail::linear_weight;
  using detail::require_matrix;
  using detail::vector_weight;
  const bool layer_norm = c.norm == NormType::layer_norm;
  const bool transposed = c.linear_weights_transposed;
  // A norm's weight and, for LayerNorm, its optional bias.
  auto bind_norm = [&](const std::string& name, std::vector<float>& weight, std::vector<float>& bias) {
    weight = vector_weight(source, name + ".weight", c.dim, true);
    if (layer_norm) bias = vector_weight(source, name + ".bias", c.dim, false);
  };
  ModelWeights w;
  w.token_embd = require_matrix(source, "token_embd.weight", c.n_vocab, c.embed_dim());
  if (c.embedding_norm) bind_norm("token_embd_norm", w.token_embd_norm, w.token_embd_norm_bias);
  if (c.embed_dim() != c.dim) {
    w.project_in = require_matrix(source, "token_embd_proj.weight", c.dim, c.embed_dim());
    w.project_out = require_matrix(source, "output_proj.weight", c.embed_dim(), c.dim);
  }
  if (c.positions == PositionType::learned) {
    const TensorView* p = source.find("position_embd.weight");
    if (!p) throw FormatError(source.path(), "position_embd.weight", 0, "required tensor is missing");
    if (p->cols() != c.dim)
      throw FormatError(source.path(), p->name, 0,
                        "shape " + p->shape_string() + " does not have the config's " + std::to_string(c.dim) + " columns");
    w.position_embd = *p;
  }
  if (c.output_norm) bind_norm("output_norm", w.output_norm, w.output_norm_bias);
  if (source.find("output.weight")) w.output = require_matrix(source, "output.weight", c.n_vocab, c.embed_dim());
  else w.output = w.token_embd;  // tied head: GGUF omits output.weight, HF sets tie_word_embeddings

  // One layer at a time, not resize(n_layers): a file that claims 10^9 layers fails at the
  // first missing tensor instead of asking for 10^9 LayerWeights up front. Growing moves the
  // bound layers, which keeps the bias pointers into their vectors valid; a copy would not.
  static_assert(std::is_nothrow_move_constructible_v<LayerWeights>, "vector growth must move layers");
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers.emplace_back();
    const std::string p = "blk." + std::to_string(l) + ".";
    bind_norm(p + "attn_norm", L.attn_norm, L.attn_norm_bias);
    detail::bind_attention_projections(c, source, p, w, L);
    L.wo = linear_weight(w, source, p + "attn_output.weight", c.dim, c.q_dim(), transposed);
    L.bo = vector_weight(source, p + "attn_output.bias", c.dim, c.attn_out_bias);
    // The FFN's own norm; a parallel block has one only with parallel_ffn_norm (llama.cpp: attn_norm_2).
    if (!c.parallel_residual) bind_norm(p + "ffn_norm", L.ffn_norm, L.ffn_norm_bias);
    else if (c.parallel_ffn_norm) bind_norm(p + "attn_norm_2", L.ffn_norm, L.ffn_norm_bias);
    const bool gated = c.ffn == FfnType::gated;
    if (c.is_moe()) {
      L.moe.router = require_matrix(source, p + "ffn_gate_inp.weight", c.n_experts, c.dim);
      for (int e = 0; e < c.n_experts; ++e) {
        layers::FeedForwardWeights expert;
        if (gated) expert.gate = detail::require_expert(source, p, "ffn_gate", e, c.n_experts, c.ffn_dim, c.dim);
        expert.up = detail::require_expert(source, p, "ffn_up", e, c.n_experts, c.ffn_dim, c.dim);
        expert.down = detail::require_expert(source, p, "ffn_down", e, c.n_experts, c.dim, c.ffn_dim);
        L.moe.experts.push_back(expert);
      }
    } else {
      detail::bind_dense_ffn(c, source, p, w, L);
    }
  }
  return w;
}

}  // namespace llmpp
