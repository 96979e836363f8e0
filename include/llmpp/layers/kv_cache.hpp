// The per-model key/value cache: for every layer one (n_kv_heads, capacity, head_dim) block
// of keys and one of values, so that a KV head's keys are contiguous and a decode step
// streams them front to back.
//
// With a sliding window (Mistral) the cache is rolling: position p lives in slot
// p % capacity with capacity = min(n_ctx, sliding_window + max_block - 1). A block of up to
// max_block new tokens at positions n_past .. n_past + n - 1 then overwrites only positions
// <= n_past - sliding_window, which no query of the block can see, so memory is bounded by
// the window and not by the context.
//
// Elements are fp32. Every access goes through keys()/values() and element_bytes(), so an
// F16 cache only has to change the element type here and the loads in the kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "llmpp/core/checked.hpp"
#include "llmpp/core/error.hpp"

namespace llmpp::layers {

class KVCache {
 public:
  KVCache(int n_layers, int n_kv_heads, int head_dim, int n_ctx, int sliding_window = 0, int max_block = 512)
      : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), n_ctx_(n_ctx),
        sliding_window_(sliding_window), max_block_(max_block) {
    require_positive(n_layers, "n_layers");
    require_positive(n_kv_heads, "n_kv_heads");
    require_positive(head_dim, "head_dim");
    require_positive(n_ctx, "n_ctx");
    require_positive(max_block, "max_block");
    if (sliding_window < 0) throw InvalidArgument("KVCache: sliding_window must not be negative");
    capacity_ = n_ctx;
    if (sliding_window > 0)
      capacity_ = std::min<int64_t>(n_ctx, int64_t{sliding_window} + int64_t{max_block} - 1);
    layer_stride_ = checked_mul(checked_mul(static_cast<uint64_t>(n_kv_heads), static_cast<uint64_t>(capacity_),
                                            "KV cache size"),
                                static_cast<uint64_t>(head_dim), "KV cache size");
    const uint64_t n_elements = checked_mul(layer_stride_, static_cast<uint64_t>(n_layers), "KV cache size");
    keys_.assign(n_elements, 0.0f);
    values_.assign(n_elements, 0.0f);
    n_stored_.assign(static_cast<size_t>(n_layers), 0);
  }

  int n_layers() const { return n_layers_; }
  int n_kv_heads() const { return n_kv_heads_; }
  int head_dim() const { return head_dim_; }
  int n_ctx() const { return n_ctx_; }
  int sliding_window() const { return sliding_window_; }
  int max_block() const { return max_block_; }
  bool rolling() const { return sliding_window_ > 0; }

  // Tokens committed so far: the position of the next token.
  int64_t n_past() const { return n_past_; }
  // Slots per KV head: n_ctx, or the rolling size above.
  int64_t capacity() const { return capacity_; }
  int64_t slot(int64_t position) const { return position % capacity_; }
  // Oldest position whose K/V is still held (0 unless a rolling cache wrapped around).
  int64_t first_valid() const { return first_valid_; }
  // One past the last position stored for `layer` (n_past() plus the block not yet committed).
  int64_t n_stored(int layer) const { return n_stored_[static_cast<size_t>(check_layer(layer))]; }

  // (capacity, head_dim), slot-addressed: the keys / values of one KV head of one layer.
  const float* keys(int layer, int kv_head) const { return keys_.data() + block_offset(layer, kv_head); }
  const float* values(int layer, int kv_head) const { return values_.data() + block_offset(layer, kv_head); }
  static constexpr size_t element_bytes() { return sizeof(float); }
  // Bytes held for keys and values of all layers.
  uint64_t bytes() const { return 2 * layer_stride_ * static_cast<uint64_t>(n_layers_) * element_bytes(); }

