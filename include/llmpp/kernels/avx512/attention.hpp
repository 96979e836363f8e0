// AVX-512 block arithmetic of the fused attention kernel; same contract as
// kernels/scalar/attention.hpp, which tests/test_attention.cpp compares it with.
// Blocks of kMinRows or more query rows (prefill: a work unit holds up to 16 rows, tokens x
// the query heads of one KV head) take the loops below. Fewer rows (decode) take the AVX2
// twin's loops: widened to 16 lanes for an F16 cache and for 8 rows of an fp32 one
// (takes_decode), the AVX2 ones themselves for fewer rows of fp32, where the cache's bytes
// set the pace. Head sizes that are not a multiple of 16, or exceed kMaxHeadDim in prefill,
// go to the AVX2 twin.
//
// Scores as a small matrix product: the block's keys are transposed once into (head_dim,
// 32 keys), so that one dimension of 32 keys is two vectors and each query row's element is
// a broadcast: 8 rows x 32 keys in 16 accumulators, no horizontal sums (the AVX2 twin takes
// a dot product per row and key, and sums each). The weighted values run 6 rows x 64
// dimensions in 24 accumulators, each value load serving 6 rows. Prefill attention at 512
// tokens (bench_attention, 32 heads, 8 KV heads, head_dim 128) on a Zen 5 core: see README.
#pragma once

#include "llmpp/kernels/avx2/attention.hpp"
#include "llmpp/kernels/avx512/gemm.hpp"

#if defined(LLMPP_AVX512_GEMM) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define LLMPP_AVX512_ATTENTION 1

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace llmpp::kernels::avx512 {

namespace attention_simd {

inline constexpr int kBlockKeys = 32;     // keys per transposed block, at most (layers' kKeyBlock)
inline constexpr int kMaxHeadDim = 256;   // (kMaxHeadDim, kBlockKeys) floats: 32 KiB on the stack
inline constexpr int kMinRows = 9;        // fewer rows go to the AVX2 twin

inline __m512 load16(const float* x) { return _mm512_loadu_ps(x); }
inline __m512 load16(const uint16_t* x) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}

// keys_t (head_dim, kBlockKeys) = the n_keys keys (n_keys, head_dim) transposed, zero past n_keys.
template <typename KV>
void transpose_keys(const KV* keys, int n_keys, int head_dim, float* keys_t) {
  alignas(64) float group[16 * kMaxHeadDim];  // (16, head_dim): 16 keys as floats
  const auto to_floats = [&](int64_t j, float* out) {
    const KV* key = keys + j * head_dim;
    for (int d = 0; d < head_dim; d += 16) _mm512_store_ps(out + d, load16(key + d));
  };
  pack_transposed(kBlockKeys, n_keys, head_dim, to_floats, group, head_dim, keys_t, kBlockKeys);
}

// scores[r][j] = scale * (q[r] · key j) for kRows rows and the n_keys keys of keys_t.
// Here and in accumulate_rows the loops over register arrays are unrolled by request: at -O2
// GCC left them rolled and kept the arrays in memory (prompt attention at 40% of -O3's speed).
template <int kRows>
void score_rows(const float* const* q, const float* keys_t, int n_keys, int head_dim, float scale, float* scores,
                int score_stride) {
  __m512 acc[kRows][2];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int d = 0; d < head_dim; ++d) {
    const __m512 k0 = _mm512_load_ps(keys_t + d * kBlockKeys), k1 = _mm512_load_ps(keys_t + d * kBlockKeys + 16);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 a = _mm512_set1_ps(q[r][d]);
      acc[r][0] = _mm512_fmadd_ps(a, k0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, k1, acc[r][1]);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
  const __mmask16 low = static_cast<__mmask16>(n_keys >= 16 ? 0xffff : (1u << n_keys) - 1);
  const __mmask16 high = static_cast<__mmask16>(n_keys >= 32 ? 0xffff : n_keys <= 16 ? 0 : (1u << (n_keys - 16)) - 1);
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    _mm512_mask_storeu_ps(scores + r * score_stride, low, _mm512_mul_ps(acc[r][0], s));
    _mm512_mask_storeu_ps(scores + r * score_stride + 16, high, _mm512_mul_ps(acc[r][1], s));
  }
}

