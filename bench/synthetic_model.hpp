// Random-weight models of real shapes (TinyLlama-1.1B, Llama-2-7B, Mistral-7B, a small
// Mixtral-style MoE) in any weight type, so speed can be measured without a download.
// Quantized tensors are random block bytes with sane fp16 scales: the kernels do exactly the
// work they do on a real file of that type.
#pragma once

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "llmpp/core/fp16.hpp"
#include "llmpp/io/model_files.hpp"
#include "llmpp/kernels/quant_blocks.hpp"
#include "llmpp/model/config.hpp"

namespace llmpp::bench {

struct SyntheticShape {
  const char* name;
  int dim, n_layers, n_heads, n_kv_heads, ffn_dim, n_vocab, n_ctx_train, sliding_window, n_experts, n_experts_per_tok;
};

inline const std::vector<SyntheticShape>& synthetic_shapes() {
  static const std::vector<SyntheticShape> shapes = {
      {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 0, 0, 0},
      {"llama2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 0, 0, 0},
      {"mistral-7b", 4096, 32, 32, 8, 14336, 32000, 32768, 4096, 0, 0},
      {"moe-small", 1024, 8, 16, 4, 2816, 32000, 4096, 0, 8, 2},
  };
  return shapes;
}

// "Q4_K_M" mixes types like llama.cpp's recipe: Q6_K for the output head and for attn_v /
// ffn_down in the first and last eighth of the layers and every third layer between.
inline DType synthetic_tensor_type(const std::string& recipe, const std::string& name, int layer, int n_layers) {
  if (recipe == "Q4_K_M") {
    if (name == "output.weight") return DType::Q6_K;
    const bool more_bits = layer >= 0 && (layer < n_layers / 8 || layer >= 7 * n_layers / 8 ||
                                          (layer - n_layers / 8) % 3 == 2);
    if (more_bits && (name.find("attn_v") != std::string::npos || name.find("ffn_down") != std::string::npos))
      return DType::Q6_K;
    return DType::Q4_K;
  }
  static const std::map<std::string, DType> plain = {
      {"F32", DType::F32},   {"F16", DType::F16},   {"BF16", DType::BF16}, {"Q8_0", DType::Q8_0},
      {"Q4_0", DType::Q4_0}, {"Q2_K", DType::Q2_K}, {"Q3_K", DType::Q3_K}, {"Q4_K", DType::Q4_K}};
  auto it = plain.find(recipe);
  if (it == plain.end())
    throw InvalidArgument("unknown weight type '" + recipe +
                          "' (F32, F16, BF16, Q8_0, Q4_0, Q2_K, Q3_K, Q4_K, Q4_K_M)");
  return it->second;
}

class SyntheticWeights : public io::WeightSource {
 public:
  SyntheticWeights(const ModelConfig& c, const std::string& recipe, uint64_t seed) : state_(seed | 1) {
    add("token_embd.weight", c.n_vocab, c.dim, recipe == "Q4_K_M" ? DType::Q4_K : synthetic_tensor_type(recipe, "", -1, 0));
    add_f32("output_norm.weight", c.dim);
    add("output.weight", c.n_vocab, c.dim, synthetic_tensor_type(recipe, "output.weight", -1, c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      auto type = [&](const std::string& name) { return synthetic_tensor_type(recipe, name, l, c.n_layers); };
      add_f32(p + "attn_norm.weight", c.dim);
      add_f32(p + "ffn_norm.weight", c.dim);
      add(p + "attn_q.weight", c.q_dim(), c.dim, type("attn_q"));
      add(p + "attn_k.weight", c.kv_dim(), c.dim, type("attn_k"));
      add(p + "attn_v.weight", c.kv_dim(), c.dim, type("attn_v"));
      add(p + "attn_output.weight", c.dim, c.q_dim(), type("attn_output"));
      if (c.is_moe()) {
        add(p + "ffn_gate_inp.weight", c.n_experts, c.dim, DType::F32);
        add(p + "ffn_gate_exps.weight", c.ffn_dim, c.dim, type("ffn_gate"), c.n_experts);
        add(p + "ffn_up_exps.weight", c.ffn_dim, c.dim, type("ffn_up"), c.n_experts);
        add(p + "ffn_down_exps.weight", c.dim, c.ffn_dim, type("ffn_down"), c.n_experts);
      } else {
        add(p + "ffn_gate.weight", c.ffn_dim, c.dim, type("ffn_gate"));
        add(p + "ffn_up.weight", c.ffn_dim, c.dim, type("ffn_up"));
        add(p + "ffn_down.weight", c.dim, c.ffn_dim, type("ffn_down"));
      }
    }
  }

  const TensorView* find(const std::string& name) const override {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }
  std::string path() const override { return "<synthetic>"; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  uint64_t next() {  // xorshift64*: fast enough to fill gigabytes
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  float next_float() {  // uniform in [-1, 1)
    return static_cast<float>(static_cast<int64_t>(next() >> 40) - (int64_t{1} << 23)) / static_cast<float>(1 << 23);
  }

  void add_f32(const std::string& name, int64_t n) {
    HugePageBuffer& bytes = storage_.emplace_back(static_cast<size_t>(n) * sizeof(float));
    float* values = reinterpret_cast<float*>(bytes.data());
    for (int64_t i = 0; i < n; ++i) values[i] = 1.0f + 0.1f * next_float();
    TensorView t;
    t.name = name;
    t.type = DType::F32;
    t.n_dims = 1;
    t.ne = {n, 1, 1, 1};
    t.data = bytes.data();
    t.nbytes = bytes.size();
    tensors_[name] = t;
  }

  void add(const std::string& name, int64_t rows, int64_t cols, DType type, int64_t n_experts = 1) {
    const uint64_t stride = row_bytes(type, static_cast<uint64_t>(cols));
    const uint64_t total = stride * static_cast<uint64_t>(rows * n_experts);
    HugePageBuffer& bytes = storage_.emplace_back(static_cast<size_t>(total));
    fill(type, bytes.data(), total, cols);
    TensorView t;
    t.name = name;
    t.type = type;
    t.n_dims = n_experts > 1 ? 3 : 2;
    t.ne = {cols, rows, n_experts, 1};
    t.data = bytes.data();
    t.nbytes = total;
    tensors_[name] = t;
  }

  void fill(DType type, uint8_t* out, uint64_t n_bytes, int64_t cols) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    const uint16_t d16 = fp32_to_fp16(scale / 8.0f);
    switch (type) {
      case DType::F32:
        for (uint64_t i = 0; i < n_bytes / 4; ++i) reinterpret_cast<float*>(out)[i] = scale * next_float();
        return;
      case DType::F16:
        for (uint64_t i = 0; i < n_bytes / 2; ++i) reinterpret_cast<uint16_t*>(out)[i] = fp32_to_fp16(scale * next_float());
        return;
      case DType::BF16:
        for (uint64_t i = 0; i < n_bytes / 2; ++i) reinterpret_cast<uint16_t*>(out)[i] = fp32_to_bf16(scale * next_float());
        return;
      default: break;
    }
    for (uint64_t i = 0; i + 8 <= n_bytes; i += 8) {
      const uint64_t r = next();
      std::memcpy(out + i, &r, 8);
    }
    const uint32_t block_bytes = dtype_traits(type).block_bytes;
    for (uint64_t b = 0; b + block_bytes <= n_bytes; b += block_bytes) {
      uint8_t* block = out + b;
      switch (type) {
        case DType::Q4_0: reinterpret_cast<kernels::BlockQ4_0*>(block)->d = d16; break;
        case DType::Q8_0: reinterpret_cast<kernels::BlockQ8_0*>(block)->d = fp32_to_fp16(scale / 64.0f); break;
        case DType::Q4_K: {
          auto* q = reinterpret_cast<kernels::BlockQ4_K*>(block);
          q->d = fp32_to_fp16(scale / 256.0f);
          q->dmin = fp32_to_fp16(scale / 512.0f);
          break;
        }
        case DType::Q2_K: {
          auto* q = reinterpret_cast<kernels::BlockQ2_K*>(block);
          q->d = fp32_to_fp16(scale / 32.0f);
          q->dmin = fp32_to_fp16(scale / 64.0f);
          break;
        }
        case DType::Q3_K: reinterpret_cast<kernels::BlockQ3_K*>(block)->d = fp32_to_fp16(scale / 128.0f); break;
        case DType::Q6_K: reinterpret_cast<kernels::BlockQ6_K*>(block)->d = fp32_to_fp16(scale / 1024.0f); break;
        default: throw InvalidArgument(std::string("synthetic weights: no generator for ") + dtype_name(type));
      }
    }
  }

  uint64_t state_;
  std::vector<HugePageBuffer> storage_;  // on huge pages, as a mapped model file is
  std::map<std::string, TensorView> tensors_;
};

inline ModelConfig synthetic_config(const SyntheticShape& s) {
  ModelConfig c;
  c.architecture = "llama";
  c.n_vocab = s.n_vocab;
  c.dim = s.dim;
  c.n_layers = s.n_layers;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.n_kv_heads;
  c.ffn_dim = s.ffn_dim;
  c.n_ctx_train = s.n_ctx_train;
  c.sliding_window = s.sliding_window;
  c.n_experts = s.n_experts;
  c.n_experts_per_tok = s.n_experts_per_tok;
  c.rope_layout = RopeLayout::interleaved;
  return c;
}

// Parses "tinyllama-1.1b:Q4_0" into a model's files (config + random weights in memory).
inline io::ModelFiles synthetic_model_files(const std::string& spec, uint64_t seed = 42) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos) throw InvalidArgument("--synthetic wants NAME:TYPE, got '" + spec + "'");
  const std::string name = spec.substr(0, colon), recipe = spec.substr(colon + 1);
  for (const SyntheticShape& s : synthetic_shapes()) {
    if (name != s.name) continue;
    io::ModelFiles files;
    files.config = synthetic_config(s);
    files.weights = std::make_unique<SyntheticWeights>(files.config, recipe, seed);
    files.format = "synthetic";
    return files;
  }
  std::string known;
  for (const SyntheticShape& s : synthetic_shapes()) known += std::string(known.empty() ? "" : ", ") + s.name;
  throw InvalidArgument("unknown synthetic model '" + name + "' (known: " + known + ")");
}

}  // namespace llmpp::bench
