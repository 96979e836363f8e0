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
// Elements are fp32 or IEEE half (type = DType::F16): half the bytes a decode step streams,
// at the cost of rounding K and V to 11 significant bits. keys<T>() / values<T>() give the
// blocks with T = float or uint16_t (half bits).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "llmpp/core/checked.hpp"
#include "llmpp/core/dtype.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/fp16.hpp"
#include "llmpp/core/huge_pages.hpp"

namespace llmpp::layers {

class KVCache {
 public:
  KVCache(int n_layers, int n_kv_heads, int head_dim, int n_ctx, int sliding_window = 0, int max_block = 512,
          DType type = DType::F32)
      : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), n_ctx_(n_ctx),
        sliding_window_(sliding_window), max_block_(max_block), type_(type) {
    require_positive(n_layers, "n_layers");
    require_positive(n_kv_heads, "n_kv_heads");
    require_positive(head_dim, "head_dim");
    require_positive(n_ctx, "n_ctx");
    require_positive(max_block, "max_block");
    if (sliding_window < 0) throw InvalidArgument("KVCache: sliding_window must not be negative");
    if (type != DType::F32 && type != DType::F16)
      throw InvalidArgument(std::string("KVCache: element type must be F32 or F16, got ") + dtype_name(type));
    capacity_ = n_ctx;
    if (sliding_window > 0)
      capacity_ = std::min<int64_t>(n_ctx, int64_t{sliding_window} + int64_t{max_block} - 1);
    layer_stride_ = checked_mul(checked_mul(static_cast<uint64_t>(n_kv_heads), static_cast<uint64_t>(capacity_),
                                            "KV cache size"),
                                static_cast<uint64_t>(head_dim), "KV cache size");
    const uint64_t n_bytes = checked_mul(checked_mul(layer_stride_, static_cast<uint64_t>(n_layers), "KV cache size"),
                                         element_bytes(), "KV cache size");
    // Zeroed bytes on huge pages, which decode streams as it does the weights
    // (core/huge_pages.hpp); the elements are created in them implicitly (P0593, C++20 DR).
    try {
      keys_ = HugePageBuffer(static_cast<size_t>(n_bytes));
      values_ = HugePageBuffer(static_cast<size_t>(n_bytes));
    } catch (const std::bad_alloc&) {
      throw LimitError("KVCache: cannot allocate 2 x " + std::to_string(n_bytes) + " bytes");
    }
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

  DType type() const { return type_; }
  uint64_t element_bytes() const { return element_bytes_of(type_); }
  // Bytes of an element of a cache of `type` (F32 or F16; the constructor refuses others).
  static constexpr uint64_t element_bytes_of(DType type) { return type == DType::F16 ? 2 : 4; }

  // (capacity, head_dim), slot-addressed: the keys / values of one KV head of one layer.
  // T is float for an F32 cache, uint16_t (half bits) for an F16 one.
  template <typename T = float>
  const T* keys(int layer, int kv_head) const { return block<T>(keys_, layer, kv_head); }
  template <typename T = float>
  const T* values(int layer, int kv_head) const { return block<T>(values_, layer, kv_head); }
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
        const uint64_t offset = (block_offset(layer, h) + static_cast<uint64_t>(s * head_dim_)) * element_bytes();
        copy_row(k + t * kv_dim + int64_t{h} * head_dim_, keys_.data() + offset);  // (head_dim)
        copy_row(v + t * kv_dim + int64_t{h} * head_dim_, values_.data() + offset);
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
  // Elements from the start of the layer's block of kv_head.
  uint64_t block_offset(int layer, int kv_head) const {
    return static_cast<uint64_t>(layer) * layer_stride_ +
           static_cast<uint64_t>(kv_head) * static_cast<uint64_t>(capacity_) * static_cast<uint64_t>(head_dim_);
  }

  template <typename T>
  const T* block(const HugePageBuffer& data, int layer, int kv_head) const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, uint16_t>, "KV elements are float or half bits");
    if ((type_ == DType::F32) != std::is_same_v<T, float>)
      throw InvalidArgument(std::string("KVCache: elements are ") + dtype_name(type_));
    check_layer(layer);
    return reinterpret_cast<const T*>(data.data() + block_offset(layer, kv_head) * element_bytes());
  }

  // One head's row of head_dim floats into the cache's element type.
  void copy_row(const float* src, unsigned char* dst) const {
    if (type_ == DType::F32) {
      std::memcpy(dst, src, static_cast<size_t>(head_dim_) * sizeof(float));
      return;
    }
    uint16_t* half = reinterpret_cast<uint16_t*>(dst);
    int d = 0;
#if defined(__F16C__)
    for (; d + 8 <= head_dim_; d += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(half + d), _mm256_cvtps_ph(_mm256_loadu_ps(src + d), 0));
#endif
    for (; d < head_dim_; ++d) half[d] = fp32_to_fp16(src[d]);  // round to nearest even, as F16C
  }

  int n_layers_, n_kv_heads_, head_dim_, n_ctx_, sliding_window_, max_block_;
  DType type_;
  int64_t capacity_ = 0;
  uint64_t layer_stride_ = 0;  // elements per layer: n_kv_heads * capacity * head_dim
  int64_t n_past_ = 0;
  int64_t first_valid_ = 0;
  std::vector<int64_t> n_stored_;  // (n_layers)
  HugePageBuffer keys_;    // (n_layers, n_kv_heads, capacity, head_dim) elements of type_
  HugePageBuffer values_;  // (n_layers, n_kv_heads, capacity, head_dim) elements of type_
};

}  // namespace llmpp::layers
