// AVX2+FMA block arithmetic of the fused attention kernel; same contract as
// kernels/scalar/attention.hpp, which tests/test_attention.cpp compares it with.
#pragma once

#if defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace llmpp::kernels::avx2 {

// Horizontal sums of eight vectors at once: lane k of the result is the sum of a[k]'s lanes.
inline __m256 sum8(const __m256 a[8]) {
  const __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
  // low 128 bits: partial sums of a[0..3] (resp. a[4..7]) over lanes 0-3; high: over lanes 4-7.
  const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
  return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

inline float hsum(__m256 a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// exp(x) to about 1 ulp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact
// n ln2), exp(r) by the degree-6 minimax polynomial of Cephes' expf, 2^n built in the
// exponent bits. Inputs below -87.3 (including -inf) give exactly 0.
inline __m256 exp256(__m256 x) {
  const __m256 lowest = _mm256_set1_ps(-87.3f);
  const __m256 keep = _mm256_cmp_ps(x, lowest, _CMP_GE_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lowest), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(exponent)), keep);
}

struct AttentionOps {
  // scores (n_rows, score_stride): scores[r][j] = scale * (q_rows[r] · keys[j]).
  // Eight keys at a time: they stay in L1 while every query row of the block uses them.
  static void scores(const float* const* q_rows, int n_rows, const float* keys, int n_keys, int head_dim,
                     float scale, float* scores, int score_stride) {
    const int head_dim_vec = head_dim & ~7;
    const __m256 scale_v = _mm256_set1_ps(scale);
    int j = 0;
    for (; j + 8 <= n_keys; j += 8) {
      const float* key = keys + static_cast<int64_t>(j) * head_dim;  // (8, head_dim)
      for (int r = 0; r < n_rows; ++r) {
        const float* q = q_rows[r];
        __m256 acc[8];
        for (int k = 0; k < 8; ++k) acc[k] = _mm256_setzero_ps();
        for (int d = 0; d < head_dim_vec; d += 8) {
          const __m256 qv = _mm256_loadu_ps(q + d);
          for (int k = 0; k < 8; ++k) acc[k] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(key + k * head_dim + d), acc[k]);
        }
        __m256 dots = sum8(acc);
        if (head_dim_vec < head_dim) {
          alignas(32) float tail[8];
          for (int k = 0; k < 8; ++k) {
            float s = 0.0f;
            for (int d = head_dim_vec; d < head_dim; ++d) s += q[d] * key[k * head_dim + d];
            tail[k] = s;
          }
          dots = _mm256_add_ps(dots, _mm256_load_ps(tail));
        }
        _mm256_storeu_ps(scores + r * score_stride + j, _mm256_mul_ps(dots, scale_v));
      }
    }
    for (; j < n_keys; ++j) {
      const float* key = keys + static_cast<int64_t>(j) * head_dim;
      for (int r = 0; r < n_rows; ++r) {
        const float* q = q_rows[r];
        __m256 acc = _mm256_setzero_ps();
        for (int d = 0; d < head_dim_vec; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(key + d), acc);
        float dot = hsum(acc);
        for (int d = head_dim_vec; d < head_dim; ++d) dot += q[d] * key[d];
        scores[r * score_stride + j] = scale * dot;
      }
    }
  }

  // x[j] = exp(x[j] - max) for j < n (a masked -inf becomes 0); returns their sum.
  static float exp_sum(float* x, int n, float max) {
    const __m256 max_v = _mm256_set1_ps(max);
    __m256 sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + j), max_v));
      _mm256_storeu_ps(x + j, e);
      sum = _mm256_add_ps(sum, e);
    }
    if (j < n) {  // the tail through a padded copy, so every element takes the same exp
      alignas(32) float tail[8];
      std::fill(tail, tail + 8, -std::numeric_limits<float>::infinity());
      std::copy(x + j, x + n, tail);
      const __m256 e = exp256(_mm256_sub_ps(_mm256_load_ps(tail), max_v));
      _mm256_store_ps(tail, e);
      std::copy(tail, tail + (n - j), x + j);
      sum = _mm256_add_ps(sum, e);
    }
    return hsum(sum);
  }

  // acc_rows[r] = correction[r] * acc_rows[r] + sum_j probs[r][j] * values[j].
  // 32 output dimensions stay in registers over the whole block of values.
  static void accumulate(const float* probs, int prob_stride, int n_rows, const float* correction,
                         const float* values, int n_keys, int head_dim, float* const* acc_rows) {
    for (int r = 0; r < n_rows; ++r) {
      float* acc = acc_rows[r];
      const float* p = probs + r * prob_stride;
      const __m256 c = _mm256_set1_ps(correction[r]);
      int d = 0;
      for (; d + 32 <= head_dim; d += 32) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d), c), a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 8), c);
        __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 16), c), a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 24), c);
        for (int j = 0; j < n_keys; ++j) {
          const __m256 pj = _mm256_broadcast_ss(p + j);
          const float* value = values + static_cast<int64_t>(j) * head_dim + d;
          a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(value), a0);
          a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(value + 8), a1);
          a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(value + 16), a2);
          a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(value + 24), a3);
        }
        _mm256_storeu_ps(acc + d, a0);
        _mm256_storeu_ps(acc + d + 8, a1);
        _mm256_storeu_ps(acc + d + 16, a2);
        _mm256_storeu_ps(acc + d + 24, a3);
      }
      for (; d + 8 <= head_dim; d += 8) {
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc + d), c);
        for (int j = 0; j < n_keys; ++j)
          a = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(values + static_cast<int64_t>(j) * head_dim + d), a);
        _mm256_storeu_ps(acc + d, a);
      }
      for (; d < head_dim; ++d) {
        float a = acc[d] * correction[r];
        for (int j = 0; j < n_keys; ++j) a += p[j] * values[static_cast<int64_t>(j) * head_dim + d];
        acc[d] = a;
      }
    }
  }
};

}  // namespace llmpp::kernels::avx2

#endif  // __AVX2__ && __FMA__
