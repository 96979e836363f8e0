// One model class for every decoder-only family. forward() reads top to bottom like the
// PyTorch reference: embed, then per layer norm → attention → residual → norm → FFN (or
// MoE) → residual, then the final norm and the head. Families differ only by the values in
// ModelConfig and by their weight-name table (model/weight_names.hpp, model/families.hpp):
// the variations are flags — LayerNorm or RMSNorm, RoPE/ALiBi/learned positions, parallel
// attention and FFN (with one or two norms), post-norm, an embedding norm, and OPT's
// projections between a narrower embedding and the hidden size.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "llmpp/core/aligned.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "llmpp/io/model_files.hpp"
#include "llmpp/kernels/linear.hpp"
#include "llmpp/layers/alibi.hpp"
#include "llmpp/layers/attention.hpp"
#include "llmpp/layers/embedding.hpp"
#include "llmpp/layers/feed_forward.hpp"
#include "llmpp/layers/kv_cache.hpp"
#include "llmpp/layers/moe.hpp"
#include "llmpp/layers/norm.hpp"
#include "llmpp/layers/positions.hpp"
#include "llmpp/layers/rope.hpp"
#include "llmpp/model/config.hpp"
#include "llmpp/model/weights.hpp"

namespace llmpp {

struct StateOptions {
  int n_ctx = 0;        // 0: the model's training context, at most default_max_context
  int max_block = 256;  // prefill runs in blocks of at most this many tokens
  uint64_t max_kv_cache_bytes = 0;  // 0: the machine's physical memory
  // F32, or F16 (llama.cpp's default, -ctk / -ctv f16): half the cache's memory and half the
  // bytes decode attention reads, for keys and values rounded to half precision.
  DType kv_cache_type = DType::F32;
  static constexpr int default_max_context = 4096;  // as llama.cpp's default -c
};

namespace detail {

inline uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : UINT64_MAX;
}

// The context a state gets, refused up front (LimitError) when its KV cache would not fit
// the caller's cap or the machine: a file's training context can ask for terabytes.
inline int checked_context(const ModelConfig& c, const StateOptions& options) {
  if (options.n_ctx < 0) throw InvalidArgument("n_ctx must not be negative");
  const int n_ctx = options.n_ctx > 0 ? options.n_ctx
                                      : std::max(1, std::min(c.n_ctx_train > 0 ? c.n_ctx_train : StateOptions::default_max_context,
                                                             StateOptions::default_max_context));
  const int64_t window_capacity = c.sliding_window > 0 ? int64_t{c.sliding_window} + std::max(1, options.max_block) - 1 : n_ctx;
  const uint64_t capacity = static_cast<uint64_t>(std::min<int64_t>(n_ctx, window_capacity));
  uint64_t bytes = 0;
  try {
    const uint64_t element_bytes = layers::KVCache::element_bytes_of(options.kv_cache_type);
    bytes = checked_mul(checked_mul(checked_mul(2 * element_bytes, static_cast<uint64_t>(c.n_layers)),
                                    static_cast<uint64_t>(c.kv_dim())),
                        capacity, "KV cache size");
  } catch (const OverflowError&) {
    throw LimitError("a context of " + std::to_string(n_ctx) + " tokens needs a KV cache larger than 2^64 bytes");
  }
  const uint64_t cap = options.max_kv_cache_bytes > 0 ? options.max_kv_cache_bytes : physical_memory_bytes();
  if (bytes > cap)
    throw LimitError("a context of " + std::to_string(n_ctx) + " tokens needs a KV cache of " +
                     std::to_string(bytes >> 20) + " MiB, more than the " +
                     (options.max_kv_cache_bytes > 0 ? "cap" : "machine's memory") + " of " +
                     std::to_string(cap >> 20) + " MiB; ask for a smaller context");
  return n_ctx;
}

}  // namespace detail

