// AVX2 + FMA + F16C twins of kernels/scalar/quant.hpp: the weight-row · activation-row dot
// products, the activation quantizers (Q8_0, Q8_1, Q8_K) and the dequantizers the prefill
// tiles use. tests/test_quant.cpp compares every one with its scalar twin.
//
// Quantized dots follow the integer scheme of ggml's x86 kernels: weights unpacked to bytes,
// _mm256_maddubs_epi16 (unsigned x signed bytes -> pairwise int16) and _mm256_madd_epi16
// (-> int32), scaled by the block's float factor with one FMA per block. Bounds that keep
// the int16 pairs from saturating are noted at each use.
#pragma once

#include "llmpp/core/aligned.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "llmpp/kernels/scalar/quant.hpp"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

namespace llmpp::kernels::avx2 {

// Types and directions without an AVX2 version use the portable one.
using scalar::dequantize_row;
using scalar::quantize_row;

namespace quant_simd {

inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int horizontal_sum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

inline float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline float horizontal_min(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline float half(uint16_t bits) { return _cvtsh_ss(bits); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 8 int32 lanes, each the sum of 4 adjacent products u_k s_k (u unsigned, s signed bytes).
// maddubs saturates its int16 pairs beyond 32767; callers keep u <= 127 with |s| <= 127, or
// u <= 63 with s >= -128 (at most 2 * 63 * 128 = 16128).
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed x signed bytes, both in [-127, 127]: move x's sign onto y so maddubs sees |x|.
inline __m256i dot_i8_i8(__m256i x, __m256i y) {
  return dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0-15), then high ones (16-31).
inline __m256i unpack_nibbles32(const uint8_t* qs) {
  const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
}

// (q - offset) · y for unsigned q in [0, 31] and offset <= 16, as 8 int32 lanes. Subtracting
// offset · y on the int16 pairs (|q y| <= 2 * 31 * 128, |offset y| <= 2 * 16 * 128) costs
// less on Zen 1 than the sign trick of dot_i8_i8.
inline __m256i dot_offset_u8_i8(__m256i q, int8_t offset, __m256i y) {
  const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y), _mm256_maddubs_epi16(_mm256_set1_epi8(offset), y));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// half(a) * half(b) broadcast: both fp16 values converted by one instruction.
inline __m256 block_scale(uint16_t a, uint16_t b) {
  const __m128 both = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(a | (static_cast<uint32_t>(b) << 16))));
  return _mm256_broadcastss_ps(_mm_mul_ss(both, _mm_movehdup_ps(both)));
}

// The 32 bits of a little-endian uint32 -> 32 bytes, 0xff where the bit is set: byte k of
// group i receives byte i of the word, and OR-ing every bit but bit k leaves 0xff iff set.
inline __m256i bits_to_bytes(const uint8_t* qh) {
  uint32_t word;
  std::memcpy(&word, qh, sizeof word);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(word)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i all_but_bit_k = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  return _mm256_cmpeq_epi8(_mm256_or_si256(spread, all_but_bit_k), _mm256_set1_epi64x(-1));
}

// 32 floats -> 32 int8 lanes in order, after scaling and rounding to nearest-even.
inline __m256i round_to_i8(const float* x, __m256 scale, __m256i& as_i32_sum) {
  __m256i v[4];
  for (int k = 0; k < 4; ++k)
    v[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), scale),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  as_i32_sum = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
  // packs work per 128-bit lane; the permute restores element order.
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
  return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline float abs_max32(const float* x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
  for (int k = 1; k < 4; ++k) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
  return horizontal_max(m);
}

// Q5_0 / Q5_1 quants, unsigned in [0, 31]: the low nibbles plus 16 where qh has the bit.
inline __m256i unpack_q5(const uint8_t* qs, const uint8_t* qh) {
  return _mm256_or_si256(unpack_nibbles32(qs), _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)));
}

// Chunk c of a Q4_K / Q5_K super-block: 32 bytes of nibbles -> elements 64c .. 64c + 31
// (q_low) and 64c + 32 .. 64c + 63 (q_high). For Q5_K, `high_bits` holds qh shifted right by
// 2c; bits 0 and 1 of each byte are the fifth bits of the two halves.
template <bool kFifthBit>
inline void unpack_k_chunk(const uint8_t* qs, int c, __m256i high_bits, __m256i& q_low, __m256i& q_high) {
  const __m256i low_nibble = _mm256_set1_epi8(0x0f), bit = _mm256_set1_epi8(1);
  const __m256i packed = load256(qs + 32 * c);
  q_low = _mm256_and_si256(packed, low_nibble);
  q_high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibble);
  if (kFifthBit) {
    q_low = _mm256_or_si256(q_low, _mm256_slli_epi16(_mm256_and_si256(high_bits, bit), 4));
    q_high = _mm256_or_si256(q_high, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 1), bit), 4));
  }
}

// Group k of half h of a Q6_K super-block: the quants of elements 128h + 32k .. 128h + 32k + 31,
// unsigned in [0, 63] (layout in scalar::unpack_quants_q6_k). The two high bits of group k sit
// at bits 2k, 2k + 1 of qh; one 16-bit shift moves them to bits 4-5 (the mask keeps each byte's
// own bits), one shift fewer per group than shifting qh right step by step.
inline __m256i unpack_q6_k_group(const BlockQ6_K& b, int h, int k) {
  const __m256i low_nibble = _mm256_set1_epi8(0x0f), bits_4_5 = _mm256_set1_epi8(0x30);
  const __m256i ql = load256(b.ql + 64 * h + 32 * (k & 1)), qh = load256(b.qh + 32 * h);
  const __m256i low = _mm256_and_si256(k < 2 ? ql : _mm256_srli_epi16(ql, 4), low_nibble);
  const __m256i high = k == 0   ? _mm256_slli_epi16(qh, 4)
                       : k == 1 ? _mm256_slli_epi16(qh, 2)
                       : k == 2 ? qh
                                : _mm256_srli_epi16(qh, 2);
  return _mm256_or_si256(low, _mm256_and_si256(high, bits_4_5));
}

// Scales of two 16-element halves for _mm256_madd_epi16 after maddubs (lanes 0-7 carry
// elements 0-15, lanes 8-15 elements 16-31): int16 scale j in the low lane, j + 1 in the
// high one, picked by byte shuffle from eight int16 scales present in both lanes.
inline __m256i scale_pair(__m256i scales16, int j) {
  const auto pick = [](int k) { return _mm_set1_epi16(static_cast<int16_t>(((2 * k + 1) << 8) | (2 * k))); };
  return _mm256_shuffle_epi8(scales16, _mm256_set_m128i(pick(j + 1), pick(j)));
}

// Q3_K's 16 scales (layout in scalar::unpack_scales_q3_k) as int8 lanes, in registers: a
// scalar unpack through memory stalled each block on store forwarding (7 GB/s one core).
// Lanes 0-7 take the low nibbles of bytes 0-7, lanes 8-15 the high ones; every 4 lanes j
// take byte 8 + j % 4 shifted right by 2 (j / 4) for the top 2 bits.
inline __m128i unpack_scales_q3_k(const uint8_t* packed) {
  uint32_t tops;
  std::memcpy(&tops, packed + 8, sizeof tops);
  const __m128i nibbles = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed)), low4 = _mm_set1_epi8(0x0f);
  const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(nibbles, low4), _mm_and_si128(_mm_srli_epi16(nibbles, 4), low4));
  const __m128i high = _mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(tops)), _mm_setr_epi32(0, 2, 4, 6));
  const __m128i stored = _mm_or_si128(low, _mm_and_si128(_mm_slli_epi16(high, 4), _mm_set1_epi8(0x30)));
  return _mm_sub_epi8(stored, _mm_set1_epi8(32));
}

// The K-quants of 16 sub-blocks of 16 with one scale each (Q2_K, Q3_K, Q6_K), as their dots
// (vec_dot, and the 4-row kernel dot_k16_4_rows) read them: group(b, h, k) gives the 32
// unsigned quants u of elements 128h + 32k .. + 31 (sub-blocks 8h + 2k and 8h + 2k + 1),
// scales(b) the 16 scales as int8. Q3_K and Q6_K store q = u - offset (4, 32), whose
// sum_j scale_j offset bsum_j comes off the int32 lanes (kOffsetShift = log2 offset); Q2_K
// stores x = d scale_j u - dmin min_j, whose min term is taken in float (kMins).
template <typename Block>
struct K16Layout;

template <>
struct K16Layout<BlockQ6_K> {
  static constexpr int kOffsetShift = 5;
  static constexpr bool kMins = false;
  static __m256i group(const BlockQ6_K& b, int h, int k) { return unpack_q6_k_group(b, h, k); }
  static __m128i scales(const BlockQ6_K& b) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)); }
};

template <>
struct K16Layout<BlockQ3_K> {
  static constexpr int kOffsetShift = 2;
  static constexpr bool kMins = false;
  static __m256i group(const BlockQ3_K& b, int h, int k) {
    const __m256i planes = load256(b.qs + 32 * h), hmask = load256(b.hmask);
    const int bit = 4 * h + k;  // the third bit of each hmask byte, moved to bit 2
    const __m256i third = bit >= 2 ? _mm256_srli_epi16(hmask, bit - 2) : _mm256_slli_epi16(hmask, 2 - bit);
    return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(planes, 2 * k), _mm256_set1_epi8(3)),
                           _mm256_and_si256(third, _mm256_set1_epi8(4)));
  }
  static __m128i scales(const BlockQ3_K& b) { return unpack_scales_q3_k(b.scales); }
};

template <>
struct K16Layout<BlockQ2_K> {
  static constexpr int kOffsetShift = 0;
  static constexpr bool kMins = true;
  static __m256i group(const BlockQ2_K& b, int h, int k) {
    return _mm256_and_si256(_mm256_srli_epi16(load256(b.qs + 32 * h), 2 * k), _mm256_set1_epi8(3));
  }
  static __m128i scales(const BlockQ2_K& b) { return _mm_and_si128(packed(b), _mm_set1_epi8(0x0f)); }
  static __m128i mins(const BlockQ2_K& b) { return _mm_and_si128(_mm_srli_epi16(packed(b), 4), _mm_set1_epi8(0x0f)); }
  static __m128i packed(const BlockQ2_K& b) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)); }
};

}  // namespace quant_simd

// ---------------------------------------------------------------------------------------
// Activation quantizers: the same bits as the scalar twins
// ---------------------------------------------------------------------------------------

inline void quantize_row(const float* x, BlockQ8_0* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    const float d = abs_max32(x) / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    __m256i unused;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), round_to_i8(x, _mm256_set1_ps(inverse), unused));
    y[i].d = fp32_to_fp16(d);
  }
}

inline void quantize_row(const float* x, BlockQ8_1* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    const float d = abs_max32(x) / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    __m256i sum;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), round_to_i8(x, _mm256_set1_ps(inverse), sum));
    y[i].d = fp32_to_fp16(d);
    y[i].s = fp32_to_fp16(d * static_cast<float>(horizontal_sum(sum)));
  }
}

inline void quantize_row(const float* x, BlockQ8_K* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 256; ++i, x += 256) {
    __m256 lo = _mm256_loadu_ps(x), hi = lo;
    for (int k = 8; k < 256; k += 8) {
      lo = _mm256_min_ps(lo, _mm256_loadu_ps(x + k));
      hi = _mm256_max_ps(hi, _mm256_loadu_ps(x + k));
    }
    const float lowest = horizontal_min(lo), highest = horizontal_max(hi);
    const float extreme = -lowest > highest ? lowest : highest;  // as scalar::signed_abs_max
    if (extreme == 0.0f) {
      std::memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    const float inverse = -128.0f / extreme;
    const __m256 scale = _mm256_set1_ps(inverse);
    const __m256i max_q = _mm256_set1_epi32(127);  // the extreme's other sign may reach +128
    for (int g = 0; g < 16; ++g) {  // 16 groups of 16 elements, one bsum each
      __m256i v[2];
      for (int k = 0; k < 2; ++k)
        v[k] = _mm256_min_epi32(max_q, _mm256_cvtps_epi32(_mm256_round_ps(
                                           _mm256_mul_ps(_mm256_loadu_ps(x + 16 * g + 8 * k), scale),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
      y[i].bsums[g] = static_cast<int16_t>(horizontal_sum(_mm256_add_epi32(v[0], v[1])));
      const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[0], v[1]), _MM_SHUFFLE(3, 1, 2, 0));
      const __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs + 16 * g), bytes);
    }
    y[i].d = 1.0f / inverse;
  }
}

