// AVX2+FMA block arithmetic of the fused attention kernel; same contract as
// kernels/scalar/attention.hpp, which tests/test_attention.cpp compares it with.
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "llmpp/kernels/scalar/attention.hpp"

namespace llmpp::kernels::avx2 {

using scalar::to_float;

// Eight KV cache elements as floats: fp32, or IEEE half through F16C.
inline __m256 load8(const float* x) { return _mm256_loadu_ps(x); }
inline __m256 load8(const uint16_t* x) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x))); }

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

// Asks for the cache line holding element d of row `row` (rows head_dim elements apart) to
// be brought into L2.
template <typename KV>
inline void prefetch_element(const KV* rows, int64_t row, int head_dim, int d) {
  _mm_prefetch(reinterpret_cast<const char*>(rows + row * head_dim + d), _MM_HINT_T1);
}
// Elements of KV per cache line: loops that read a row in steps ask for each line once.
template <typename KV>
inline constexpr int kPerLine = 64 / static_cast<int>(sizeof(KV));

// Asks for one cache row (a key or value of head_dim elements) to be brought into L2.
template <typename KV>
inline void prefetch_row(const KV* row, int head_dim) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (size_t offset = 0; offset < head_dim * sizeof(KV); offset += 64) _mm_prefetch(bytes + offset, _MM_HINT_T1);
}

// scores[r][j] = scale * (q[r] · keys[j]) for kRows query rows (1 or 2) and all n_keys keys.
// 8 / kRows keys at a time, so the kRows x 8 / kRows dot products fill 8 accumulators and
// each key load feeds kRows FMAs; sum8 then leaves row r's dots in lanes r * 8 / kRows on.
// While keys j.. are used, the same keys of `next` (n_next rows) are requested into L2 a line
// per 64 bytes read, spread over the work: requested a whole key (8 lines) at a time, the
// next block's lines did not arrive while this one was computed (see accumulate_rows).
template <int kRows, typename KV>
void score_rows(const float* const* q, const KV* keys, int n_keys, int head_dim, float scale, float* scores,
                int score_stride, const KV* next, int n_next) {
  constexpr int kKeys = 8 / kRows;
  const int head_dim_vec = head_dim & ~7;
  int j = 0;
  for (; j + kKeys <= n_keys; j += kKeys) {
    const KV* key = keys + static_cast<int64_t>(j) * head_dim;  // (kKeys, head_dim)
    // The register arrays' loops are unrolled by request: GCC at -O2 (RelWithDebInfo, many
    // distributions' default) left them rolled, kept acc in memory, and ran decode attention at
    // less than half the speed of -O3.
    __m256 acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
    const int n_prefetch = std::max(0, std::min(kKeys, n_next - j));  // keys j.. of the next block
    for (int d = 0; d < head_dim_vec; d += 8) {
      if (d % kPerLine<KV> == 0)
        for (int k = 0; k < n_prefetch; ++k) prefetch_element(next, j + k, head_dim, d);
      __m256 qv[kRows];
#pragma GCC unroll 2
      for (int r = 0; r < kRows; ++r) qv[r] = _mm256_loadu_ps(q[r] + d);
#pragma GCC unroll 8
      for (int k = 0; k < kKeys; ++k) {
        const __m256 kv = load8(key + k * head_dim + d);
#pragma GCC unroll 2
        for (int r = 0; r < kRows; ++r) acc[r * kKeys + k] = _mm256_fmadd_ps(qv[r], kv, acc[r * kKeys + k]);
      }
    }
    const __m256 scaled = _mm256_mul_ps(sum8(acc), _mm256_set1_ps(scale));  // (kRows, kKeys)
    if (head_dim_vec == head_dim) {  // no tail: each row's kKeys scores go out as one store
      if (kRows == 1) {
        _mm256_storeu_ps(scores + j, scaled);
      } else {
        _mm_storeu_ps(scores + j, _mm256_castps256_ps128(scaled));
        _mm_storeu_ps(scores + score_stride + j, _mm256_extractf128_ps(scaled, 1));
      }
      continue;
    }
    alignas(32) float dots[8];  // (kRows, kKeys)
    _mm256_store_ps(dots, scaled);
    for (int r = 0; r < kRows; ++r) {
      for (int k = 0; k < kKeys; ++k) {
        float tail = 0.0f;  // head_dim not a multiple of 8
        for (int d = head_dim_vec; d < head_dim; ++d) tail += q[r][d] * to_float(key[k * head_dim + d]);
        scores[r * score_stride + j + k] = dots[r * kKeys + k] + scale * tail;
      }
    }
  }
  for (; j < n_keys; ++j) {
    const KV* key = keys + static_cast<int64_t>(j) * head_dim;
    for (int r = 0; r < kRows; ++r) {
      __m256 acc = _mm256_setzero_ps();
      for (int d = 0; d < head_dim_vec; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q[r] + d), load8(key + d), acc);
      float dot = hsum(acc);
      for (int d = head_dim_vec; d < head_dim; ++d) dot += q[r][d] * to_float(key[d]);
      scores[r * score_stride + j] = scale * dot;
    }
  }
}