// acc[r][d0 .. d0 + 16 kVectors) = correction[r] * acc[r][...] + sum_j probs[r][j] * values[j][...].
// Decode passes `next`: the lines of the next block's values (n_next rows) that the pass
// reads are requested into L2 as it goes, as avx2::accumulate_rows does.
template <int kRows, int kVectors, typename KV>
void accumulate_rows(const float* probs, int prob_stride, const float* correction, const KV* values, int n_keys,
                     int head_dim, float* const* acc, int d0, const KV* next = nullptr, int n_next = 0) {
  __m512 a[kRows][kVectors];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    const __m512 c = _mm512_set1_ps(correction[r]);
#pragma GCC unroll 4
    for (int i = 0; i < kVectors; ++i) a[r][i] = _mm512_mul_ps(_mm512_loadu_ps(acc[r] + d0 + 16 * i), c);
  }
  for (int j = 0; j < n_keys; ++j) {
    if (j < n_next)
#pragma GCC unroll 4
      for (int e = 0; e < 16 * kVectors; e += avx2::kPerLine<KV>) avx2::prefetch_element(next, j, head_dim, d0 + e);
    const KV* value = values + static_cast<int64_t>(j) * head_dim + d0;
    __m512 v[kVectors];
#pragma GCC unroll 4
    for (int i = 0; i < kVectors; ++i) v[i] = load16(value + 16 * i);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 p = _mm512_set1_ps(probs[r * prob_stride + j]);
#pragma GCC unroll 4
      for (int i = 0; i < kVectors; ++i) a[r][i] = _mm512_fmadd_ps(p, v[i], a[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < kVectors; ++i) _mm512_storeu_ps(acc[r] + d0 + 16 * i, a[r][i]);
}

// accumulate_rows over all n_rows, kMaxRows at a time: 64 dimensions a pass, then 16. The
// first rows' passes request the next block's values (`next`), as the AVX2 twin's do.
template <int kMaxRows, typename KV>
void accumulate_all_rows(const float* probs, int prob_stride, int n_rows, const float* correction, const KV* values,
                         int n_keys, int head_dim, float* const* acc_rows, const KV* next, int n_next) {
  for (int r = 0; r < n_rows; r += kMaxRows, n_next = 0)
    with_count<kMaxRows>(std::min(kMaxRows, n_rows - r), [&](auto rows) {
      constexpr int kRows = decltype(rows)::value;
      const float* p = probs + r * prob_stride;
      int d = 0;
      for (; d + 64 <= head_dim; d += 64)
        accumulate_rows<kRows, 4>(p, prob_stride, correction + r, values, n_keys, head_dim, acc_rows + r, d, next,
                                  n_next);
      for (; d < head_dim; d += 16)
        accumulate_rows<kRows, 1>(p, prob_stride, correction + r, values, n_keys, head_dim, acc_rows + r, d, next,
                                  n_next);
    });
}

// Sixteen floats -> eight: lane i + the lane i + 8 (AVX-512F only, no DQ).
inline __m256 fold16(__m512 x) {
  return _mm256_add_ps(_mm512_castps512_ps256(x), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}

// Decode (fewer than kMinRows rows): avx2::score_rows widened to 16 lanes, kRows (1 or 2)
// rows x 8 / kRows keys in 8 accumulators, with the next block's keys requested a line at a
// time over the work as there. head_dim a multiple of 16.
template <int kRows, typename KV>
void decode_score_rows(const float* const* q, const KV* keys, int n_keys, int head_dim, float scale, float* scores,
                       int score_stride, const KV* next, int n_next) {
  constexpr int kKeys = 8 / kRows;
  int j = 0;
  for (; j + kKeys <= n_keys; j += kKeys) {
    const KV* key = keys + static_cast<int64_t>(j) * head_dim;  // (kKeys, head_dim)
    __m512 acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) acc[i] = _mm512_setzero_ps();
    const int n_prefetch = std::max(0, std::min(kKeys, n_next - j));  // keys j.. of the next block
    for (int d = 0; d < head_dim; d += 16) {
      if (d % avx2::kPerLine<KV> == 0)
        for (int k = 0; k < n_prefetch; ++k) avx2::prefetch_element(next, j + k, head_dim, d);
      __m512 qv[kRows];
#pragma GCC unroll 2
      for (int r = 0; r < kRows; ++r) qv[r] = _mm512_loadu_ps(q[r] + d);
#pragma GCC unroll 8
      for (int k = 0; k < kKeys; ++k) {
        const __m512 kv = load16(key + k * head_dim + d);
#pragma GCC unroll 2
        for (int r = 0; r < kRows; ++r) acc[r * kKeys + k] = _mm512_fmadd_ps(qv[r], kv, acc[r * kKeys + k]);
      }
    }
    __m256 folded[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) folded[i] = fold16(acc[i]);
    const __m256 scaled = _mm256_mul_ps(avx2::sum8(folded), _mm256_set1_ps(scale));  // (kRows, kKeys)
    if (kRows == 1) {
      _mm256_storeu_ps(scores + j, scaled);
    } else {
      _mm_storeu_ps(scores + j, _mm256_castps256_ps128(scaled));
      _mm_storeu_ps(scores + score_stride + j, _mm256_extractf128_ps(scaled, 1));
    }
  }
  for (; j < n_keys; ++j) {  // the block's last n_keys % kKeys keys
    const KV* key = keys + static_cast<int64_t>(j) * head_dim;
    for (int r = 0; r < kRows; ++r) {
      __m512 acc = _mm512_setzero_ps();
      for (int d = 0; d < head_dim; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q[r] + d), load16(key + d), acc);
      scores[r * score_stride + j] = scale * _mm512_reduce_add_ps(acc);
    }
  }
}