// ---------------------------------------------------------------------------------------
// Dot products
// ---------------------------------------------------------------------------------------

inline float vec_dot(const BlockQ4_0* w, const BlockQ8_0* a, int64_t n) {
  using namespace quant_simd;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i lanes = dot_offset_u8_i8(unpack_nibbles32(w[i].qs), 8, load256(a[i].qs));
    acc = _mm256_fmadd_ps(block_scale(w[i].d, a[i].d), _mm256_cvtepi32_ps(lanes), acc);
  }
  return horizontal_sum(acc);
}

inline float vec_dot(const BlockQ4_1* w, const BlockQ8_1* a, int64_t n) {
  using namespace quant_simd;
  __m256 acc = _mm256_setzero_ps();
  float min_terms = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    min_terms += half(w[i].m) * half(a[i].s);
    const __m256i lanes = dot_u8_i8(unpack_nibbles32(w[i].qs), load256(a[i].qs));
    acc = _mm256_fmadd_ps(block_scale(w[i].d, a[i].d), _mm256_cvtepi32_ps(lanes), acc);
  }
  return horizontal_sum(acc) + min_terms;
}

inline float vec_dot(const BlockQ5_0* w, const BlockQ8_0* a, int64_t n) {
  using namespace quant_simd;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i lanes = dot_offset_u8_i8(unpack_q5(w[i].qs, w[i].qh), 16, load256(a[i].qs));
    acc = _mm256_fmadd_ps(block_scale(w[i].d, a[i].d), _mm256_cvtepi32_ps(lanes), acc);
  }
  return horizontal_sum(acc);
}

inline float vec_dot(const BlockQ5_1* w, const BlockQ8_1* a, int64_t n) {
  using namespace quant_simd;
  __m256 acc = _mm256_setzero_ps();
  float min_terms = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    min_terms += half(w[i].m) * half(a[i].s);
    const __m256i lanes = dot_u8_i8(unpack_q5(w[i].qs, w[i].qh), load256(a[i].qs));
    acc = _mm256_fmadd_ps(block_scale(w[i].d, a[i].d), _mm256_cvtepi32_ps(lanes), acc);
  }
  return horizontal_sum(acc) + min_terms;
}

inline float vec_dot(const BlockQ8_0* w, const BlockQ8_0* a, int64_t n) {
  using namespace quant_simd;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    // Both in [-127, 127]: the sign trick cannot overflow (|x| |y| pairs <= 32258).
    const __m256i lanes = dot_i8_i8(load256(w[i].qs), load256(a[i].qs));
    acc = _mm256_fmadd_ps(block_scale(w[i].d, a[i].d), _mm256_cvtepi32_ps(lanes), acc);
  }
  return horizontal_sum(acc);
}

// 8 int32 lanes summing to sum_j min_j * (bsums[2j] + bsums[2j + 1]) for a Q4_K / Q5_K
// super-block (lane j holds sub-block j's term).
inline __m256i k_min_lanes(const uint8_t* mins, const BlockQ8_K& a) {
  const __m128i duplicated = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mins)),
                                              _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
  return _mm256_madd_epi16(quant_simd::load256(a.bsums), _mm256_cvtepu8_epi16(duplicated));
}

// Q4_K / Q5_K super-block: a_d (d sum_j scale_j (q · a)_j - dmin sum_j min_j sum(a)_j). The
// first term goes to acc, the second to min_acc, both as 8 lanes: no horizontal sum per
// super-block. q is at most 31, so maddubs pairs stay within 2 * 31 * 128.
template <bool kFifthBit>
inline void vec_dot_k_affine(const uint8_t* qs, const uint8_t* qh, uint16_t d_bits, uint16_t dmin_bits,
                             const uint8_t* packed_scales, const BlockQ8_K& a, __m256& acc, __m256& min_acc) {
  using namespace quant_simd;
  uint8_t scales[8], mins[8];
  scalar::unpack_scales_mins_k4(packed_scales, scales, mins);
  // The 8 scales as int16 in both 128-bit lanes; a byte shuffle broadcasts scale j (cheaper
  // on Zen 1 than _mm256_set1_epi16 from memory).
  const __m256i scales16 =
      _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales))));
  const auto scale = [&](int j) {
    return _mm256_shuffle_epi8(scales16, _mm256_set1_epi16(static_cast<int16_t>(((2 * j + 1) << 8) | (2 * j))));
  };
  __m256i high_bits = kFifthBit ? load256(qh) : _mm256_setzero_si256();
  __m256i sum = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c, high_bits = _mm256_srli_epi16(high_bits, 2)) {
    __m256i q_low, q_high;
    unpack_k_chunk<kFifthBit>(qs, c, high_bits, q_low, q_high);
    const __m256i p_low = _mm256_maddubs_epi16(q_low, load256(a.qs + 64 * c));
    const __m256i p_high = _mm256_maddubs_epi16(q_high, load256(a.qs + 64 * c + 32));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p_low, scale(2 * c)));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p_high, scale(2 * c + 1)));
  }
  acc = _mm256_fmadd_ps(_mm256_set1_ps(a.d * half(d_bits)), _mm256_cvtepi32_ps(sum), acc);
  min_acc = _mm256_fmadd_ps(_mm256_set1_ps(a.d * half(dmin_bits)), _mm256_cvtepi32_ps(k_min_lanes(mins, a)), min_acc);
}

inline float vec_dot(const BlockQ4_K* w, const BlockQ8_K* a, int64_t n) {
  __m256 acc = _mm256_setzero_ps(), min_acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i)
    vec_dot_k_affine<false>(w[i].qs, nullptr, w[i].d, w[i].dmin, w[i].scales, a[i], acc, min_acc);
  return quant_simd::horizontal_sum(_mm256_sub_ps(acc, min_acc));
}

inline float vec_dot(const BlockQ5_K* w, const BlockQ8_K* a, int64_t n) {
  __m256 acc = _mm256_setzero_ps(), min_acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i)
    vec_dot_k_affine<true>(w[i].qs, w[i].qh, w[i].d, w[i].dmin, w[i].scales, a[i], acc, min_acc);
  return quant_simd::horizontal_sum(_mm256_sub_ps(acc, min_acc));
}

// The K16Layout types, one row: per half, the 4 groups' maddubs against the activation, each
// madd with the scales of its two sub-blocks (scale_pair). Q2_K's mins and the offsets of Q3_K
// and Q6_K come from the activation's bsums, as in dot_k16_4_rows; the int32 lanes are summed
// per super-block without a horizontal sum. u <= 63: maddubs pairs stay within 2 * 63 * 128,
// and |lane| < 2^26 is exact in int32.
template <typename Block>
inline float vec_dot_k16(const Block* w, const BlockQ8_K* a, int64_t n) {
  using namespace quant_simd;
  using Layout = K16Layout<Block>;
  __m256 acc = _mm256_setzero_ps(), min_acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const __m128i scales8 = Layout::scales(w[i]);
    __m256i sum = _mm256_setzero_si256();
    if constexpr (!Layout::kMins) {
      const __m256i offsets = _mm256_madd_epi16(load256(a[i].bsums), _mm256_cvtepi8_epi16(scales8));
      sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(offsets, Layout::kOffsetShift));
    }
    for (int h = 0; h < 2; ++h) {
      // Scales 8h .. 8h + 7 as int16 in both 128-bit lanes, for byte-shuffle broadcasts.
      const __m256i half_scales =
          _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(h == 0 ? scales8 : _mm_srli_si128(scales8, 8)));
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(Layout::group(w[i], h, k), load256(a[i].qs + 128 * h + 32 * k));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scale_pair(half_scales, 2 * k)));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * half(w[i].d)), _mm256_cvtepi32_ps(sum), acc);
    if constexpr (Layout::kMins) {
      const __m256i min_lanes = _mm256_madd_epi16(load256(a[i].bsums), _mm256_cvtepu8_epi16(Layout::mins(w[i])));
      min_acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * half(w[i].dmin)), _mm256_cvtepi32_ps(min_lanes), min_acc);
    }
  }
  return quant_simd::horizontal_sum(_mm256_sub_ps(acc, min_acc));
}
inline float vec_dot(const BlockQ2_K* w, const BlockQ8_K* a, int64_t n) { return vec_dot_k16(w, a, n); }
inline float vec_dot(const BlockQ3_K* w, const BlockQ8_K* a, int64_t n) { return vec_dot_k16(w, a, n); }
inline float vec_dot(const BlockQ6_K* w, const BlockQ8_K* a, int64_t n) { return vec_dot_k16(w, a, n); }


// ---------------------------------------------------------------------------------------
// Multi-row dots (decode GEMV): each pass takes 4 weight rows against the same activation
// blocks, so the activation is loaded once per 4 rows and the rows' chains are independent.
// ---------------------------------------------------------------------------------------

namespace quant_simd {

// An activation input as seen within one ThreadPool::parallel_for: a thread that derives data
// from it (scales, sums) keeps the data for the rest of the call, since the input cannot change
// during a call. Outside a pool the call id is 0, which never matches: tests that call a
// kernel directly with new contents at one address get fresh data.
struct CallInputKey {
  uint64_t call;
  const void* input;
  int64_t n_blocks, n_rows;
  uint64_t row_stride;

  static CallInputKey current(const void* input, int64_t n_blocks, int64_t n_rows = 1, uint64_t row_stride = 0) {
    return {ThreadPool::current_call(), input, n_blocks, n_rows, row_stride};
  }
  bool same_call_input(const CallInputKey& other) const {
    return call != 0 && call == other.call && input == other.input && n_blocks == other.n_blocks &&
           n_rows == other.n_rows && row_stride == other.row_stride;
  }
};

// Per-block data of a Q8_0 activation row that every Q4_0 weight row reuses: its scale as a
// float and the offset 8 sum(a), each written twice, so that one 128-bit load gives
// [s_i, s_i, s_i+1, s_i+1] for Q4_0's block pairs.
struct Q8_0RowTerms {
  std::vector<float> scale_twice;  // (n_rows, n_blocks, 2)
  std::vector<int32_t> offset_twice;  // (n_rows, n_blocks, 2)
};

// For n_rows activation rows `row_stride` bytes apart. Within one ThreadPool::parallel_for,
// a thread computes them once for all its pieces of a matrix: per piece they took 2.7% of
// TinyLlama Q4_0 decode.
inline const Q8_0RowTerms& q8_0_row_terms(const BlockQ8_0* a, int64_t n_blocks, int64_t n_rows = 1,
                                          uint64_t row_stride = 0) {
  thread_local Q8_0RowTerms terms;  // grows only: warm calls allocate nothing
  thread_local CallInputKey computed{};
  const CallInputKey key = CallInputKey::current(a, n_blocks, n_rows, row_stride);
  if (key.same_call_input(computed)) return terms;
  if (static_cast<int64_t>(terms.scale_twice.size()) < 2 * n_blocks * n_rows) {
    terms.scale_twice.resize(2 * n_blocks * n_rows);
    terms.offset_twice.resize(2 * n_blocks * n_rows);
  }
  const __m256i one = _mm256_set1_epi8(1);
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ8_0*>(reinterpret_cast<const uint8_t*>(a) + r * row_stride);
    for (int64_t i = 0; i < n_blocks; ++i) {
      const int64_t k = r * n_blocks + i;
      terms.scale_twice[2 * k] = terms.scale_twice[2 * k + 1] = half(row[i].d);
      terms.offset_twice[2 * k] = terms.offset_twice[2 * k + 1] =
          8 * horizontal_sum(dot_u8_i8(one, load256(row[i].qs)));
    }
  }
  computed = key;
  return terms;
}

inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Eight fp16 values as float lanes [a0, c0, a1, c1 | b0, d0, b1, d1], by one conversion. Each
// value goes into the register by one insert (the loads fold into them): fewer instructions
// than merging them with shifts in general registers, which in the Q4_0 decode loop took a
// quarter of the time a Zen 3 core spent per block in cache.
inline __m256 halves_acac_bdbd(uint16_t a0, uint16_t c0, uint16_t a1, uint16_t c1, uint16_t b0, uint16_t d0,
                               uint16_t b1, uint16_t d1) {
  __m128i v = _mm_cvtsi32_si128(a0);
  v = _mm_insert_epi16(v, c0, 1);
  v = _mm_insert_epi16(v, a1, 2);
  v = _mm_insert_epi16(v, c1, 3);
  v = _mm_insert_epi16(v, b0, 4);
  v = _mm_insert_epi16(v, d0, 5);
  v = _mm_insert_epi16(v, b1, 6);
  v = _mm_insert_epi16(v, d1, 7);
  return _mm256_cvtph_ps(v);
}

// Four fp16 values as float lanes [a, b, c, d | a, b, c, d].
inline __m256 halves_abcd_abcd(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return _mm256_cvtph_ps(_mm_set1_epi64x(static_cast<int64_t>(a | b << 16 | c << 32 | d << 48)));
}

// Software prefetch of the next group of rows while this one is computed: a group of
// consecutive rows is one span of memory, walked in even steps as the blocks are read, so
// its lines arrive a whole group ahead (the hardware prefetcher does poorly on 4 interleaved
// short rows: one Zen 4 core streams Q4_0 rows of 2048 from memory at 6 GB/s without it, 19
// with it). A step prefetches a fixed number of lines, the ones that end at the step's
// target, with no branch per line: the branchy loop that stopped at the span's end cost a
// dispatch-bound Q4_0 loop 4% of its speed from L2.
// The last groups of a call prefetch the rows after it too: the thread pool hands a
// thread consecutive pieces of a matrix, so they are usually its next piece's first groups
// (past the matrix's end they are only wasted; prefetches never fault).
// A span of at most kL1PrefetchSpan bytes goes to L1, a longer one to L2: a whole group ahead
// in L1 evicts the group being read. One Zen 4 core streaming from memory (32 KiB L1D, 1 MiB
// L2), rows of 2048 / 5632: F16 (16 / 44 KiB groups) 18 / 13 GB/s into L1, 24 / 26 into L2;
// Q8_0 (9 / 24 KiB) 26 / 15 into L1, 20 / 29 into L2; Q4_0
// (5 / 13 KiB) 24 / 19 into L1, 14 / 20 into L2. The define tunes it for another cache.
#ifndef LLMPP_L1_PREFETCH_SPAN
#define LLMPP_L1_PREFETCH_SPAN 12288
#endif
inline constexpr uint64_t kL1PrefetchSpan = LLMPP_L1_PREFETCH_SPAN;

// A step is kLines prefetch instructions, ascending, with kLines and the target cache (kToL1)
// fixed at compile time: with both decided at run time (a loop over the lines, a test of the
// hint, the object reloaded through a reference), one Zen 4 core ran Q4_0 decode 10-15% slower
// from L2. kLines = ceil(step / 64) covers every line of a span whose steps are at most
// 64 kLines bytes (kLines lines ending at a step's last byte join the lines of the step
// before). for_each_4_rows sizes it for dense rows; with a padded row stride the lines a step
// leaves out are left to the hardware prefetcher. Kernels step often, a few lines at a time:
// Q4_K decode, 2 threads from memory, read 86% of a streaming read in the same run fetching a
// super-block's 9 lines at once, 92% in 4 steps of 3 lines.
template <bool kToL1, int kLines>
class GroupPrefetch {
 public:
  // `group` is the span to fetch; it lies one group ahead of the one being read, or further
  // (then into L2: L1 would evict it before its turn).
  GroupPrefetch(const void* group, uint64_t span_bytes, int64_t n_steps)
      : step_(n_steps > 0 ? (span_bytes + static_cast<uint64_t>(n_steps) - 1) / static_cast<uint64_t>(n_steps) : 0),
        last_byte_(static_cast<const char*>(group) - 1) {}
  // The lines of the step's bytes (last_byte_ - step_, last_byte_], in ascending order:
  // descending bursts into L1 ran at a third of the speed.
  void step() {
    last_byte_ += step_;
#pragma GCC unroll 16
    for (int k = kLines - 1; k >= 0; --k) prefetch_line(last_byte_ - 64 * k);
  }

 private:
  // A volatile asm statement, so that the compiler keeps the lines in ascending order (it
  // reorders __builtin_prefetch freely; see step() for why the order matters).
  static void prefetch_line(const char* p) {
    if (kToL1)
      asm volatile("prefetcht0 %0" : : "m"(*p));
    else
      asm volatile("prefetcht1 %0" : : "m"(*p));
  }

  uint64_t step_;  // bytes of the span per step
  const char* last_byte_;  // the last byte of the lines fetched so far
};

// For kernels whose rows are already in cache (prefill: the first tokens brought them in).
struct NoPrefetch {
  void step() {}
};

template <typename T>
struct TypeTag {
  using type = T;
};

// body(TypeTag<GroupPrefetch<to_l1, kLines>>()): the caller's loop compiled for each target.
// Groups of span_bytes go to L1 when they are fetched one group ahead and fit kL1PrefetchSpan.
template <int kLines, typename Body>
inline void with_group_prefetch(uint64_t span_bytes, bool one_group_ahead, Body&& body) {
  if (one_group_ahead && span_bytes <= kL1PrefetchSpan)
    body(TypeTag<GroupPrefetch<true, kLines>>());
  else
    body(TypeTag<GroupPrefetch<false, kLines>>());
}

// A second stream beside the one a group ahead: into L2, about kFarPrefetchBytes ahead of the
// group being read (two groups at least). One group ahead (4.5 KiB of four Q4_0 rows of 2048)
// is too close to cover the memory latency at the rate a fast core reads. On a 2-core Zen 5,
// Q4_0 GEMV from memory read 4-8% more with 2 threads and 19% more with 1; TinyLlama decode,
// 2 threads, old and new kernels alternating in one process: Q4_0 1.03-1.11x, Q4_K_M
// 1.02-1.05x, Q8_0 1.00-1.03x at 8-16 KiB (32 KiB: Q4_0 1.00x). 0 turns it off.
#ifndef LLMPP_FAR_PREFETCH_BYTES
#define LLMPP_FAR_PREFETCH_BYTES 12288
#endif
inline constexpr uint64_t kFarPrefetchBytes = LLMPP_FAR_PREFETCH_BYTES;

// Groups of group_bytes between the group being read and the far stream's (rows that all
// alias one, stride 0, take the minimum).
inline int64_t far_prefetch_groups(uint64_t group_bytes) {
  if (group_bytes == 0) return 2;
  return std::max<int64_t>(2, static_cast<int64_t>((kFarPrefetchBytes + group_bytes / 2) / group_bytes));
}

template <typename Near, int kLines>
struct NearFarPrefetch {
  Near near;
  GroupPrefetch<false, kLines> far;
  void step() {
    near.step();
    far.step();
  }
};

// Every line of a span, toward L1 if it is short enough, else L2 (_mm_prefetch takes its hint
// as a constant).
inline void prefetch_span(const void* p, uint64_t bytes) {
  const char* c = static_cast<const char*>(p);
  if (bytes <= kL1PrefetchSpan)
    for (uint64_t offset = 0; offset < bytes; offset += 64) _mm_prefetch(c + offset, _MM_HINT_T0);
  else
    for (uint64_t offset = 0; offset < bytes; offset += 64) _mm_prefetch(c + offset, _MM_HINT_T1);
}

// Two rows' 16 bytes in one register: row a's in the low 128-bit lane, row b's in the high one.
inline __m256i load_row_pair(const uint8_t* a, const uint8_t* b) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(load128(a)), load128(b), 1);
}

// int16 lanes of the row pairs (a | b) and (c | d) -> [a, a, c, c | b, b, d, d] by 64-bit
// quarters, each the sum of two quarters of one row (the sum must fit int16: callers note why).
inline __m256i fold_row_pairs(__m256i p_ab, __m256i p_cd) {
  return _mm256_add_epi16(_mm256_unpacklo_epi64(p_ab, p_cd), _mm256_unpackhi_epi64(p_ab, p_cd));
}

// Four rows' 8 int32 lanes -> [r0, r1, r2, r3 | r0, r1, r2, r3], each lane a sum of four of
// one row's lanes (the row's total is the sum of its two lanes).
inline __m256i fold_rows_epi32(__m256i m0, __m256i m1, __m256i m2, __m256i m3) {
  const __m256i m01 = _mm256_add_epi32(_mm256_unpacklo_epi32(m0, m1), _mm256_unpackhi_epi32(m0, m1));
  const __m256i m23 = _mm256_add_epi32(_mm256_unpacklo_epi32(m2, m3), _mm256_unpackhi_epi32(m2, m3));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(m01, m23), _mm256_unpackhi_epi64(m01, m23));
}

// The store_rows_* are lambdas, not functions: passed to for_each_4_rows as functions, GCC
// called them out of line, once per 4 rows (1% of TinyLlama Q4_0 decode).

// Lanes [r0, r1, r2, r3 | r0, r1, r2, r3] -> out[0..3].
inline constexpr auto store_rows_abcd_abcd = [](__m256 acc, float* out) {
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)));
};

// Lanes [a, c, a, c | b, d, b, d] of a 4-row pass -> out[0..3] = rows a, b, c, d.
inline constexpr auto store_rows_acac_bdbd = [](__m256 acc, float* out) {
  const __m128 low = _mm256_castps256_ps128(acc), high = _mm256_extractf128_ps(acc, 1);
  const __m128 ac = _mm_add_ps(low, _mm_movehl_ps(low, low)), bd = _mm_add_ps(high, _mm_movehl_ps(high, high));
  _mm_storeu_ps(out, _mm_unpacklo_ps(ac, bd));
};

// Lanes [a, a, c, c | b, b, d, d] of a 4-row pass -> out[0..3] = rows a, b, c, d.
inline constexpr auto store_rows_aacc_bbdd = [](__m256 acc, float* out) {
  const __m128 low = _mm256_castps256_ps128(acc), high = _mm256_extractf128_ps(acc, 1);  // [a, a, c, c], [b, b, d, d]
  const __m128 pairs = _mm_hadd_ps(low, high);  // [a, c, b, d]
  _mm_storeu_ps(out, _mm_shuffle_ps(pairs, pairs, _MM_SHUFFLE(3, 1, 2, 0)));
};

}  // namespace quant_simd

// Generic: one vec_dot per row, the row two ahead prefetched.
template <typename Weight, typename Activation>
void vec_dot_rows(const Weight* w, uint64_t row_stride, const Activation* a, int64_t n, float* out, int64_t n_rows) {
  const auto* rows = reinterpret_cast<const uint8_t*>(w);
  const uint64_t row_bytes = sizeof(Weight) * static_cast<uint64_t>(n) / Weight::kBlockSize;
  for (int64_t r = 0; r < n_rows; ++r) {
    if (r + 2 < n_rows) quant_simd::prefetch_span(rows + (r + 2) * row_stride, row_bytes);
    out[r] = vec_dot(reinterpret_cast<const Weight*>(rows + r * row_stride), a, n);
  }
}

// Row r of a matrix whose rows are `row_stride` bytes apart.
template <typename Block>
inline const Block* row_at(const Block* w, uint64_t row_stride, int64_t r) {
  return reinterpret_cast<const Block*>(reinterpret_cast<const uint8_t*>(w) + r * row_stride);
}