  // Stores K and V of n_tokens new tokens, positions n_past() .. n_past() + n_tokens - 1,
  // for one layer. k, v: (n_tokens, n_kv_heads * head_dim), as the projections produce them.
  void store(int layer, const float* k, const float* v, int64_t n_tokens) {
    check_layer(layer);
    if (n_tokens < 0) throw InvalidArgument("KVCache::store: negative n_tokens");
    if (rolling() && n_tokens > max_block_)
      throw LimitError("KVCache::store: block of " + std::to_string(n_tokens) +
                       " tokens exceeds the rolling cache's max_block " + std::to_string(max_block_));
    const int64_t end = n_past_ + n_tokens;
    if (end > n_ctx_)
      throw LimitError("KVCache::store: " + std::to_string(end) + " tokens exceed the context of " +
                       std::to_string(n_ctx_));
    const int64_t kv_dim = int64_t{n_kv_heads_} * head_dim_;
    for (int64_t t = 0; t < n_tokens; ++t) {
      const int64_t s = slot(n_past_ + t);
      for (int h = 0; h < n_kv_heads_; ++h) {
        const float* k_src = k + t * kv_dim + int64_t{h} * head_dim_;  // (head_dim)
        const float* v_src = v + t * kv_dim + int64_t{h} * head_dim_;
        float* k_dst = keys_.data() + block_offset(layer, h) + s * head_dim_;
        float* v_dst = values_.data() + block_offset(layer, h) + s * head_dim_;
        std::copy(k_src, k_src + head_dim_, k_dst);
        std::copy(v_src, v_src + head_dim_, v_dst);
      }
    }
    n_stored_[static_cast<size_t>(layer)] = end;
    first_valid_ = std::max(first_valid_, end - capacity_);
  }

  // Called once every layer has stored the block.
  void commit(int64_t n_tokens) {
    if (n_tokens < 0) throw InvalidArgument("KVCache::commit: negative n_tokens");
    if (n_past_ + n_tokens > n_ctx_)
      throw LimitError("KVCache::commit: " + std::to_string(n_past_ + n_tokens) +
                       " tokens exceed the context of " + std::to_string(n_ctx_));
    n_past_ += n_tokens;
  }

  // Forgets every token from position n_tokens on. On a rolling cache the next query at
  // position n_tokens must still find its window, positions n_tokens - sliding_window + 1
  // onwards; if the cache already overwrote them the model has to re-process the prompt.
  void truncate(int64_t n_tokens) {
    if (n_tokens < 0 || n_tokens > n_past_)
      throw InvalidArgument("KVCache::truncate: " + std::to_string(n_tokens) + " is outside 0 .. n_past " +
                            std::to_string(n_past_));
    const int64_t oldest_needed = rolling() ? std::max<int64_t>(0, n_tokens - sliding_window_ + 1) : 0;
    if (oldest_needed < first_valid_)
      throw LimitError("KVCache::truncate: position " + std::to_string(oldest_needed) +
                       " was overwritten by the rolling cache (oldest kept: " + std::to_string(first_valid_) + ")");
    n_past_ = n_tokens;
    for (int64_t& stored : n_stored_) stored = std::min(stored, n_tokens);
  }

  void clear() {
    n_past_ = 0;
    first_valid_ = 0;
    std::fill(n_stored_.begin(), n_stored_.end(), 0);
  }

 private:
  static void require_positive(int value, const char* name) {
    if (value <= 0) throw InvalidArgument(std::string("KVCache: ") + name + " must be positive, got " + std::to_string(value));
  }
  int check_layer(int layer) const {
    if (layer < 0 || layer >= n_layers_)
      throw InvalidArgument("KVCache: layer " + std::to_string(layer) + " outside 0 .. " + std::to_string(n_layers_ - 1));
    return layer;
  }
  uint64_t block_offset(int layer, int kv_head) const {
    return static_cast<uint64_t>(layer) * layer_stride_ +
           static_cast<uint64_t>(kv_head) * static_cast<uint64_t>(capacity_) * static_cast<uint64_t>(head_dim_);
  }

  int n_layers_, n_kv_heads_, head_dim_, n_ctx_, sliding_window_, max_block_;
  int64_t capacity_ = 0;
  uint64_t layer_stride_ = 0;  // elements per layer: n_kv_heads * capacity * head_dim
  int64_t n_past_ = 0;
  int64_t first_valid_ = 0;
  std::vector<int64_t> n_stored_;  // (n_layers)
  std::vector<float> keys_;        // (n_layers, n_kv_heads, capacity, head_dim)
  std::vector<float> values_;      // (n_layers, n_kv_heads, capacity, head_dim)
};

}  // namespace llmpp::layers