// Decode blocks of an F16 cache, and of an fp32 one with kWideFp32Rows rows or more.
// Widening the AVX2 loops to 16 lanes halves the instructions that convert and multiply.
// F16 (32 heads, 8 KV heads, head_dim 128) on a 2-core Zen 5, new and old alternating in one
// process, caches cycled past L3: 512 positions 1.17-1.20x on one core and 1.06-1.21x on two,
// 4096 positions 1.04-1.14x on one and 0.97-1.09x on two (memory-bound there); one
// 4096-position cache read from L3 and memory, 1.27-1.32x.
// fp32 at 4 rows a unit (that shape), where the bytes set the pace, read 0.89-0.97x as fast
// from memory on one core and 0.95-1.01x on two, and 6 rows broke even; at 8 rows
// (TinyLlama's 32 heads over 4 KV heads, head_dim 64, or 64 over 8 at 128) the arithmetic is
// the limit, and widened, 4096 positions ran 1.08-1.11x on two cores and 1.12x on one from
// memory, 1.32x from L2.
inline constexpr int kWideFp32Rows = 8;
template <typename KV>
inline bool takes_decode(int n_rows, int n_keys, int head_dim) {
  const bool wide = std::is_same_v<KV, uint16_t> || n_rows >= kWideFp32Rows;
  return wide && n_rows < kMinRows && n_keys <= kBlockKeys && head_dim % 16 == 0;
}

inline bool takes(int n_rows, int n_keys, int head_dim) {
  return n_rows >= kMinRows && n_keys <= kBlockKeys && head_dim % 16 == 0 && head_dim <= kMaxHeadDim;
}

}  // namespace attention_simd

struct AttentionOps {
  // As avx2::AttentionOps::scores. The keys of the next block are requested as there.
  template <typename KV>
  static void scores(const float* const* q_rows, int n_rows, const KV* keys, int n_keys, int head_dim, float scale,
                     float* scores, int score_stride, const KV* next = nullptr, int n_next = 0) {
    using namespace attention_simd;
    if (takes_decode<KV>(n_rows, n_keys, head_dim)) {
      int r = 0;
      for (; r + 2 <= n_rows; r += 2, n_next = 0)
        decode_score_rows<2>(q_rows + r, keys, n_keys, head_dim, scale, scores + r * score_stride, score_stride, next,
                             n_next);
      if (r < n_rows)
        decode_score_rows<1>(q_rows + r, keys, n_keys, head_dim, scale, scores + r * score_stride, score_stride, next,
                             n_next);
      return;
    }
    if (!takes(n_rows, n_keys, head_dim))
      return avx2::AttentionOps::scores(q_rows, n_rows, keys, n_keys, head_dim, scale, scores, score_stride, next,
                                        n_next);
    for (int j = 0; j < n_next; ++j) avx2::prefetch_row(next + static_cast<int64_t>(j) * head_dim, head_dim);
    alignas(64) float keys_t[kMaxHeadDim * kBlockKeys];  // (head_dim, kBlockKeys)
    transpose_keys(keys, n_keys, head_dim, keys_t);
    for (int r = 0; r < n_rows; r += 8)
      with_count<8>(std::min(8, n_rows - r), [&](auto rows) {
        score_rows<decltype(rows)::value>(q_rows + r, keys_t, n_keys, head_dim, scale, scores + r * score_stride,
                                          score_stride);
      });
  }

  static float exp_sum(float* x, int n, float max) { return avx2::AttentionOps::exp_sum(x, n, max); }
  static float max_of(const float* x, int n) { return avx2::AttentionOps::max_of(x, n); }

  // As avx2::AttentionOps::accumulate: 6 rows at a time (decode: 4), 64 dimensions a pass.
  // Decode's 4 rows x 64 dimensions fit 16 of the 32 registers, where the AVX2 twin's 16 hold
  // 2 rows: against 2 rows a pass, decode attention from memory ran 1.05-1.17x in six of seven
  // comparisons and 0.99x in one (32 heads over 4 KV heads at head_dim 64, and over 8 at 128;
  // one core and two; fp32 and F16); from L2 on one core, 0.98x fp32 and 1.11x F16.
  template <typename KV>
  static void accumulate(const float* probs, int prob_stride, int n_rows, const float* correction, const KV* values,
                         int n_keys, int head_dim, float* const* acc_rows, const KV* next = nullptr, int n_next = 0) {
    using namespace attention_simd;
    if (takes_decode<KV>(n_rows, n_keys, head_dim))
      return accumulate_all_rows<4>(probs, prob_stride, n_rows, correction, values, n_keys, head_dim, acc_rows, next,
                                    n_next);
    if (!takes(n_rows, n_keys, head_dim))
      return avx2::AttentionOps::accumulate(probs, prob_stride, n_rows, correction, values, n_keys, head_dim,
                                            acc_rows, next, n_next);
    for (int j = 0; j < n_next; ++j) avx2::prefetch_row(next + static_cast<int64_t>(j) * head_dim, head_dim);
    accumulate_all_rows<6, KV>(probs, prob_stride, n_rows, correction, values, n_keys, head_dim, acc_rows, nullptr, 0);
  }
};

}  // namespace llmpp::kernels::avx512

#endif  // LLMPP_AVX512_GEMM && AVX2, FMA, F16C