// The loops of a decode multi-row kernel: pass(rows, prefetch) returns the 8 lanes of four
// rows, stepping `prefetch` (a quant_simd::GroupPrefetch, taken by value) kStepsPerBlock times
// per kBlocksPerStep blocks, and once for a shorter rest; store(lanes, out + r) writes their
// dots; the last n_rows % 4 rows go through vec_dot. `prepare()` runs first, only when there
// are 4 rows. `prefetch` fetches the group of 4 rows kGroupsAhead groups after the one read
// (with kGroupsAhead 1, also the group far_prefetch_groups() ahead into L2).
template <int kBlocksPerStep = 1, int kGroupsAhead = 1, int kStepsPerBlock = 1, typename Block, typename Activation,
          typename Prepare, typename Pass, typename Store>
inline void for_each_4_rows(const Block* w, uint64_t row_stride, const Activation* a, int64_t n, float* out,
                            int64_t n_rows, Prepare&& prepare, Pass&& pass, Store&& store) {
  // Lines per step of dense rows: 4 rows of kBlocksPerStep / kStepsPerBlock blocks.
  constexpr int kLines = static_cast<int>((4 * kBlocksPerStep * sizeof(Block) / kStepsPerBlock + 63) / 64);
  const int64_t n_blocks = n / Block::kBlockSize;
  const int64_t n_steps = (n_blocks * kStepsPerBlock + kBlocksPerStep - 1) / kBlocksPerStep;
  int64_t r = 0;
  if (n_rows >= 4) {
    prepare();
    quant_simd::with_group_prefetch<kLines>(4 * row_stride, kGroupsAhead == 1, [&](auto prefetch_type) {
      using Prefetch = typename decltype(prefetch_type)::type;
      const int64_t far_groups = quant_simd::far_prefetch_groups(4 * row_stride);
      for (; r + 4 <= n_rows; r += 4) {
        const Block* rows[4] = {row_at(w, row_stride, r), row_at(w, row_stride, r + 1), row_at(w, row_stride, r + 2),
                                row_at(w, row_stride, r + 3)};
        const Prefetch near(row_at(w, row_stride, r + 4 * kGroupsAhead), 4 * row_stride, n_steps);
        if constexpr (kGroupsAhead == 1 && quant_simd::kFarPrefetchBytes > 0) {
          const quant_simd::GroupPrefetch<false, kLines> far(row_at(w, row_stride, r + 4 * far_groups), 4 * row_stride,
                                                              n_steps);
          store(pass(rows, quant_simd::NearFarPrefetch<Prefetch, kLines>{near, far}), out + r);
        } else {
          store(pass(rows, near), out + r);
        }
      }
    });
  }
  for (; r < n_rows; ++r) out[r] = vec_dot(row_at(w, row_stride, r), a, n);
}

// Several activation rows (prefill): out[t * out_stride + r] = dot(weight row r, activation row t),
// activation rows `activation_stride` bytes apart. A pass takes four weight rows and four
// tokens (then single tokens for the rest), so each unpacked chunk serves four tokens; the
// four rows stay in L1 while the tokens pass (callers tile the tokens so that they stay in
// L2). pass(rows, activations, first_token, std::integral_constant<int, kTokens>, acc) adds
// token k's lanes to acc[k] (of type Acc, zeroed first); store(acc[k], out_row) writes the
// four rows' dots. kTokenGroup tokens go through a pass (8 or 4), then 4, then single ones.
template <typename Acc = __m256, int kTokenGroup = 4, typename Block, typename Activation, typename Pass,
          typename Store>
inline void for_each_rows_tokens_pass(const Block* w, uint64_t row_stride, const Activation* a,
                                      uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                      int64_t out_stride, int64_t n_rows, Pass&& pass, Store&& store) {
  const auto token = [&](int64_t t) { return row_at(a, activation_stride, t); };
  const auto run = [&](const Block* const* rows, int64_t r, int64_t t, auto tokens) {
    constexpr int kTokens = decltype(tokens)::value;
    const Activation* activations[kTokens];
    Acc acc[kTokens];
    for (int k = 0; k < kTokens; ++k) {
      activations[k] = token(t + k);
      acc[k] = Acc{};
    }
    pass(rows, activations, t, tokens, acc);
    for (int k = 0; k < kTokens; ++k) store(acc[k], out + (t + k) * out_stride + r);
  };
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    const Block* rows[4] = {row_at(w, row_stride, r), row_at(w, row_stride, r + 1), row_at(w, row_stride, r + 2),
                            row_at(w, row_stride, r + 3)};
    int64_t t = 0;
    if constexpr (kTokenGroup > 4)
      for (; t + kTokenGroup <= n_tokens; t += kTokenGroup) run(rows, r, t, std::integral_constant<int, kTokenGroup>());
    for (; t + 4 <= n_tokens; t += 4) run(rows, r, t, std::integral_constant<int, 4>());
    for (; t < n_tokens; ++t) run(rows, r, t, std::integral_constant<int, 1>());
  }
  for (; r < n_rows; ++r)
    for (int64_t t = 0; t < n_tokens; ++t) out[t * out_stride + r] = vec_dot(row_at(w, row_stride, r), token(t), n);
}

namespace quant_simd {

// Q4_0 quants of one block of four rows: two rows share one register (row 0's 16 quant bytes in
// the low lane, row 1's in the high one), so one AND / shift unpacks both.
struct Q4_0Quants {
  __m256i low01, high01, low23, high23;
};

// Four rows of Q4_0 blocks `stride` bytes apart, addressed from one pointer to row 0's block:
// a loop then advances one pointer per step, not four (with halves_acac_bdbd's inserts,
// TinyLlama Q4_0 decode on a 2-core Zen 3 ran 3-6% faster, 1-3% with either change alone).
struct Q4_0FourRows {
  uint64_t stride, stride3;  // bytes from row 0 to row 1, to row 3

  explicit Q4_0FourRows(uint64_t row_stride) : stride(row_stride), stride3(3 * row_stride) {}
  static const BlockQ4_0& at(const uint8_t* p) { return *reinterpret_cast<const BlockQ4_0*>(p); }
  const BlockQ4_0& row1(const uint8_t* p) const { return at(p + stride); }
  const BlockQ4_0& row2(const uint8_t* p) const { return at(p + 2 * stride); }
  const BlockQ4_0& row3(const uint8_t* p) const { return at(p + stride3); }
};

inline Q4_0Quants unpack_q4_0_4_rows(const Q4_0FourRows& rows, const uint8_t* p) {
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  const __m256i q01 = load_row_pair(Q4_0FourRows::at(p).qs, rows.row1(p).qs);
  const __m256i q23 = load_row_pair(rows.row2(p).qs, rows.row3(p).qs);
  return {_mm256_and_si256(q01, low_nibble), _mm256_and_si256(_mm256_srli_epi16(q01, 4), low_nibble),
          _mm256_and_si256(q23, low_nibble), _mm256_and_si256(_mm256_srli_epi16(q23, 4), low_nibble)};
}

// sum_l q a of one block of four rows as int32 lanes [r0, r0, r2, r2 | r1, r1, r3, r3]: the
// activation halves are broadcast to both lanes, and the int16 pair sums of rows (0, 1) and
// (2, 3) are folded together before the one _mm256_madd_epi16. Bounds: q <= 15, |a| <= 128, so
// a maddubs pair is at most 3840, the fold of four at most 15360 (int16), all exact.
inline __m256i q4_0_block_lanes(const Q4_0Quants& q, const BlockQ8_0& a) {
  const __m256i a_low = _mm256_broadcastsi128_si256(load128(a.qs));  // elements 0-15, both lanes
  const __m256i a_high = _mm256_broadcastsi128_si256(load128(a.qs + 16));  // elements 16-31
  const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(q.low01, a_low), _mm256_maddubs_epi16(q.high01, a_high));
  const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(q.low23, a_low), _mm256_maddubs_epi16(q.high23, a_high));
  return _mm256_madd_epi16(fold_row_pairs(p01, p23), _mm256_set1_epi16(1));
}

// Q4_0, the four rows `row_stride` bytes apart from `row0` against kTokens activation rows:
// acc[t] += token t's lanes [r0, r2, r0, r2 | r1, r3, r1, r3], each block unpacked once for all
// tokens. Blocks go in pairs: one _mm256_hadd_epi32 puts both blocks' row sums in one
// register, so the offset (q - 8) a = q a - 8 sum(a), the conversion and the FMA with the
// scales run once per two blocks (on Zen 1, decode runs 10-15% faster in cache than with one
// block per step, prefill 4%).
// scale_twice[t], offset_twice[t]: token t's rows of q8_0_row_terms; `prefetch` (by value: in
// registers, not reloaded through a reference every step) steps once per pair and once for an
// odd last block.
// Forced inline, as dot_k_affine_4_rows and dot_k16_4_rows: called out of line once per four
// rows, the prefetch streams (32 bytes, passed on the stack) were copied by a 32-byte load
// from four 8-byte stores just made, a store-forwarding stall per call (the hottest
// instruction outside the loops). TinyLlama decode, 2 threads, a 2-core Zen 5, old and new in
// one process: built -O2, Q4_0 1.00-1.06x (mean 1.03 over 8 rounds), Q4_K_M 0.99-1.08x (1.03);
// built -O3 (Release), Q4_0 0.99-1.04x (1.02 over 6), Q4_K_M 0.98-1.03x (1.00).
template <int kTokens, typename Prefetch>
__attribute__((always_inline)) inline void dot_q4_0_4_rows(const BlockQ4_0* row0, uint64_t row_stride,
                                                           const BlockQ8_0* const* a, const float* const* scale_twice,
                                                           const int32_t* const* offset_twice, int64_t n_blocks,
                                                           Prefetch prefetch, __m256* acc) {
  const Q4_0FourRows rows(row_stride);
  const auto* p = reinterpret_cast<const uint8_t*>(row0);  // row 0's block i
  constexpr uint64_t kNext = sizeof(BlockQ4_0);
  // Local copies: through the pointers the compiler must assume aliasing, and would load and
  // store the sums every step (a store-to-load chain on the FMA's dependency).
  const BlockQ8_0* activations[kTokens];
  const float* scales[kTokens];
  const int32_t* offsets[kTokens];
  __m256 sums[kTokens];
  for (int t = 0; t < kTokens; ++t) {
    activations[t] = a[t];
    scales[t] = scale_twice[t];
    offsets[t] = offset_twice[t];
    sums[t] = acc[t];
  }
  int64_t i = 0;
  for (; i + 2 <= n_blocks; i += 2, p += 2 * kNext) {
    prefetch.step();
    const Q4_0Quants first = unpack_q4_0_4_rows(rows, p), second = unpack_q4_0_4_rows(rows, p + kNext);
    const __m256 weight_scales =
        halves_acac_bdbd(Q4_0FourRows::at(p).d, rows.row2(p).d, Q4_0FourRows::at(p + kNext).d, rows.row2(p + kNext).d,
                         rows.row1(p).d, rows.row3(p).d, rows.row1(p + kNext).d, rows.row3(p + kNext).d);
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) {
      // Both lanes [x_i, x_i, x_i+1, x_i+1], as the blocks of the sums.
      const __m256i offset_lanes = _mm256_broadcastsi128_si256(load128(offsets[t] + 2 * i));
      const __m256 scale_lanes = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(scales[t] + 2 * i));
      const __m256i lanes = _mm256_sub_epi32(_mm256_hadd_epi32(q4_0_block_lanes(first, activations[t][i]),
                                                               q4_0_block_lanes(second, activations[t][i + 1])),
                                             offset_lanes);
      sums[t] = _mm256_fmadd_ps(_mm256_mul_ps(weight_scales, scale_lanes), _mm256_cvtepi32_ps(lanes), sums[t]);
    }
  }
  if (i < n_blocks) {  // an odd last block: the second block's sums and scales are zero
    prefetch.step();
    const Q4_0Quants last = unpack_q4_0_4_rows(rows, p);
    const __m256 weight_scales =
        halves_acac_bdbd(Q4_0FourRows::at(p).d, rows.row2(p).d, 0, 0, rows.row1(p).d, rows.row3(p).d, 0, 0);
    for (int t = 0; t < kTokens; ++t) {
      const __m256i lanes =
          _mm256_sub_epi32(_mm256_hadd_epi32(q4_0_block_lanes(last, activations[t][i]), _mm256_setzero_si256()),
                           _mm256_set1_epi32(offsets[t][2 * i]));
      sums[t] = _mm256_fmadd_ps(_mm256_mul_ps(weight_scales, _mm256_set1_ps(scales[t][2 * i])),
                                _mm256_cvtepi32_ps(lanes), sums[t]);
    }
  }
  for (int t = 0; t < kTokens; ++t) acc[t] = sums[t];
}

}  // namespace quant_simd

