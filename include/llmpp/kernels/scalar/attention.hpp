// Block arithmetic of the fused attention kernel: portable twin of kernels/avx2/attention.hpp.
// layers/attention.hpp runs the online softmax (Milakov & Gimelshein 2018) over blocks of
// contiguous keys; these functions do the arithmetic of one block for a few query rows
// that share a KV head, so the block's keys and values are read from memory once.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "llmpp/core/fp16.hpp"

namespace llmpp::kernels::scalar {

// A KV cache element as float: fp32 as is, or IEEE half bits.
inline float to_float(float x) { return x; }
inline float to_float(uint16_t half) { return fp16_to_fp32(half); }

struct AttentionOps {
  // scores (n_rows, score_stride): scores[r][j] = scale * (q_rows[r] · keys[j]) for j < n_keys.
  // keys: (n_keys, head_dim) of KV = float or uint16_t (half); each q_rows[r]: (head_dim).
  // next / n_next: the following block, which the AVX2 twin prefetches; unused here.
  template <typename KV>
  static void scores(const float* const* q_rows, int n_rows, const KV* keys, int n_keys, int head_dim,
                     float scale, float* scores, int score_stride, const KV* /*next*/ = nullptr, int /*n_next*/ = 0) {
    for (int r = 0; r < n_rows; ++r) {
      for (int j = 0; j < n_keys; ++j) {
        const KV* key = keys + static_cast<int64_t>(j) * head_dim;
        float dot = 0.0f;
        for (int d = 0; d < head_dim; ++d) dot += q_rows[r][d] * to_float(key[d]);
        scores[r * score_stride + j] = scale * dot;
      }
    }
  }

  // The largest of x[0 .. n), n > 0 (-inf if all are).
  static float max_of(const float* x, int n) {
    float best = x[0];
    for (int j = 1; j < n; ++j) best = std::max(best, x[j]);
    return best;
  }

  // x[j] = exp(x[j] - max) for j < n (a masked -inf becomes 0); returns their sum.
  static float exp_sum(float* x, int n, float max) {
    float sum = 0.0f;
    for (int j = 0; j < n; ++j) {
      x[j] = std::exp(x[j] - max);
      sum += x[j];
    }
    return sum;
  }

  // acc_rows[r] = correction[r] * acc_rows[r] + sum_j probs[r][j] * values[j].
  // probs: (n_rows, prob_stride); values: (n_keys, head_dim) of KV; each acc_rows[r]: (head_dim).
  template <typename KV>
  static void accumulate(const float* probs, int prob_stride, int n_rows, const float* correction,
                         const KV* values, int n_keys, int head_dim, float* const* acc_rows,
                         const KV* /*next*/ = nullptr, int /*n_next*/ = 0) {
    for (int r = 0; r < n_rows; ++r) {
      float* acc = acc_rows[r];
      for (int d = 0; d < head_dim; ++d) acc[d] *= correction[r];
      for (int j = 0; j < n_keys; ++j) {
        const float p = probs[r * prob_stride + j];
        const KV* value = values + static_cast<int64_t>(j) * head_dim;
        for (int d = 0; d < head_dim; ++d) acc[d] += p * to_float(value[d]);
      }
    }
  }
};

}  // namespace llmpp::kernels::scalar