// Everything one sequence needs besides the (shared, read-only) model: the KV cache and
// the activation buffers, all allocated here once. forward() allocates nothing.
class InferenceState {
 public:
  InferenceState(const ModelConfig& c, const StateOptions& options)
      : max_block(std::max(1, options.max_block)),
        cache(c.n_layers, c.n_kv_heads, c.head_dim(), detail::checked_context(c, options), c.sliding_window,
              std::max(1, options.max_block), options.kv_cache_type),
        ffn_scratch(max_block, c.ffn_dim) {
    const size_t b = static_cast<size_t>(max_block);
    x.resize(b * c.dim);
    x_norm.resize(b * c.dim);
    q.resize(b * c.q_dim());
    k.resize(b * c.kv_dim());
    v.resize(b * c.kv_dim());
    attn_out.resize(b * c.q_dim());
    branch_out.resize(b * c.dim);
    ffn_out.resize(b * c.dim);
    positions.resize(b);
    if (c.embed_dim() != c.dim) embed.resize(b * c.embed_dim());
    logits.resize(static_cast<size_t>(c.n_vocab));
  }

  int max_block;
  layers::KVCache cache;              // (n_layers, n_kv_heads, capacity, head_dim) for K and V
  AlignedVector<float> x;             // (max_block, dim) residual stream
  AlignedVector<float> x_norm;        // (max_block, dim) normalised input of a sub-block
  AlignedVector<float> q;             // (max_block, n_heads, head_dim)
  AlignedVector<float> k, v;          // (max_block, n_kv_heads, head_dim)
  AlignedVector<float> attn_out;      // (max_block, n_heads * head_dim)
  AlignedVector<float> branch_out;    // (max_block, dim) output of attention
  AlignedVector<float> ffn_out;       // (max_block, dim) output of the FFN
  std::vector<int32_t> positions;     // (max_block)
  AlignedVector<float> embed;         // (max_block, embed_dim), only when embed_dim != dim (OPT)
  AlignedVector<float> logits;        // (n_vocab) of the last position
  layers::FeedForwardScratch ffn_scratch;  // (max_block, ffn_dim) hidden activations
  layers::MoeScratch moe_scratch;

  int64_t n_past() const { return cache.n_past(); }
};

class Model {
 public:
  // Opens a GGUF file, a Hugging Face folder or a llama2.c .bin (memory-mapped).
  static std::shared_ptr<Model> load(const std::string& path, const std::string& tokenizer_path = "") {
    return std::shared_ptr<Model>(new Model(io::open_model_files(path, tokenizer_path)));
  }
  explicit Model(io::ModelFiles files)
      : files_(std::move(files)), config_(validated(files_)), rope_(config_) {
    weights_ = bind_weights(config_, *files_.weights);
    if (config_.positions == PositionType::alibi) alibi_slopes_ = layers::alibi_slopes(config_.n_heads);
    attention_.n_heads = config_.n_heads;
    attention_.n_kv_heads = config_.n_kv_heads;
    attention_.head_dim = config_.head_dim();
    attention_.sliding_window = config_.sliding_window;
    attention_.alibi_slopes = alibi_slopes_.empty() ? nullptr : alibi_slopes_.data();
  }

  const ModelConfig& config() const { return config_; }
  const io::ModelFiles& files() const { return files_; }
  const ModelWeights& weights() const { return weights_; }

  InferenceState new_state(const StateOptions& options = {}) const { return InferenceState(config_, options); }

  // Runs n_tokens tokens after the ones already in `state`'s cache. Writes the logits of
  // the last token to `logits_out` (n_vocab) or, when all_logits, of every token
  // (n_tokens, n_vocab). Throws LimitError when the context is full.
  void forward(InferenceState& state, const int32_t* tokens, int64_t n_tokens, float* logits_out,
               bool all_logits, ThreadPool* pool) const {
    if (n_tokens <= 0) throw InvalidArgument("forward: no tokens");
    if (state.n_past() + n_tokens > state.cache.n_ctx())
      throw LimitError("context is full: " + std::to_string(state.n_past()) + " + " + std::to_string(n_tokens) +
                       " tokens exceed n_ctx " + std::to_string(state.cache.n_ctx()));
    for (int64_t done = 0; done < n_tokens; done += state.max_block) {
      const int64_t n = std::min<int64_t>(state.max_block, n_tokens - done);
      const bool last_block = done + n == n_tokens;
      forward_block(state, tokens + done, n, pool);
      if (all_logits) head(state, n, false, logits_out + done * config_.n_vocab, pool);
      else if (last_block) head(state, n, true, logits_out, pool);
    }
  }