// Q4_0 decode: four rows per pass (quant_simd::dot_q4_0_4_rows with one token).
inline void vec_dot_rows(const BlockQ4_0* w, uint64_t row_stride, const BlockQ8_0* a, int64_t n, float* out,
                         int64_t n_rows) {
  using namespace quant_simd;
  const int64_t n_blocks = n / 32;
  const float* scale_twice = nullptr;
  const int32_t* offset_twice = nullptr;
  const auto prepare = [&] {
    const Q8_0RowTerms& terms = q8_0_row_terms(a, n_blocks);
    scale_twice = terms.scale_twice.data();
    offset_twice = terms.offset_twice.data();
  };
  const auto pass = [&](const BlockQ4_0* const* rows, auto prefetch) {
    __m256 acc = _mm256_setzero_ps();
    dot_q4_0_4_rows<1>(rows[0], row_stride, &a, &scale_twice, &offset_twice, n_blocks, prefetch, &acc);
    return acc;
  };
  for_each_4_rows</*kBlocksPerStep=*/2>(w, row_stride, a, n, out, n_rows, prepare, pass, store_rows_acac_bdbd);
}

// Q4_0 prefill: four rows and four tokens per pass.
inline void vec_dot_rows_tokens(const BlockQ4_0* w, uint64_t row_stride, const BlockQ8_0* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  using namespace quant_simd;
  const int64_t n_blocks = n / 32;
  const Q8_0RowTerms& terms = q8_0_row_terms(a, n_blocks, n_tokens, activation_stride);
  const auto pass = [&](const BlockQ4_0* const* rows, const BlockQ8_0* const* activations, int64_t t, auto tokens,
                        __m256* acc) {
    constexpr int kTokens = decltype(tokens)::value;
    const float* scale_twice[kTokens];
    const int32_t* offset_twice[kTokens];
    for (int k = 0; k < kTokens; ++k) {
      scale_twice[k] = terms.scale_twice.data() + 2 * (t + k) * n_blocks;
      offset_twice[k] = terms.offset_twice.data() + 2 * (t + k) * n_blocks;
    }
    dot_q4_0_4_rows<kTokens>(rows[0], row_stride, activations, scale_twice, offset_twice, n_blocks, NoPrefetch(),
                             acc);
  };
  for_each_rows_tokens_pass(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows, pass,
                            store_rows_acac_bdbd);
}

// Q8_0 decode: four rows per pass (for_each_4_rows, with its group prefetch), one block per
// step: the four rows' int32 lanes of the block fold into [r0, r1, r2, r3 | r0, r1, r2, r3],
// so one conversion and one FMA serve the four rows, against their scales d_r a_i.
// Which loop streams faster depends on the core. One Zen 4 core, rows from memory (2 MiB
// pages), as a share of a streaming read in the same run, one row per pass (sequential, left
// to the hardware prefetcher) vs four rows with the group prefetch: 2048 columns 83% vs 75%,
// 4096 87% vs 83%, 5632 77% vs 74%; two cores, 2048 columns 83% vs 80%. On a 2-core Zen 3,
// two threads: four rows read 1.18-1.20x faster (2048 columns) and 1.26-1.29x (5632), 92-100%
// of a streaming read against 73-82%, and TinyLlama Q8_0 decode ran 1.11-1.12x faster (new
// against old in one process, 80 rounds of 16 tokens). This machine kind is Zen 3 now,
// hence four rows.
inline void vec_dot_rows(const BlockQ8_0* w, uint64_t row_stride, const BlockQ8_0* a, int64_t n, float* out,
                         int64_t n_rows) {
  using namespace quant_simd;
  const int64_t n_blocks = n / 32;
  thread_local AlignedVector<float> activation_scales;  // (n_blocks): grows only
  thread_local CallInputKey converted{};  // whose scales activation_scales holds
  const CallInputKey key = CallInputKey::current(a, n_blocks);
  if (!key.same_call_input(converted)) {
    if (static_cast<int64_t>(activation_scales.size()) < n_blocks) activation_scales.resize(n_blocks);
    for (int64_t i = 0; i < n_blocks; ++i) activation_scales[i] = half(a[i].d);
    converted = key;
  }
  const float* scales = activation_scales.data();  // (n_blocks)
  const auto pass = [&](const BlockQ8_0* const* rows, auto prefetch) {
    const BlockQ8_0 *w0 = rows[0], *w1 = rows[1], *w2 = rows[2], *w3 = rows[3];
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n_blocks; ++i) {
      prefetch.step();
      // Both in [-127, 127] (a weight of -128 is exact too: |w| = 128 as unsigned).
      const __m256i y = load256(a[i].qs);
      const __m256i lanes = fold_rows_epi32(dot_i8_i8(load256(w0[i].qs), y), dot_i8_i8(load256(w1[i].qs), y),
                                            dot_i8_i8(load256(w2[i].qs), y), dot_i8_i8(load256(w3[i].qs), y));
      const __m256 scale =
          _mm256_mul_ps(halves_abcd_abcd(w0[i].d, w1[i].d, w2[i].d, w3[i].d), _mm256_broadcast_ss(scales + i));
      acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(lanes), acc);
    }
    return acc;
  };
  for_each_4_rows(w, row_stride, a, n, out, n_rows, [] {}, pass, store_rows_abcd_abcd);
}

namespace quant_simd {

// Per super-block of a Q8_K activation row, the sums of its 8 sub-blocks of 32,
// b_j = bsums[2j] + bsums[2j + 1] (|b_j| <= 32 * 128: int16), which the Q4_K / Q5_K mins multiply;
// for n_rows activation rows `row_stride` bytes apart.
struct Q8KRowTerms {
  std::vector<int16_t> sub_block_sums;  // (n_rows, n_blocks, 8)
};

inline const Q8KRowTerms& q8_k_row_terms(const BlockQ8_K* a, int64_t n_blocks, int64_t n_rows = 1,
                                         uint64_t row_stride = 0) {
  thread_local Q8KRowTerms terms;  // grows only: warm calls allocate nothing
  if (static_cast<int64_t>(terms.sub_block_sums.size()) < 8 * n_blocks * n_rows)
    terms.sub_block_sums.resize(8 * n_blocks * n_rows);
  int16_t* out = terms.sub_block_sums.data();
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ8_K*>(reinterpret_cast<const uint8_t*>(a) + r * row_stride);
    for (int64_t i = 0; i < n_blocks; ++i, out += 8) {
      const __m256i sums = _mm256_madd_epi16(load256(row[i].bsums), _mm256_set1_epi16(1));  // [b0-b3 | b4-b7]
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                       _mm_packs_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1)));
    }
  }
  return terms;
}

// The first 16 bytes of four Q4_K / Q5_K super-blocks (d, dmin, 12 bytes of packed scales),
// given in the order a, c, b, d, unpacked as scalar::unpack_scales_mins_k4_words does, four rows
// at once: scales / mins 0-3 and 4-7 with one word per row, in that order. `halves` gets the
// fp16 pairs (d, dmin) of the four rows.
struct KScalesX4 {
  __m128i halves, scales_low, scales_high, mins_low, mins_high;
};

inline KScalesX4 unpack_scales_mins_k4_x4(const void* a, const void* c, const void* b, const void* d) {
  const __m128i ra = load128(a), rc = load128(c), rb = load128(b), rd = load128(d);
  // 4x4 transpose of 32-bit words: word k of each row -> register k, rows in lanes a, c, b, d.
  const __m128i ac_low = _mm_unpacklo_epi32(ra, rc), bd_low = _mm_unpacklo_epi32(rb, rd);
  const __m128i ac_high = _mm_unpackhi_epi32(ra, rc), bd_high = _mm_unpackhi_epi32(rb, rd);
  const __m128i halves = _mm_unpacklo_epi64(ac_low, bd_low), word0 = _mm_unpackhi_epi64(ac_low, bd_low);
  const __m128i word1 = _mm_unpacklo_epi64(ac_high, bd_high), word2 = _mm_unpackhi_epi64(ac_high, bd_high);
  const __m128i low6 = _mm_set1_epi8(0x3f), low4 = _mm_set1_epi8(0x0f), low2 = _mm_set1_epi8(0x03);
  const auto top_two_bits = [&](__m128i word) {
    return _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(word, 6), low2), 4);
  };
  return {halves, _mm_and_si128(word0, low6), _mm_or_si128(_mm_and_si128(word2, low4), top_two_bits(word0)),
          _mm_and_si128(word1, low6),
          _mm_or_si128(_mm_and_si128(_mm_srli_epi32(word2, 4), low4), top_two_bits(word1))};
}

}  // namespace quant_simd

