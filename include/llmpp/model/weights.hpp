// The weights of one model, bound by canonical (GGUF) name from any file format. Matrices
// stay as views into the memory-mapped files, in their stored type; only the small 1-D
// tensors (norm weights and biases) are converted to float, because every kernel that uses
// them wants float and they are a rounding error of the file size.
#pragma once

#include <string>
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
  TensorView token_embd;                         // (n_vocab, dim)
  TensorView position_embd;                      // (n_positions, dim), learned positions only
  std::vector<float> output_norm, output_norm_bias;  // (dim)
  TensorView output;                             // (n_vocab, dim); the embedding when tied
  std::vector<LayerWeights> layers;              // (n_layers)
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
  using detail::require_matrix;
  using detail::vector_weight;
  const bool layer_norm = c.norm == NormType::layer_norm;
  ModelWeights w;
  w.token_embd = require_matrix(source, "token_embd.weight", c.n_vocab, c.dim);
  if (c.positions == PositionType::learned) {
    const TensorView* p = source.find("position_embd.weight");
    if (!p) throw FormatError(source.path(), "position_embd.weight", 0, "required tensor is missing");
    w.position_embd = *p;
  }
  w.output_norm = vector_weight(source, "output_norm.weight", c.dim, true);
  if (layer_norm) w.output_norm_bias = vector_weight(source, "output_norm.bias", c.dim, false);
  if (source.find("output.weight")) w.output = require_matrix(source, "output.weight", c.n_vocab, c.dim);
  else w.output = w.token_embd;  // tied head: GGUF omits output.weight, HF sets tie_word_embeddings

  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    L.attn_norm = vector_weight(source, p + "attn_norm.weight", c.dim, true);
    if (layer_norm) L.attn_norm_bias = vector_weight(source, p + "attn_norm.bias", c.dim, false);
    L.wq = require_matrix(source, p + "attn_q.weight", c.q_dim(), c.dim);
    L.wk = require_matrix(source, p + "attn_k.weight", c.kv_dim(), c.dim);
    L.wv = require_matrix(source, p + "attn_v.weight", c.kv_dim(), c.dim);
    L.wo = require_matrix(source, p + "attn_output.weight", c.dim, c.q_dim());
    L.bq = vector_weight(source, p + "attn_q.bias", c.q_dim(), c.attn_qkv_bias);
    L.bk = vector_weight(source, p + "attn_k.bias", c.kv_dim(), c.attn_qkv_bias);
    L.bv = vector_weight(source, p + "attn_v.bias", c.kv_dim(), c.attn_qkv_bias);
    L.bo = vector_weight(source, p + "attn_output.bias", c.dim, c.attn_out_bias);
    if (!c.parallel_residual) {
      L.ffn_norm = vector_weight(source, p + "ffn_norm.weight", c.dim, true);
      if (layer_norm) L.ffn_norm_bias = vector_weight(source, p + "ffn_norm.bias", c.dim, false);
    }
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
      if (gated) L.ffn.gate = require_matrix(source, p + "ffn_gate.weight", c.ffn_dim, c.dim);
      L.ffn.up = require_matrix(source, p + "ffn_up.weight", c.ffn_dim, c.dim);
      L.ffn.down = require_matrix(source, p + "ffn_down.weight", c.dim, c.ffn_dim);
      if (gated) L.ffn_gate_bias = vector_weight(source, p + "ffn_gate.bias", c.ffn_dim, false);
      L.ffn_up_bias = vector_weight(source, p + "ffn_up.bias", c.ffn_dim, c.ffn_bias);
      L.ffn_down_bias = vector_weight(source, p + "ffn_down.bias", c.dim, c.ffn_bias);
      L.ffn.gate_bias = L.ffn_gate_bias.empty() ? nullptr : L.ffn_gate_bias.data();
      L.ffn.up_bias = L.ffn_up_bias.empty() ? nullptr : L.ffn_up_bias.data();
      L.ffn.down_bias = L.ffn_down_bias.empty() ? nullptr : L.ffn_down_bias.data();
    }
  }
  return w;
}

}  // namespace llmpp
