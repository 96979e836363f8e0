// Scaled dot-product attention over the KV cache (Vaswani et al. 2017, eq. 1):
// out_i = sum_j softmax_j(scale * q_i · k_j + bias_ij) v_j, for MHA, MQA and GQA
// (Ainslie et al. 2023: query head h reads KV head h / (n_heads / n_kv_heads)).
//
// One fused pass per work unit, the online softmax of Milakov & Gimelshein 2018 as in
// FlashAttention: keys are visited in blocks of kKeyBlock; each block's scores update a
// running maximum m and sum l, the output accumulated so far is rescaled by exp(m_old -
// m_new), and the block's exp(score - m) weigh its values. No buffer grows with the
// context. A work unit is one KV head with the query rows (tokens x heads of its group)
// that read it, so a block of keys and values is loaded once and used by every row while
// it is in L1.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "llmpp/core/error.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "llmpp/kernels/avx2/attention.hpp"
#include "llmpp/kernels/avx512/attention.hpp"
#include "llmpp/kernels/scalar/attention.hpp"
#include "llmpp/layers/kv_cache.hpp"

namespace llmpp::layers {

struct AttentionParams {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  // 0: off. Otherwise key j is visible to query i iff i - sliding_window < j <= i: the
  // query and the sliding_window - 1 keys before it. This is the mask of Hugging Face's
  // Mistral since transformers PR #26792 (diagonal = past - window + 1); Mistral's
  // one_file_ref.py and flash-attn's window_size=(w, 0) let one more key in.
  int sliding_window = 0;
  // false: every query of the block also sees the later keys of the block (still bounded
  // below by the window).
  bool causal = true;
  float scale = 0.0f;                  // 0: 1 / sqrt(head_dim)
  const float* alibi_slopes = nullptr;  // (n_heads): adds slope_h * (j - i), Press et al. 2021
};

#if defined(LLMPP_AVX512_ATTENTION)
using DefaultAttentionOps = kernels::avx512::AttentionOps;
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
using DefaultAttentionOps = kernels::avx2::AttentionOps;
#else
using DefaultAttentionOps = kernels::scalar::AttentionOps;
#endif

namespace attention_detail {

constexpr int kKeyBlock = 32;  // keys per online-softmax step: 16 KiB of fp32 keys at head_dim 128
constexpr int kMaxRows = 16;   // query rows (tokens x heads sharing a KV head) per work unit

// How the (KV head, query head, token) space is cut into work units.
struct Plan {
  int heads_per_unit = 1, n_head_chunks = 1;
  int64_t tokens_per_tile = 1, n_token_tiles = 1;
  int64_t n_units() const { return static_cast<int64_t>(n_head_chunks) * n_token_tiles; }  // per KV head
};

inline Plan make_plan(int group, int n_kv_heads, int64_t n_tokens, int n_threads) {
  Plan plan;
  plan.heads_per_unit = std::min(group, kMaxRows);
  plan.tokens_per_tile = std::clamp<int64_t>(kMaxRows / plan.heads_per_unit, 1, n_tokens);
  plan.n_token_tiles = (n_tokens + plan.tokens_per_tile - 1) / plan.tokens_per_tile;
  plan.n_head_chunks = (group + plan.heads_per_unit - 1) / plan.heads_per_unit;
  // Too few KV heads to keep every thread busy (MQA decode): split each group's query heads;
  // the threads then each stream the shared keys.
  while (int64_t{n_kv_heads} * plan.n_units() < n_threads && plan.heads_per_unit > 1) {
    plan.heads_per_unit = (plan.heads_per_unit + 1) / 2;
    plan.n_head_chunks = (group + plan.heads_per_unit - 1) / plan.heads_per_unit;
  }
  return plan;
}

// Causal prefill makes late token tiles dearer than early ones; visiting tiles as
// 0, n-1, 1, n-2, ... gives every thread's contiguous range of units a similar cost.
inline int64_t zigzag(int64_t index, int64_t n) { return index % 2 == 0 ? index / 2 : n - 1 - index / 2; }

inline void validate(const AttentionParams& p, int64_t n_tokens, int64_t pos0, const KVCache& cache, int layer) {
  if (p.n_heads <= 0 || p.n_kv_heads <= 0 || p.head_dim <= 0)
    throw InvalidArgument("attention: n_heads, n_kv_heads and head_dim must be positive");
  if (p.n_heads % p.n_kv_heads != 0)
    throw InvalidArgument("attention: " + std::to_string(p.n_kv_heads) + " KV heads do not divide " +
                          std::to_string(p.n_heads) + " heads");
  if (p.n_kv_heads != cache.n_kv_heads() || p.head_dim != cache.head_dim())
    throw InvalidArgument("attention: n_kv_heads/head_dim " + std::to_string(p.n_kv_heads) + "/" +
                          std::to_string(p.head_dim) + " do not match the cache's " +
                          std::to_string(cache.n_kv_heads()) + "/" + std::to_string(cache.head_dim()));
  if (p.sliding_window < 0) throw InvalidArgument("attention: negative sliding_window");
  if (n_tokens < 0 || pos0 < 0) throw InvalidArgument("attention: negative n_tokens or pos0");
  if (pos0 + n_tokens > cache.n_stored(layer))
    throw InvalidArgument("attention: positions up to " + std::to_string(pos0 + n_tokens) +
                          " requested but the cache holds " + std::to_string(cache.n_stored(layer)) +
                          " for layer " + std::to_string(layer) + " (store K/V first)");
  if (cache.rolling()) {
    if (p.sliding_window == 0 || p.sliding_window > cache.sliding_window())
      throw InvalidArgument("attention: a rolling cache of window " + std::to_string(cache.sliding_window()) +
                            " cannot serve sliding_window " + std::to_string(p.sliding_window));
    if (std::max<int64_t>(0, pos0 - p.sliding_window + 1) < cache.first_valid())
      throw LimitError("attention: keys from position " + std::to_string(pos0 - p.sliding_window + 1) +
                       " were overwritten by the rolling cache (oldest kept: " +
                       std::to_string(cache.first_valid()) + "); blocks must not exceed max_block");
  }
}

// One work unit: the query heads [head_begin, head_end) of KV head kv_head, for the tokens
// [token_begin, token_end) of the block. q: (n_tokens, n_heads, head_dim); out: (n_tokens,
// n_heads * head_dim). KV: the cache's element type (float, or uint16_t for half).
template <typename Ops, typename KV>
void attend_unit(const AttentionParams& p, float scale, const float* q, int64_t n_tokens, int64_t pos0,
                 const KVCache& cache, int layer, int kv_head, int head_begin, int head_end, int64_t token_begin,
                 int64_t token_end, float* out) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int head_dim = p.head_dim;
  const int64_t q_stride = int64_t{p.n_heads} * head_dim;  // per token, in q and out