namespace quant_simd {

// Byte-shuffle masks of the Q4_K / Q5_K 4-row pass: scale j (mod 4) of rows a and c (low lane),
// b and d (high lane), each as 4 zero-extended int16, from the bytes [a0-a3, c0-c3, b0-b3,
// d0-d3] of a scales word.
struct KScaleMasks {
  __m256i mask[4];
  KScaleMasks() {
    for (int j = 0; j < 4; ++j) {
      const auto lane = [j](int first, int second) {
        const char x = static_cast<char>(first + j), y = static_cast<char>(second + j), z = -1;
        return _mm_setr_epi8(x, z, x, z, x, z, x, z, y, z, y, z, y, z, y, z);
      };
      mask[j] = _mm256_set_m128i(lane(8, 12), lane(0, 4));
    }
  }
};

// Q4_K / Q5_K, rows (a, b, c, d) against kTokens activation rows: acc[t] += token t's lanes
// [a, a, c, c | b, b, d, d]. Rows (a, b) and (c, d) share registers as in Q4_0, so the int16
// pair sums of one sub-block of all four rows fold into one register before the one
// _mm256_madd_epi16 with the four rows' scales; the mins term dmin sum_j min_j b_j takes two
// more madds per super-block. Per sub-block of 32 this is one madd for four rows where vec_dot
// needs one per row, and each chunk's quants are unpacked once for all kTokens tokens.
// Bounds: q <= 31 and |a| <= 128, so a maddubs pair is at most 7936 and the sum of four pairs
// of one row at most 31744 (int16); |scale * pairs| sums stay far inside int32.
// sub_block_sums[t]: q8_k_row_terms of token t. Forced inline: see dot_q4_0_4_rows.
template <bool kFifthBit, int kTokens, typename Block, typename Prefetch>
__attribute__((always_inline)) inline void dot_k_affine_4_rows(const Block* wa, const Block* wb, const Block* wc,
                                                               const Block* wd, const BlockQ8_K* const* a,
                                                               const int16_t* const* sub_block_sums, int64_t n_blocks,
                                                               const KScaleMasks& masks, Prefetch prefetch,
                                                               __m256* acc) {
  static_assert(offsetof(Block, scales) == 4 && sizeof(Block::scales) == 12, "d, dmin, scales lead the block");
  const __m256i low_nibble = _mm256_set1_epi8(0x0f), fifth_bit = _mm256_set1_epi8(0x10);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const KScalesX4 k = unpack_scales_mins_k4_x4(&wa[i], &wc[i], &wb[i], &wd[i]);
    const __m256i scales_low = _mm256_broadcastsi128_si256(k.scales_low);
    const __m256i scales_high = _mm256_broadcastsi128_si256(k.scales_high);
    // Fifth bits of elements l (low lane: row a or c, high: b or d) for l < 16 and l >= 16,
    // shifted right by 2 per chunk as in unpack_k_chunk.
    __m256i high_bits[4];
    if constexpr (kFifthBit) {
      high_bits[0] = load_row_pair(wa[i].qh, wb[i].qh);
      high_bits[1] = load_row_pair(wa[i].qh + 16, wb[i].qh + 16);
      high_bits[2] = load_row_pair(wc[i].qh, wd[i].qh);
      high_bits[3] = load_row_pair(wc[i].qh + 16, wd[i].qh + 16);
    }
    __m256i sum[kTokens];
    #pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) sum[t] = _mm256_setzero_si256();
    #pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      prefetch.step();
      // Quants of elements 64c + 16h + l (low nibbles of bytes 32c + 16h + l, sub-block 2c) and
      // 64c + 32 + 16h + l (high nibbles, sub-block 2c + 1), for the pairs (a, b) and (c, d).
      __m256i q_low[2][2], q_high[2][2];  // [pair][h]
      const Block* pairs[2][2] = {{&wa[i], &wb[i]}, {&wc[i], &wd[i]}};
      #pragma GCC unroll 4
      for (int pair = 0; pair < 2; ++pair)
        #pragma GCC unroll 4
        for (int h = 0; h < 2; ++h) {
          const __m256i q = load_row_pair(pairs[pair][0]->qs + 32 * c + 16 * h, pairs[pair][1]->qs + 32 * c + 16 * h);
          q_low[pair][h] = _mm256_and_si256(q, low_nibble);
          q_high[pair][h] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_nibble);
          if constexpr (kFifthBit) {
            const __m256i bits = high_bits[2 * pair + h];
            q_low[pair][h] = _mm256_or_si256(q_low[pair][h], _mm256_and_si256(_mm256_slli_epi16(bits, 4), fifth_bit));
            q_high[pair][h] = _mm256_or_si256(q_high[pair][h], _mm256_and_si256(_mm256_slli_epi16(bits, 3), fifth_bit));
          }
        }
      if constexpr (kFifthBit)
        for (__m256i& bits : high_bits) bits = _mm256_srli_epi16(bits, 2);
      const __m256i scales = c < 2 ? scales_low : scales_high;
      const __m256i scale_low = _mm256_shuffle_epi8(scales, masks.mask[(2 * c) % 4]);
      const __m256i scale_high = _mm256_shuffle_epi8(scales, masks.mask[(2 * c + 1) % 4]);
      #pragma GCC unroll 4
      for (int t = 0; t < kTokens; ++t) {
        const int8_t* x = a[t][i].qs + 64 * c;
        __m256i p_low[2], p_high[2];  // [pair]
        #pragma GCC unroll 4
        for (int pair = 0; pair < 2; ++pair) {
          p_low[pair] = _mm256_add_epi16(_mm256_maddubs_epi16(q_low[pair][0], _mm256_broadcastsi128_si256(load128(x))),
                                         _mm256_maddubs_epi16(q_low[pair][1], _mm256_broadcastsi128_si256(load128(x + 16))));
          p_high[pair] =
              _mm256_add_epi16(_mm256_maddubs_epi16(q_high[pair][0], _mm256_broadcastsi128_si256(load128(x + 32))),
                               _mm256_maddubs_epi16(q_high[pair][1], _mm256_broadcastsi128_si256(load128(x + 48))));
        }
        sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(fold_row_pairs(p_low[0], p_low[1]), scale_low));
        sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(fold_row_pairs(p_high[0], p_high[1]), scale_high));
      }
    }
    // sum_j min_j b_j: the mins as int16 [a, c | b, d] (4 each) against [b0-b3] and [b4-b7].
    const __m256i mins_low = _mm256_cvtepu8_epi16(k.mins_low), mins_high = _mm256_cvtepu8_epi16(k.mins_high);
    // (d, dmin) of rows [a, c, b, d] -> d and dmin at lanes [a, a, c, c | b, b, d, d].
    const __m256 halves = _mm256_cvtph_ps(k.halves);
    const __m256 d = _mm256_permute_ps(halves, 0xa0), dmin = _mm256_permute_ps(halves, 0xf5);
    #pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) {
      const int16_t* b = sub_block_sums[t] + 8 * i;
      int64_t b_low, b_high;
      std::memcpy(&b_low, b, 8);
      std::memcpy(&b_high, b + 4, 8);
      const __m256i mins = _mm256_add_epi32(_mm256_madd_epi16(mins_low, _mm256_set1_epi64x(b_low)),
                                            _mm256_madd_epi16(mins_high, _mm256_set1_epi64x(b_high)));
      const __m256 activation_scale = _mm256_set1_ps(a[t][i].d);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, activation_scale), _mm256_cvtepi32_ps(sum[t]), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, activation_scale), _mm256_cvtepi32_ps(mins), acc[t]);
    }
  }
}

}  // namespace quant_simd

// Q4_K / Q5_K decode: four rows per pass (quant_simd::dot_k_affine_4_rows with one token).
template <bool kFifthBit, typename Block>
inline void vec_dot_rows_k_affine(const Block* w, uint64_t row_stride, const BlockQ8_K* a, int64_t n, float* out,
                                  int64_t n_rows) {
  using namespace quant_simd;
  const int64_t n_blocks = n / 256;
  const int16_t* sub_block_sums = nullptr;
  const KScaleMasks masks;
  const auto pass = [&](const Block* const* rows, auto prefetch) {
    __m256 acc = _mm256_setzero_ps();
    dot_k_affine_4_rows<kFifthBit, 1>(rows[0], rows[1], rows[2], rows[3], &a, &sub_block_sums, n_blocks, masks,
                                      prefetch, &acc);
    return acc;
  };
  for_each_4_rows</*kBlocksPerStep=*/1, /*kGroupsAhead=*/1, /*kStepsPerBlock=*/4>(
      w, row_stride, a, n, out, n_rows, [&] { sub_block_sums = q8_k_row_terms(a, n_blocks).sub_block_sums.data(); },
      pass, store_rows_aacc_bbdd);
}

template <bool kFifthBit, typename Block>
inline void vec_dot_rows_tokens_k_affine(const Block* w, uint64_t row_stride, const BlockQ8_K* a,
                                         uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                         int64_t out_stride, int64_t n_rows) {
  using namespace quant_simd;
  const int64_t n_blocks = n / 256;
  const int16_t* sub_block_sums = q8_k_row_terms(a, n_blocks, n_tokens, activation_stride).sub_block_sums.data();
  const KScaleMasks masks;
  const auto pass = [&](const Block* const* rows, const BlockQ8_K* const* activations, int64_t t, auto tokens,
                        __m256* acc) {
    constexpr int kTokens = decltype(tokens)::value;
    const int16_t* sums[kTokens];
    for (int k = 0; k < kTokens; ++k) sums[k] = sub_block_sums + (t + k) * n_blocks * 8;
    dot_k_affine_4_rows<kFifthBit, kTokens>(rows[0], rows[1], rows[2], rows[3], activations, sums, n_blocks, masks,
                                            NoPrefetch(), acc);
  };
  for_each_rows_tokens_pass(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows, pass,
                            store_rows_aacc_bbdd);
}

inline void vec_dot_rows(const BlockQ4_K* w, uint64_t row_stride, const BlockQ8_K* a, int64_t n, float* out,
                         int64_t n_rows) {
  vec_dot_rows_k_affine<false>(w, row_stride, a, n, out, n_rows);
}

inline void vec_dot_rows(const BlockQ5_K* w, uint64_t row_stride, const BlockQ8_K* a, int64_t n, float* out,
                         int64_t n_rows) {
  vec_dot_rows_k_affine<true>(w, row_stride, a, n, out, n_rows);
}

inline void vec_dot_rows_tokens(const BlockQ4_K* w, uint64_t row_stride, const BlockQ8_K* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  vec_dot_rows_tokens_k_affine<false>(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows);
}

inline void vec_dot_rows_tokens(const BlockQ5_K* w, uint64_t row_stride, const BlockQ8_K* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  vec_dot_rows_tokens_k_affine<true>(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows);
}

namespace quant_simd {

// Byte-shuffle masks over a Q6_K row pair's scale table [first row: 4 int16 | second row: 4
// int16]: for group k, the first row's scale 2(k mod 2) and the second's in the low lane, scale
// 2(k mod 2) + 1 of each in the high lane, 4 copies each.
struct Q6KScaleMasks {
  __m256i mask[2];
  Q6KScaleMasks() {
    for (int k = 0; k < 2; ++k) {
      const auto lane = [](int first, int second) {
        const char x0 = static_cast<char>(2 * first), x1 = static_cast<char>(2 * first + 1);
        const char y0 = static_cast<char>(2 * second), y1 = static_cast<char>(2 * second + 1);
        return _mm_setr_epi8(x0, x1, x0, x1, x0, x1, x0, x1, y0, y1, y0, y1, y0, y1, y0, y1);
      };
      mask[k] = _mm256_set_m128i(lane(2 * k + 1, 4 + 2 * k + 1), lane(2 * k, 4 + 2 * k));
    }
  }
};

// Rows w[0..3] of a K16Layout type against kTokens activation rows: acc[t] += token t's lanes
// [r0, r1, r2, r3 | r0, r1, r2, r3]. Each group of 32 quants gives one maddubs per row and token
// (sub-block 2k in the low lane, 2k + 1 in the high one); rows (0, 1) and (2, 3) are folded by
// pairs before the madd with their scales, half the madds of vec_dot, and each group is unpacked
// once for all tokens. Only pairs: u <= 63 and |a| <= 128 make a maddubs pair at most 16128,
// two of them 32256 (int16). Forced inline: see dot_q4_0_4_rows.
template <typename Block, int kTokens, typename Prefetch>
__attribute__((always_inline)) inline void dot_k16_4_rows(const Block* const* w, const BlockQ8_K* const* a,
                                                          int64_t n_blocks, const Q6KScaleMasks& masks,
                                                          Prefetch prefetch, __m256* acc) {
  using Layout = K16Layout<Block>;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const Block *w0 = &w[0][i], *w1 = &w[1][i], *w2 = &w[2][i], *w3 = &w[3][i];
    __m256i sum01[kTokens], sum23[kTokens];  // [r0, r0, r1, r1 | same], [r2, r2, r3, r3 | same]
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) sum01[t] = sum23[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      // Scales 8h .. 8h + 7 of each row as int16; a pair's table for groups (0, 1) and (2, 3).
      const auto half_scales = [h](const Block* b) {
        const __m128i sc = Layout::scales(*b);
        return _mm_cvtepi8_epi16(h == 0 ? sc : _mm_srli_si128(sc, 8));
      };
      const __m128i s0 = half_scales(w0), s1 = half_scales(w1), s2 = half_scales(w2), s3 = half_scales(w3);
      const __m256i tables01[2] = {_mm256_broadcastsi128_si256(_mm_unpacklo_epi64(s0, s1)),
                                   _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(s0, s1))};
      const __m256i tables23[2] = {_mm256_broadcastsi128_si256(_mm_unpacklo_epi64(s2, s3)),
                                   _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(s2, s3))};
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        prefetch.step();
        const __m256i q0 = Layout::group(*w0, h, k), q1 = Layout::group(*w1, h, k);
        const __m256i q2 = Layout::group(*w2, h, k), q3 = Layout::group(*w3, h, k);
        const __m256i scale01 = _mm256_shuffle_epi8(tables01[k >> 1], masks.mask[k & 1]);
        const __m256i scale23 = _mm256_shuffle_epi8(tables23[k >> 1], masks.mask[k & 1]);
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) {
          const __m256i x = load256(a[t][i].qs + 128 * h + 32 * k);
          const __m256i p0 = _mm256_maddubs_epi16(q0, x), p1 = _mm256_maddubs_epi16(q1, x);
          const __m256i p2 = _mm256_maddubs_epi16(q2, x), p3 = _mm256_maddubs_epi16(q3, x);
          sum01[t] = _mm256_add_epi32(sum01[t], _mm256_madd_epi16(fold_row_pairs(p0, p1), scale01));
          sum23[t] = _mm256_add_epi32(sum23[t], _mm256_madd_epi16(fold_row_pairs(p2, p3), scale23));
        }
      }
    }
    // Per token: sum_j c_j bsum_j of each row, folded to [r0, r1, r2, r3 | r0, r1, r2, r3], with
    // c the scales (the offset term) or the mins (Q2_K).
    const auto per_row_bsum_terms = [](__m256i bsums, __m256i c0, __m256i c1, __m256i c2, __m256i c3) {
      return fold_rows_epi32(_mm256_madd_epi16(bsums, c0), _mm256_madd_epi16(bsums, c1),
                             _mm256_madd_epi16(bsums, c2), _mm256_madd_epi16(bsums, c3));
    };
    const __m256 d = halves_abcd_abcd(w0->d, w1->d, w2->d, w3->d);
    if constexpr (Layout::kMins) {
      const __m256i m0 = _mm256_cvtepu8_epi16(Layout::mins(*w0)), m1 = _mm256_cvtepu8_epi16(Layout::mins(*w1));
      const __m256i m2 = _mm256_cvtepu8_epi16(Layout::mins(*w2)), m3 = _mm256_cvtepu8_epi16(Layout::mins(*w3));
      const __m256 dmin = halves_abcd_abcd(w0->dmin, w1->dmin, w2->dmin, w3->dmin);
#pragma GCC unroll 4
      for (int t = 0; t < kTokens; ++t) {
        const __m256 a_d = _mm256_set1_ps(a[t][i].d);
        const __m256i min_lanes = per_row_bsum_terms(load256(a[t][i].bsums), m0, m1, m2, m3);
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, a_d), _mm256_cvtepi32_ps(_mm256_hadd_epi32(sum01[t], sum23[t])),
                                 acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, a_d), _mm256_cvtepi32_ps(min_lanes), acc[t]);
      }
    } else {
      const __m256i scales0 = _mm256_cvtepi8_epi16(Layout::scales(*w0));
      const __m256i scales1 = _mm256_cvtepi8_epi16(Layout::scales(*w1));
      const __m256i scales2 = _mm256_cvtepi8_epi16(Layout::scales(*w2));
      const __m256i scales3 = _mm256_cvtepi8_epi16(Layout::scales(*w3));
#pragma GCC unroll 4
      for (int t = 0; t < kTokens; ++t) {
        const __m256i offsets = per_row_bsum_terms(load256(a[t][i].bsums), scales0, scales1, scales2, scales3);
        const __m256i lanes =
            _mm256_sub_epi32(_mm256_hadd_epi32(sum01[t], sum23[t]), _mm256_slli_epi32(offsets, Layout::kOffsetShift));
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a[t][i].d)), _mm256_cvtepi32_ps(lanes), acc[t]);
      }
    }
  }
}

}  // namespace quant_simd