 private:
  // Validates before anything (RoPE tables, buffers) is sized from the config.
  static const ModelConfig& validated(const io::ModelFiles& files) {
    if (!files.weights) throw InvalidArgument("model files without weights");
    files.config.validate(files.weights->path());
    return files.config;
  }

  // in, out: (n, dim), may alias.
  void norm(const float* in, const std::vector<float>& weight, const std::vector<float>& bias, int64_t n,
            float* out) const {
    if (config_.norm == NormType::rms_norm)
      layers::rms_norm(in, weight.data(), n, config_.dim, config_.norm_eps, config_.norm_weight_plus_one, out);
    else
      layers::layer_norm(in, weight.data(), bias.empty() ? nullptr : bias.data(), n, config_.dim, config_.norm_eps,
                         out);
  }

  static void add_bias(float* x, const std::vector<float>& bias, int64_t n_tokens) {
    if (bias.empty()) return;
    const size_t width = bias.size();
    for (int64_t t = 0; t < n_tokens; ++t)
      for (size_t i = 0; i < width; ++i) x[static_cast<size_t>(t) * width + i] += bias[i];
  }

  // x_norm (n, dim) -> branch_out (n, dim); stores this block's K/V in the cache.
  void attention_block(InferenceState& s, int layer, int64_t n, ThreadPool* pool) const {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const kernels::MatmulProduct qkv[] = {{&w.wq, s.q.data()}, {&w.wk, s.k.data()}, {&w.wv, s.v.data()}};
    kernels::matmul_shared_input(qkv, 3, s.x_norm.data(), n, pool);
    add_bias(s.q.data(), w.bq, n);
    add_bias(s.k.data(), w.bk, n);
    add_bias(s.v.data(), w.bv, n);
    if (config_.positions == PositionType::rope) {
      const int64_t sequence_length = s.n_past() + n;  // dynamic NTK scaling depends on it
      rope_.apply(s.q.data(), n, config_.n_heads, s.positions.data(), sequence_length);
      rope_.apply(s.k.data(), n, config_.n_kv_heads, s.positions.data(), sequence_length);
    }
    s.cache.store(layer, s.k.data(), s.v.data(), n);
    layers::attention(attention_, s.q.data(), n, s.n_past(), s.cache, layer, s.attn_out.data(), pool);
    kernels::matmul(w.wo, s.attn_out.data(), n, s.branch_out.data(), pool);
    add_bias(s.branch_out.data(), w.bo, n);
  }

  // x_norm (n, dim) -> ffn_out (n, dim)
  void ffn_block(InferenceState& s, int layer, int64_t n, ThreadPool* pool) const {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    if (config_.is_moe())
      layers::moe_forward(w.moe, config_.n_experts_per_tok, config_.moe_renormalize, config_.ffn, config_.activation,
                          s.x_norm.data(), n, s.moe_scratch, s.ffn_out.data(), pool);
    else
      layers::feed_forward(config_.ffn, config_.activation, w.ffn, s.x_norm.data(), n, s.ffn_scratch,
                           s.ffn_out.data(), pool);
  }