  // Per query row: where it reads and writes, its position, its visible keys [first_key,
  // last_key], and the running maximum and sum of its online softmax.
  const float* q_rows[kMaxRows];
  float* out_rows[kMaxRows];
  int64_t query_pos[kMaxRows], first_key[kMaxRows], last_key[kMaxRows];
  float slope[kMaxRows], running_max[kMaxRows], running_sum[kMaxRows];
  int n_rows = 0;
  int64_t unit_first = std::numeric_limits<int64_t>::max(), unit_last = -1;  // keys any row sees
  for (int64_t t = token_begin; t < token_end; ++t) {
    for (int h = head_begin; h < head_end; ++h, ++n_rows) {
      q_rows[n_rows] = q + t * q_stride + int64_t{h} * head_dim;
      out_rows[n_rows] = out + t * q_stride + int64_t{h} * head_dim;
      std::fill(out_rows[n_rows], out_rows[n_rows] + head_dim, 0.0f);
      query_pos[n_rows] = pos0 + t;
      first_key[n_rows] = p.sliding_window > 0 ? std::max<int64_t>(0, pos0 + t - p.sliding_window + 1) : 0;
      last_key[n_rows] = p.causal ? pos0 + t : pos0 + n_tokens - 1;
      slope[n_rows] = p.alibi_slopes ? p.alibi_slopes[h] : 0.0f;
      running_max[n_rows] = kNegInf;
      running_sum[n_rows] = 0.0f;
      unit_first = std::min(unit_first, first_key[n_rows]);
      unit_last = std::max(unit_last, last_key[n_rows]);
    }
  }

  const KV* keys = cache.keys<KV>(layer, kv_head);      // (capacity, head_dim)
  const KV* values = cache.values<KV>(layer, kv_head);  // (capacity, head_dim)
  alignas(32) float scores[kMaxRows * kKeyBlock];      // (active rows, kKeyBlock)
  const float* active_q[kMaxRows];
  float* active_out[kMaxRows];
  int active_row[kMaxRows];
  float correction[kMaxRows], new_max[kMaxRows];