// acc[r] = correction[r] * acc[r] + sum_j probs[r][j] * values[j] for kRows rows (1 or 2):
// 32 output dimensions per row stay in registers over the block, and each value load feeds
// kRows FMAs. Each pass over 32 dimensions requests the same lines of `next`'s values (n_next
// rows) into L2, so the requests spread over all the passes. Requesting each next value whole
// during the first pass left the reading and the arithmetic serial: decode attention at 4096
// positions from memory (32 heads, 8 KV heads, head_dim 128, fp32) on one Zen 5 core read 15-16
// GB/s, where the arithmetic alone runs at 28 and a plain read of the same blocks at 22-32;
// spread, 19-21.
template <int kRows, typename KV>
void accumulate_rows(const float* probs, int prob_stride, const float* correction, const KV* values, int n_keys,
                     int head_dim, float* const* acc, const KV* next, int n_next) {
  int d = 0;
  for (; d + 32 <= head_dim; d += 32) {
    __m256 a[kRows][4];  // unrolled loops keep it in registers (see score_rows)
#pragma GCC unroll 2
    for (int r = 0; r < kRows; ++r) {
      const __m256 c = _mm256_set1_ps(correction[r]);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) a[r][i] = _mm256_mul_ps(_mm256_loadu_ps(acc[r] + d + 8 * i), c);
    }
    for (int j = 0; j < n_keys; ++j) {
      if (j < n_next) {  // the lines of value j of the next block that this pass reads
        prefetch_element(next, j, head_dim, d);
        prefetch_element(next, j, head_dim, d + 31);
      }
      const KV* value = values + static_cast<int64_t>(j) * head_dim + d;
      __m256 v[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) v[i] = load8(value + 8 * i);
#pragma GCC unroll 2
      for (int r = 0; r < kRows; ++r) {
        const __m256 p = _mm256_broadcast_ss(probs + r * prob_stride + j);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) a[r][i] = _mm256_fmadd_ps(p, v[i], a[r][i]);
      }
    }
#pragma GCC unroll 2
    for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) _mm256_storeu_ps(acc[r] + d + 8 * i, a[r][i]);
  }
  for (; d + 8 <= head_dim; d += 8) {
    // The rest of each next value (head_dim not a multiple of 32), a line at a time.
    if (d % kPerLine<KV> == 0)
      for (int j = 0; j < n_next; ++j) prefetch_element(next, j, head_dim, d);
    for (int r = 0; r < kRows; ++r) {
      __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc[r] + d), _mm256_set1_ps(correction[r]));
      for (int j = 0; j < n_keys; ++j)
        a = _mm256_fmadd_ps(_mm256_broadcast_ss(probs + r * prob_stride + j),
                            load8(values + static_cast<int64_t>(j) * head_dim + d), a);
      _mm256_storeu_ps(acc[r] + d, a);
    }
  }
  for (; d < head_dim; ++d) {
    for (int r = 0; r < kRows; ++r) {
      float a = acc[r][d] * correction[r];
      for (int j = 0; j < n_keys; ++j)
        a += probs[r * prob_stride + j] * to_float(values[static_cast<int64_t>(j) * head_dim + d]);
      acc[r][d] = a;
    }
  }
}

struct AttentionOps {
  // scores (n_rows, score_stride): scores[r][j] = scale * (q_rows[r] · keys[j]).
  // keys: (n_keys, head_dim) of KV = float or uint16_t (half). Rows go in pairs that share
  // every key load. The n_next keys at `next` (the following block) are requested from
  // memory a row at a time during the work, so the loads overlap the arithmetic.
  template <typename KV>
  static void scores(const float* const* q_rows, int n_rows, const KV* keys, int n_keys, int head_dim,
                     float scale, float* scores, int score_stride, const KV* next = nullptr, int n_next = 0) {
    int r = 0;
    for (; r + 2 <= n_rows; r += 2, n_next = 0)
      score_rows<2>(q_rows + r, keys, n_keys, head_dim, scale, scores + r * score_stride, score_stride, next, n_next);
    if (r < n_rows)
      score_rows<1>(q_rows + r, keys, n_keys, head_dim, scale, scores + r * score_stride, score_stride, next, n_next);
  }

  // As scalar::AttentionOps::max_of: eight lanes of maxima, then one fold. A scalar
  // std::max_element is a chain of dependent compares, 3-5% of decode at 8 rows a unit.
  static float max_of(const float* x, int n) {
    __m256 best_v = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    int j = 0;
    for (; j + 8 <= n; j += 8) best_v = _mm256_max_ps(best_v, _mm256_loadu_ps(x + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(best_v), _mm256_extractf128_ps(best_v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float best = _mm_cvtss_f32(h);
    for (; j < n; ++j) best = std::max(best, x[j]);
    return best;
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
  // probs: (n_rows, prob_stride); values: (n_keys, head_dim) of KV. Rows go in pairs.
  // Requests the n_next values at `next` as scores() does the keys.
  template <typename KV>
  static void accumulate(const float* probs, int prob_stride, int n_rows, const float* correction,
                         const KV* values, int n_keys, int head_dim, float* const* acc_rows, const KV* next = nullptr,
                         int n_next = 0) {
    int r = 0;
    for (; r + 2 <= n_rows; r += 2, n_next = 0)
      accumulate_rows<2>(probs + r * prob_stride, prob_stride, correction + r, values, n_keys, head_dim, acc_rows + r,
                         next, n_next);
    if (r < n_rows)
      accumulate_rows<1>(probs + r * prob_stride, prob_stride, correction + r, values, n_keys, head_dim, acc_rows + r,
                         next, n_next);
  }
};

}  // namespace llmpp::kernels::avx2

#endif  // __AVX2__ && __FMA__ && __F16C__