  void forward_block(InferenceState& s, const int32_t* tokens, int64_t n, ThreadPool* pool) const {
    const ModelConfig& c = config_;
    const size_t width = static_cast<size_t>(n) * c.dim;
    for (int64_t t = 0; t < n; ++t) s.positions[static_cast<size_t>(t)] = static_cast<int32_t>(s.n_past() + t);

    const float embedding_scale = c.scale_embeddings ? std::sqrt(static_cast<float>(c.dim)) : 1.0f;
    if (c.embed_dim() != c.dim) {
      // OPT: the table is narrower than the hidden size; project_in widens it.
      layers::embed_tokens(weights_.token_embd, tokens, n, s.embed.data(), embedding_scale);
      kernels::matmul(weights_.project_in, s.embed.data(), n, s.x.data(), pool);
    } else {
      layers::embed_tokens(weights_.token_embd, tokens, n, s.x.data(), embedding_scale);
    }
    if (c.positions == PositionType::learned)
      layers::add_learned_positions(s.x.data(), n, weights_.position_embd, s.positions.data(), c.position_offset);
    else if (c.positions == PositionType::sinusoidal)
      layers::add_sinusoidal_positions(s.x.data(), n, c.dim, s.positions.data());
    if (c.embedding_norm) norm(s.x.data(), weights_.token_embd_norm, weights_.token_embd_norm_bias, n, s.x.data());

    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
      if (c.post_norm) {
        // Post-LN (Vaswani et al. 2017; OPT 350M): x = norm(x + f(x)) for each sub-block.
        std::copy(s.x.begin(), s.x.begin() + width, s.x_norm.begin());
        attention_block(s, l, n, pool);
        for (size_t i = 0; i < width; ++i) s.x[i] += s.branch_out[i];
        norm(s.x.data(), w.attn_norm, w.attn_norm_bias, n, s.x.data());
        std::copy(s.x.begin(), s.x.begin() + width, s.x_norm.begin());
        ffn_block(s, l, n, pool);
        for (size_t i = 0; i < width; ++i) s.x[i] += s.ffn_out[i];
        norm(s.x.data(), w.ffn_norm, w.ffn_norm_bias, n, s.x.data());
        continue;
      }
      norm(s.x.data(), w.attn_norm, w.attn_norm_bias, n, s.x_norm.data());
      attention_block(s, l, n, pool);
      if (c.parallel_residual) {
        // Falcon / GPT-J: attention and FFN both read the layer's input, normalised once
        // or (Falcon 40B) by a norm of the FFN's own.
        if (c.parallel_ffn_norm) norm(s.x.data(), w.ffn_norm, w.ffn_norm_bias, n, s.x_norm.data());
        ffn_block(s, l, n, pool);
        for (size_t i = 0; i < width; ++i) s.x[i] += s.branch_out[i] + s.ffn_out[i];
      } else {
        for (size_t i = 0; i < width; ++i) s.x[i] += s.branch_out[i];
        norm(s.x.data(), w.ffn_norm, w.ffn_norm_bias, n, s.x_norm.data());
        ffn_block(s, l, n, pool);
        for (size_t i = 0; i < width; ++i) s.x[i] += s.ffn_out[i];
      }
    }
    s.cache.commit(n);
  }

  // Final norm and output projection of the block's last row (last_only) or of every row.
  void head(InferenceState& s, int64_t n, bool last_only, float* logits, ThreadPool* pool) const {
    const int64_t first = last_only ? n - 1 : 0;
    const int64_t rows = n - first;
    const float* hidden = s.x.data() + first * config_.dim;  // (rows, dim)
    if (config_.output_norm) {
      norm(hidden, weights_.output_norm, weights_.output_norm_bias, rows, s.x_norm.data());
      hidden = s.x_norm.data();
    }
    if (config_.embed_dim() != config_.dim) {  // OPT: back to the embedding width
      kernels::matmul(weights_.project_out, hidden, rows, s.embed.data(), pool);
      hidden = s.embed.data();
    }
    kernels::matmul(weights_.output, hidden, rows, logits, pool);
  }

  io::ModelFiles files_;
  ModelConfig config_;
  layers::Rope rope_;
  ModelWeights weights_;
  std::vector<float> alibi_slopes_;  // (n_heads), ALiBi only
  layers::AttentionParams attention_;
};

}  // namespace llmpp