// Decode of the K16Layout types: four rows per pass (quant_simd::dot_k16_4_rows with one token).
// Q6_K prefetches two groups ahead into L2: one Zen 4 core streamed Q6_K rows of 2048 (the
// output head of TinyLlama's Q4_K_M) from memory at 13 GB/s fetching one group ahead into L1, 17
// into L2, 22 two groups ahead into L2 (rows of 5632: 22 in all three). The other types lose 2-3
// GB/s from the change at 2048.
template <typename Block>
inline void vec_dot_rows_k16(const Block* w, uint64_t row_stride, const BlockQ8_K* a, int64_t n, float* out,
                             int64_t n_rows) {
  using namespace quant_simd;
  const Q6KScaleMasks masks;
  const auto pass = [&](const Block* const* rows, auto prefetch) {
    __m256 acc = _mm256_setzero_ps();
    dot_k16_4_rows<Block, 1>(rows, &a, n / 256, masks, prefetch, &acc);
    return acc;
  };
  for_each_4_rows</*kBlocksPerStep=*/1, /*kGroupsAhead=*/2, /*kStepsPerBlock=*/8>(w, row_stride, a, n, out, n_rows,
                                                                                 [] {}, pass, store_rows_abcd_abcd);
}
inline void vec_dot_rows(const BlockQ2_K* w, uint64_t row_stride, const BlockQ8_K* a, int64_t n, float* out,
                         int64_t n_rows) {
  vec_dot_rows_k16(w, row_stride, a, n, out, n_rows);
}
inline void vec_dot_rows(const BlockQ3_K* w, uint64_t row_stride, const BlockQ8_K* a, int64_t n, float* out,
                         int64_t n_rows) {
  vec_dot_rows_k16(w, row_stride, a, n, out, n_rows);
}
inline void vec_dot_rows(const BlockQ6_K* w, uint64_t row_stride, const BlockQ8_K* a, int64_t n, float* out,
                         int64_t n_rows) {
  vec_dot_rows_k16(w, row_stride, a, n, out, n_rows);
}

// Prefill of the K16Layout types: four rows and four tokens per pass, as for Q4_K.
template <typename Block>
inline void vec_dot_rows_tokens_k16(const Block* w, uint64_t row_stride, const BlockQ8_K* a,
                                    uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                    int64_t out_stride, int64_t n_rows) {
  using namespace quant_simd;
  const int64_t n_blocks = n / 256;
  const Q6KScaleMasks masks;
  const auto pass = [&](const Block* const* rows, const BlockQ8_K* const* activations, int64_t, auto tokens,
                        __m256* acc) {
    dot_k16_4_rows<Block, decltype(tokens)::value>(rows, activations, n_blocks, masks, NoPrefetch(), acc);
  };
  for_each_rows_tokens_pass(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows, pass,
                            store_rows_abcd_abcd);
}
inline void vec_dot_rows_tokens(const BlockQ2_K* w, uint64_t row_stride, const BlockQ8_K* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  vec_dot_rows_tokens_k16(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows);
}
inline void vec_dot_rows_tokens(const BlockQ3_K* w, uint64_t row_stride, const BlockQ8_K* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  vec_dot_rows_tokens_k16(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows);
}
inline void vec_dot_rows_tokens(const BlockQ6_K* w, uint64_t row_stride, const BlockQ8_K* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  vec_dot_rows_tokens_k16(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows);
}

// The types whose vec_dot_rows_tokens unpacks each weight block once for several tokens (see
// scalar::kMultiTokenDot).
template <typename Weight>
inline constexpr bool kMultiTokenDot = false;
template <>
inline constexpr bool kMultiTokenDot<BlockQ4_0> = true;
template <>
inline constexpr bool kMultiTokenDot<BlockQ4_K> = true;
template <>
inline constexpr bool kMultiTokenDot<BlockQ5_K> = true;
template <>
inline constexpr bool kMultiTokenDot<BlockQ6_K> = true;
template <>
inline constexpr bool kMultiTokenDot<BlockQ2_K> = true;
template <>
inline constexpr bool kMultiTokenDot<BlockQ3_K> = true;

namespace quant_simd {
// Float rows: four independent FMA chains of eight lanes.
template <typename Load8, typename LoadOne>
float dot_float_row(Load8 load8, LoadOne load_one, const float* x, int64_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load8(i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load8(i), _mm256_loadu_ps(x + i), acc[0]);
  float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += load_one(i) * x[i];
  return sum;
}

inline __m256 load_bf16x8(const uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));  // bf16 is the top half of a float
}
inline __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
}  // namespace quant_simd

inline float dot_f32(const float* w, const float* x, int64_t n) {
  return quant_simd::dot_float_row([w](int64_t i) { return _mm256_loadu_ps(w + i); },
                                   [w](int64_t i) { return w[i]; }, x, n);
}
inline float dot_f16(const uint16_t* w, const float* x, int64_t n) {
  return quant_simd::dot_float_row([w](int64_t i) { return quant_simd::load_f16x8(w + i); },
                                   [w](int64_t i) { return fp16_to_fp32(w[i]); }, x, n);
}
inline float dot_bf16(const uint16_t* w, const float* x, int64_t n) {
  return quant_simd::dot_float_row([w](int64_t i) { return quant_simd::load_bf16x8(w + i); },
                                   [w](int64_t i) { return bf16_to_fp32(w[i]); }, x, n);
}

namespace quant_simd {

// Rows whose activation takes at most this many bytes go one at a time (dot_16bit_rows).
// One Zen 4 core reading F16 rows from memory (2 MiB pages, activation 64-byte aligned), as a
// share of a streaming read in the same run: 2048 columns 90% one row at a time vs 81% four
// rows at a time with the group prefetch; 3072: 87% vs 84%; 4096: 57% vs 80% (the activation
// and the weights streaming past it no longer share the 32 KiB L1 well); 5632: 44% vs 82%.
// (Eight rows at a time, now the loop for longer rows, read rows of 2048 / 3072 at 22-24 GB/s
// where one row at a time read 25-29.)
inline constexpr int64_t kOneRowMaxActivationBytes = 12288;

// Intel's L2 streamer stops at every 4 KiB page, and a row of 2048 F16 weights is one page,
// so without help each row starts cold. The one-row loop prefetches 4 KiB ahead: TinyLlama F16
// decode, 2 threads, a 2-core Xeon (family 6 model 207, Emerald Rapids), old and new in one
// process, 1.28-1.30x (512 bytes ahead 1.07x, 1 KiB 1.16x, 2 KiB 1.28x, 8 KiB 1.32x). Eight
// rows per pass for every length was as fast there (1.00x against this), but on Zen 4 it
// reads rows of 2048 10% slower than one row at a time.
inline constexpr uint64_t kOneRowPrefetchBytes = 4096;

// 16-bit float rows over their first n16 elements (a multiple of 16). widen(p, low, high)
// gives the 16 weights at p as two float vectors matching x16[0-7] and x16[8-15] of the same
// 16.
// A short activation (kOneRowMaxActivationBytes) that starts on 32 bytes is read again for
// every row, which stays in L1, while the rows are read one after another: one sequential
// stream, which the hardware prefetcher follows better than several rows side by side (4 FMA
// chains of 8). Otherwise 8 rows per pass, each pair of activation vectors loaded once for the
// 8 rows, the next group prefetched. A longer activation no longer fits L1 beside the weights
// streaming past it, so its loads come from L2, and 8 rows halve them against 4: one Zen 4
// core from memory, rows of 4096 / 5632, 22.4-23.8 / 20.7-22.6 GB/s against 19.4-21.2 /
// 18.4-20.2 for 4 rows per pass (6 to 12 rows measured, 8 best); TinyLlama F16 decode with 2
// threads 1.03-1.05x in the rounds at 22-24 tokens/s (the host's high-bandwidth state), 1.00x
// at 16.5, because its down projection (rows of 5632) had read memory at 55-58% of the
// bandwidth where the other matrices read at 75-85%.
// (An activation 16 bytes off 32 splits every other load over two cache lines, which costs the
// one-row loop more than it gains: one core, a 63488 x 2048 matrix from memory, 16.3-17.8 GB/s
// against 24.0-24.4 for the four-row loop; the eight-row loop reads it as fast, 22.7-23.2
// against 22.1-22.7 in one run.)
template <typename Widen>
void dot_16bit_rows(const uint16_t* w, uint64_t row_stride, const float* x16, int64_t n16, float* out, int64_t n_rows,
                    Widen widen) {
  const auto row = [&](int64_t r) {
    return reinterpret_cast<const uint16_t*>(reinterpret_cast<const uint8_t*>(w) + r * row_stride);
  };
  const bool one_row = n16 * static_cast<int64_t>(sizeof(float)) <= kOneRowMaxActivationBytes &&
                       reinterpret_cast<uintptr_t>(x16) % 32 == 0;
  // The one-row loop prefetches the line it will read kOneRowPrefetchBytes later (whole rows
  // ahead, at the same offset in the row).
  const uint64_t prefetch_ahead =
      row_stride == 0 ? kOneRowPrefetchBytes : row_stride * std::max<uint64_t>(1, kOneRowPrefetchBytes / row_stride);
  int64_t r = 0;
  for (; one_row && r < n_rows; ++r) {
    const uint16_t* p = row(r);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n16; i += 32) {
      _mm_prefetch(reinterpret_cast<const char*>(p + i) + prefetch_ahead, _MM_HINT_T0);
      __m256 w0, w1, w2, w3;
      widen(p + i, w0, w1);
      widen(p + i + 16, w2, w3);
      acc[0] = _mm256_fmadd_ps(w0, _mm256_load_ps(x16 + i), acc[0]);
      acc[1] = _mm256_fmadd_ps(w1, _mm256_load_ps(x16 + i + 8), acc[1]);
      acc[2] = _mm256_fmadd_ps(w2, _mm256_load_ps(x16 + i + 16), acc[2]);
      acc[3] = _mm256_fmadd_ps(w3, _mm256_load_ps(x16 + i + 24), acc[3]);
    }
    if (i < n16) {  // an odd 16
      __m256 w0, w1;
      widen(p + i, w0, w1);
      acc[0] = _mm256_fmadd_ps(w0, _mm256_load_ps(x16 + i), acc[0]);
      acc[1] = _mm256_fmadd_ps(w1, _mm256_load_ps(x16 + i + 8), acc[1]);
    }
    out[r] = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  }
  // A step reads 16 elements of 8 rows: 256 bytes, 4 lines.
  with_group_prefetch<4>(8 * row_stride, /*one_group_ahead=*/true, [&](auto prefetch_type) {
    using Prefetch = typename decltype(prefetch_type)::type;
    for (; r + 8 <= n_rows; r += 8) {
      const uint16_t* rows[8];
      for (int k = 0; k < 8; ++k) rows[k] = row(r + k);
      Prefetch prefetch(row(r + 8), 8 * row_stride, n16 / 16);
      __m256 acc[8];  // one FMA chain per row: 8 chains hide the FMA latency
      for (auto& a : acc) a = _mm256_setzero_ps();
      for (int64_t i = 0; i < n16; i += 16) {
        prefetch.step();
        const __m256 x0 = _mm256_loadu_ps(x16 + i), x1 = _mm256_loadu_ps(x16 + i + 8);
        for (int k = 0; k < 8; ++k) {
          __m256 low, high;
          widen(rows[k] + i, low, high);
          acc[k] = _mm256_fmadd_ps(high, x1, _mm256_fmadd_ps(low, x0, acc[k]));
        }
      }
      for (int k = 0; k < 8; ++k) out[r + k] = horizontal_sum(acc[k]);
    }
  });
  for (; r < n_rows; ++r) {
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t i = 0; i < n16; i += 16) {
      __m256 low, high;
      widen(row(r) + i, low, high);
      acc[0] = _mm256_fmadd_ps(low, _mm256_loadu_ps(x16 + i), acc[0]);
      acc[1] = _mm256_fmadd_ps(high, _mm256_loadu_ps(x16 + i + 8), acc[1]);
    }
    out[r] = horizontal_sum(_mm256_add_ps(acc[0], acc[1]));
  }
}