  for (int64_t j0 = unit_first; j0 <= unit_last;) {
    // A block never crosses the end of a rolling cache, so its slots are contiguous.
    const int64_t slot0 = cache.slot(j0);
    const int n_keys = static_cast<int>(std::min<int64_t>({kKeyBlock, unit_last + 1 - j0, cache.capacity() - slot0}));
    const int64_t j_last = j0 + n_keys - 1;
    // Decode is bound by memory: the kernels request the next block while computing this one.
    const int64_t next_slot = cache.slot(j_last + 1);
    const int n_next = static_cast<int>(std::min<int64_t>({kKeyBlock, unit_last - j_last, cache.capacity() - next_slot}));
    int n_active = 0;
    for (int r = 0; r < n_rows; ++r) {
      if (first_key[r] > j_last || last_key[r] < j0) continue;
      active_q[n_active] = q_rows[r];
      active_out[n_active] = out_rows[r];
      active_row[n_active++] = r;
    }
    if (n_active > 0) {
      Ops::scores(active_q, n_active, keys + slot0 * head_dim, n_keys, head_dim, scale, scores, kKeyBlock,
                  keys + next_slot * head_dim, n_next);
      for (int a = 0; a < n_active; ++a) {
        const int r = active_row[a];
        float* s = scores + a * kKeyBlock;  // (n_keys)
        if (slope[r] != 0.0f)
          for (int j = 0; j < n_keys; ++j) s[j] += slope[r] * static_cast<float>(j0 + j - query_pos[r]);
        for (int64_t j = j0; j < first_key[r]; ++j) s[j - j0] = kNegInf;
        for (int64_t j = last_key[r] + 1; j <= j_last; ++j) s[j - j0] = kNegInf;
        // The row sees at least one key of the block, so new_max is finite.
        new_max[a] = std::max(running_max[r], Ops::max_of(s, n_keys));
        correction[a] = running_max[r] - new_max[a];
      }
      // The rows' rescaling factors exp(old max - new max) in one vector pass (0 on a row's
      // first block): one scalar exp per row and block had cost decode 5% at 8 rows a unit.
      Ops::exp_sum(correction, n_active, 0.0f);
      for (int a = 0; a < n_active; ++a) {
        const int r = active_row[a];
        running_sum[r] = running_sum[r] * correction[a] + Ops::exp_sum(scores + a * kKeyBlock, n_keys, new_max[a]);
        running_max[r] = new_max[a];
      }
      Ops::accumulate(scores, kKeyBlock, n_active, correction, values + slot0 * head_dim, n_keys, head_dim,
                      active_out, values + next_slot * head_dim, n_next);
    }
    j0 += n_keys;
  }
  for (int r = 0; r < n_rows; ++r) {
    const float inv_sum = 1.0f / running_sum[r];
    for (int d = 0; d < head_dim; ++d) out_rows[r][d] *= inv_sum;
  }
}

}  // namespace attention_detail

// attention() with an explicit choice of block arithmetic (the tests run both twins).
template <typename Ops>
void attention_with(const AttentionParams& p, const float* q, int64_t n_tokens, int64_t pos0, const KVCache& cache,
                    int layer, float* out, ThreadPool* pool = nullptr) {
  using namespace attention_detail;
  validate(p, n_tokens, pos0, cache, layer);
  if (n_tokens == 0) return;
  const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  const int group = p.n_heads / p.n_kv_heads;
  const Plan plan = make_plan(group, p.n_kv_heads, n_tokens, pool ? pool->size() : 1);
  // Units are ordered KV head first, so a thread's contiguous range keeps reusing the same
  // keys and values from its cache.
  auto run_units = [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int kv_head = static_cast<int>(u / plan.n_units());
      const int head_chunk = static_cast<int>(u % plan.n_units() / plan.n_token_tiles);
      const int64_t tile = zigzag(u % plan.n_token_tiles, plan.n_token_tiles);
      const int head_begin = kv_head * group + head_chunk * plan.heads_per_unit;
      const int head_end = std::min(kv_head * group + group, head_begin + plan.heads_per_unit);
      const int64_t token_begin = tile * plan.tokens_per_tile;
      const int64_t token_end = std::min(n_tokens, token_begin + plan.tokens_per_tile);
      if (cache.type() == DType::F16)
        attend_unit<Ops, uint16_t>(p, scale, q, n_tokens, pos0, cache, layer, kv_head, head_begin, head_end,
                                   token_begin, token_end, out);
      else
        attend_unit<Ops, float>(p, scale, q, n_tokens, pos0, cache, layer, kv_head, head_begin, head_end,
                                token_begin, token_end, out);
    }
  };
  const int64_t n_units = int64_t{p.n_kv_heads} * plan.n_units();
  // Small problems (a short context of a small model) run on the calling thread: waking
  // the pool would cost more than the work.
  const int64_t multiply_adds = 2 * int64_t{p.n_heads} * p.head_dim * n_tokens * (pos0 + n_tokens);
  if (pool && multiply_adds >= (int64_t{1} << 16)) pool->parallel_for(n_units, run_units);
  else run_units(0, n_units);
}

// q: (n_tokens, n_heads, head_dim) of the tokens at positions pos0 .. pos0 + n_tokens - 1,
// whose K/V are already stored in `cache` for `layer` (committed or not); out: (n_tokens,
// n_heads * head_dim).
inline void attention(const AttentionParams& p, const float* q, int64_t n_tokens, int64_t pos0, const KVCache& cache,
                      int layer, float* out, ThreadPool* pool = nullptr) {
  attention_with<DefaultAttentionOps>(p, q, n_tokens, pos0, cache, layer, out, pool);
}

}  // namespace llmpp::layers