// out[r] += the products of elements [n16, n) of row r, for the n % 16 that dot_16bit_rows leaves.
template <typename ToFloat>
void add_16bit_row_tails(const uint16_t* w, uint64_t row_stride, const float* x, int64_t n16, int64_t n, float* out,
                         int64_t n_rows, ToFloat to_float) {
  if (n16 == n) return;
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* row = reinterpret_cast<const uint16_t*>(reinterpret_cast<const uint8_t*>(w) + r * row_stride);
    for (int64_t j = n16; j < n; ++j) out[r] += to_float(row[j]) * x[j];
  }
}

// BF16 by shuffles: vpunpck{l,h}wd with zero puts each BF16 value in the top half of a 32-bit
// lane, which is its float exactly, at one shuffle per 8 values where vpmovzxwd + vpslld (and
// F16's vcvtph2ps) take about 3.3 cycles per 8 on Zen 1. The unpacks take elements [0-3, 8-11]
// and [4-7, 12-15] of each 16, so the activation is permuted once per call to match. (F16 that
// way needs a vpmaddwd or shift and an AND more per 8 values, a 2^112 activation scale, and
// reads exponent 31 (inf, NaN) as finite: it measured 25-35% faster on one core but no faster
// with two, where memory bounds both, so F16 keeps vcvtph2ps.)
inline void widen_bf16x16(const uint16_t* p, __m256& low, __m256& high) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), zero = _mm256_setzero_si256();
  low = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, v));  // elements 0-3, 8-11
  high = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, v));  // elements 4-7, 12-15
}

// The activation's first n16 (a multiple of 16) values in widen_bf16x16's order.
inline void permute_for_bf16x16(const float* x, int64_t n16, float* permuted) {
  for (int64_t i = 0; i < n16; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    _mm256_storeu_ps(permuted + i, _mm256_permute2f128_ps(a, b, 0x20));  // x0-3, x8-11
    _mm256_storeu_ps(permuted + i + 8, _mm256_permute2f128_ps(a, b, 0x31));  // x4-7, x12-15
  }
}

}  // namespace quant_simd

inline void dot_f16_rows(const uint16_t* w, uint64_t row_stride, const float* x, int64_t n, float* out,
                         int64_t n_rows) {
  using namespace quant_simd;
  const int64_t n16 = n / 16 * 16;
  dot_16bit_rows(w, row_stride, x, n16, out, n_rows, [](const uint16_t* p, __m256& low, __m256& high) {
    low = load_f16x8(p);
    high = load_f16x8(p + 8);
  });
  add_16bit_row_tails(w, row_stride, x, n16, n, out, n_rows, fp16_to_fp32);
}

// BF16 against the permuted activation; in cache (one core, 64 rows x 2048) 22 GB/s against
// 12.5 for one row at a time by vpmovzxwd + vpslld.
inline void dot_bf16_rows(const uint16_t* w, uint64_t row_stride, const float* x, int64_t n, float* out,
                          int64_t n_rows) {
  using namespace quant_simd;
  thread_local AlignedVector<float> permuted;  // (n16): grows only, warm calls allocate nothing
  const int64_t n16 = n / 16 * 16;
  if (static_cast<int64_t>(permuted.size()) < n16) permuted.resize(n16);
  permute_for_bf16x16(x, n16, permuted.data());
  // A lambda, not the function's address: Widen must be a type the compiler inlines.
  dot_16bit_rows(w, row_stride, permuted.data(), n16, out, n_rows,
                 [](const uint16_t* p, __m256& low, __m256& high) { widen_bf16x16(p, low, high); });
  add_16bit_row_tails(w, row_stride, x, n16, n, out, n_rows, bf16_to_fp32);
}

// ---------------------------------------------------------------------------------------
// Dequantizers (prefill tiles) and 16-bit float encoders
// ---------------------------------------------------------------------------------------

inline void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, quant_simd::load_f16x8(x + i));
  for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

inline void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, quant_simd::load_bf16x8(x + i));
  for (; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

inline void quantize_row_f16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

using scalar::quantize_row_bf16;

// 32 int8 lanes to 32 floats, y = scale * q + offset; lanes 0-15 use (scale0, offset0),
// lanes 16-31 (scale1, offset1).
inline void store_scaled_i8(__m256i q, __m256 scale0, __m256 offset0, __m256 scale1, __m256 offset1, float* y) {
  const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int k = 0; k < 4; ++k)
    _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(k < 2 ? scale0 : scale1,
                                                _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k])),
                                                k < 2 ? offset0 : offset1));
}
inline void store_scaled_i8(__m256i q, float scale, float offset, float* y) {
  store_scaled_i8(q, _mm256_set1_ps(scale), _mm256_set1_ps(offset), _mm256_set1_ps(scale), _mm256_set1_ps(offset), y);
}

// d (q - 8) as d q - 8 d: both products are exact in float, so the FMA rounds once, like
// the scalar twin (likewise Q5_0).
inline void dequantize_row(const BlockQ4_0* x, float* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 32; ++i, y += 32) {
    const float d = half(x[i].d);
    store_scaled_i8(unpack_nibbles32(x[i].qs), d, -8.0f * d, y);
  }
}

inline void dequantize_row(const BlockQ4_1* x, float* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 32; ++i, y += 32)
    store_scaled_i8(unpack_nibbles32(x[i].qs), half(x[i].d), half(x[i].m), y);
}

inline void dequantize_row(const BlockQ5_0* x, float* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 32; ++i, y += 32) {
    const float d = half(x[i].d);
    store_scaled_i8(unpack_q5(x[i].qs, x[i].qh), d, -16.0f * d, y);
  }
}

inline void dequantize_row(const BlockQ5_1* x, float* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 32; ++i, y += 32)
    store_scaled_i8(unpack_q5(x[i].qs, x[i].qh), half(x[i].d), half(x[i].m), y);
}

inline void dequantize_row(const BlockQ8_0* x, float* y, int64_t n) {
  using namespace quant_simd;
  for (int64_t i = 0; i < n / 32; ++i, y += 32) store_scaled_i8(load256(x[i].qs), half(x[i].d), 0.0f, y);
}

// y = d scale_j q - dmin min_j, as scalar::dequantize_k_affine.
template <bool kFifthBit>
inline void dequantize_k_affine(const uint8_t* qs, const uint8_t* qh, uint16_t d_bits, uint16_t dmin_bits,
                                const uint8_t* packed_scales, float* y) {
  using namespace quant_simd;
  uint8_t scales[8], mins[8];
  scalar::unpack_scales_mins_k4(packed_scales, scales, mins);
  const float d = half(d_bits), dmin = half(dmin_bits);
  __m256i high_bits = kFifthBit ? load256(qh) : _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c, high_bits = _mm256_srli_epi16(high_bits, 2)) {
    __m256i q_low, q_high;
    unpack_k_chunk<kFifthBit>(qs, c, high_bits, q_low, q_high);
    store_scaled_i8(q_low, d * scales[2 * c], -(dmin * mins[2 * c]), y + 64 * c);
    store_scaled_i8(q_high, d * scales[2 * c + 1], -(dmin * mins[2 * c + 1]), y + 64 * c + 32);
  }
}

inline void dequantize_row(const BlockQ4_K* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / 256; ++i)
    dequantize_k_affine<false>(x[i].qs, nullptr, x[i].d, x[i].dmin, x[i].scales, y + 256 * i);
}

inline void dequantize_row(const BlockQ5_K* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / 256; ++i)
    dequantize_k_affine<true>(x[i].qs, x[i].qh, x[i].d, x[i].dmin, x[i].scales, y + 256 * i);
}

// The K16Layout types: each group of 32 quants is sub-blocks j and j + 1, y = d scale_j q
// (q = u - offset) or, for Q2_K, d scale_j u - dmin min_j.
template <typename Block>
inline void dequantize_row_k16(const Block* x, float* y, int64_t n) {
  using namespace quant_simd;
  using Layout = K16Layout<Block>;
  for (int64_t i = 0; i < n / 256; ++i, y += 256) {
    const float d = half(x[i].d);
    int8_t scales[16], mins[16] = {};
    _mm_storeu_si128(reinterpret_cast<__m128i*>(scales), Layout::scales(x[i]));
    float dmin = 0.0f;
    if constexpr (Layout::kMins) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mins), Layout::mins(x[i]));
      dmin = half(x[i].dmin);
    }
    const __m256i offset = _mm256_set1_epi8(Layout::kMins ? 0 : static_cast<char>(1 << Layout::kOffsetShift));
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k) {
        const int j = 8 * h + 2 * k;
        store_scaled_i8(_mm256_sub_epi8(Layout::group(x[i], h, k), offset), _mm256_set1_ps(d * scales[j]),
                        _mm256_set1_ps(-(dmin * mins[j])), _mm256_set1_ps(d * scales[j + 1]),
                        _mm256_set1_ps(-(dmin * mins[j + 1])), y + 128 * h + 32 * k);
      }
  }
}
inline void dequantize_row(const BlockQ2_K* x, float* y, int64_t n) { dequantize_row_k16(x, y, n); }
inline void dequantize_row(const BlockQ3_K* x, float* y, int64_t n) { dequantize_row_k16(x, y, n); }
inline void dequantize_row(const BlockQ6_K* x, float* y, int64_t n) { dequantize_row_k16(x, y, n); }

}  // namespace llmpp::kernels::avx2

#endif
