// AVX-512 VNNI prefill kernels for Q4_0, Q8_0, Q4_K, Q5_K and Q6_K weights, used when the
// translation unit is compiled for AVX-512 F, BW, VL and VNNI (-march=native on Zen 4/5, Ice
// Lake and later).
// Every other kernel, and Q4_0 / Q8_0 rows that are not a whole number of 4-block groups, stay
// with kernels/avx2/quant.hpp. tests/test_quant.cpp compares them with the scalar dot when the
// test is built that way.
//
// Prompt processing is compute-bound, and there a 512-bit register holds 16 quant bytes of
// four rows (one row per 128-bit lane), so that one `vpdpbusd` multiplies and sums what the
// AVX2 kernels do with two `vpmaddubsw`, an add, a fold and a `vpmaddwd` for two rows. The
// lanes stay per row until the end: the store sums each lane. TinyLlama-1.1B pp512 on a
// 2-core Zen 5: see README (Speed). Decode stays AVX2: a 512-bit decode kernel read rows no
// faster from memory.
#pragma once

#include "llmpp/kernels/avx2/quant.hpp"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
    defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define LLMPP_AVX512_KERNELS 1

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace llmpp::kernels::avx512 {

namespace quant_simd {

// 16 bytes at `offset` in each of four rows `stride` bytes apart, row r's in 128-bit lane r.
inline __m512i four_rows_16_bytes(const uint8_t* row0, uint64_t stride, uint64_t offset) {
  const auto load = [&](int r) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(row0 + r * stride + offset)); };
  __m512i q = _mm512_castsi128_si512(load(0));
  q = _mm512_inserti32x4(q, load(1), 1);
  q = _mm512_inserti32x4(q, load(2), 2);
  return _mm512_inserti32x4(q, load(3), 3);
}

// Four rows' int32 lanes of blocks i..i+3 (s[k]: block i+k, row r's four partial sums in lane
// r) -> lane r = [row r · block i, ..., row r · block i+3].
inline __m512i sum_lanes_4x4(const __m512i* s) {
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

// The weight types whose rows meet Q8_0 activations, four blocks of four rows at a time:
// unpack(block, stride, low, high) gives one block's 32 quants as unsigned bytes, elements 0-15
// in `low` and 16-31 in `high`, row r's in 128-bit lane r; scales(block, stride) gives the fp16
// scales of four blocks as floats, row r's in lane r; the dot is then sum(u a) - 2^kOffsetShift
// 8 sum(a) per block (u the unsigned quant, 8 sum(a) from q8_0_row_terms).
struct Q4_0Rows {
  using Block = BlockQ4_0;
  static constexpr int kOffsetShift = 0;  // u = q in [0, 15] for q - 8
  static void unpack(const uint8_t* block, uint64_t stride, __m512i& low, __m512i& high) {
    const __m512i low_nibble = _mm512_set1_epi8(0x0f);
    const __m512i q = four_rows_16_bytes(block, stride, offsetof(BlockQ4_0, qs));
    low = _mm512_and_si512(q, low_nibble);
    high = _mm512_and_si512(_mm512_srli_epi16(q, 4), low_nibble);
  }
  // One 64-byte load per row holds its four scales (words 0, 9, 18 and 27; the four blocks
  // span 72 bytes of the row, so the load stays inside it), and two word permutes gather them.
  static __m512 scales(const uint8_t* block, uint64_t stride) {
    const __m512i rows_01 = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             59, 50, 41, 32, 27, 18, 9, 0);
    const __m512i rows_23 = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 59, 50, 41, 32, 27, 18,
                                             9, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const auto row = [&](int r) { return _mm512_loadu_si512(block + r * stride); };
    const __m512i words_01 = _mm512_permutex2var_epi16(row(0), rows_01, row(1));
    const __m512i words_23 = _mm512_permutex2var_epi16(row(2), rows_23, row(3));
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_mask_blend_epi16(0xff00, words_01, words_23)));
  }
};

// Q8_0Rows::scales' word permutes: row r's takes block k's scale (word 17 k) to word 4r + k.
struct Q8_0ScaleWords {
  alignas(64) int16_t index[4][32];  // (row, destination word): source word
};
constexpr Q8_0ScaleWords q8_0_scale_words() {
  Q8_0ScaleWords words{};
  for (int r = 0; r < 4; ++r)
    for (int k = 0; k < 4; ++k) words.index[r][4 * r + k] = static_cast<int16_t>(17 * k);
  return words;
}
inline constexpr Q8_0ScaleWords kQ8_0ScaleWords = q8_0_scale_words();

struct Q8_0Rows {
  using Block = BlockQ8_0;
  static constexpr int kOffsetShift = 4;  // u = w + 128 in [0, 255]: 128 sum(a) = 16 * 8 sum(a)
  static void unpack(const uint8_t* block, uint64_t stride, __m512i& low, __m512i& high) {
    const __m512i sign_bit = _mm512_set1_epi8(static_cast<char>(0x80));
    low = _mm512_xor_si512(four_rows_16_bytes(block, stride, offsetof(BlockQ8_0, qs)), sign_bit);
    high = _mm512_xor_si512(four_rows_16_bytes(block, stride, offsetof(BlockQ8_0, qs) + 16), sign_bit);
  }
  // Four blocks span 136 bytes of a row, and block k's scale is word 17 k of its first 128: two
  // 64-byte loads per row, and one word permute per row into words 4r..4r+3.
  static __m512 scales(const uint8_t* block, uint64_t stride) {
    __m512i halves = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const uint8_t* row = block + r * stride;
      halves = _mm512_or_si512(halves, _mm512_maskz_permutex2var_epi16(0xfu << (4 * r), _mm512_loadu_si512(row),
                                                                        _mm512_load_si512(kQ8_0ScaleWords.index[r]),
                                                                        _mm512_loadu_si512(row + 64)));
    }
    return _mm512_cvtph_ps(_mm512_castsi512_si256(halves));
  }
};

// Rows (Q4_0Rows or Q8_0Rows), four of them `row_stride` bytes apart from `row0`, against
// kTokens activation rows; n_blocks a multiple of 4. acc[t] lane r gathers token t's dot with
// row r over four elements. Each group of four blocks is unpacked once for all tokens; per
// token, a block is two `vpdpbusd` of the unsigned quants against the signed activation bytes
// (each int32 lane sums 8 products of at most 255 * 128: exact), and the offset and the
// activation's scale come from q8_0_row_terms (offset_twice, scale_twice: each written twice).
// Its loops over register arrays are unrolled by request: at -O2 GCC left them rolled and
// kept the arrays in memory, and Q4_0 / Q8_0 prefill ran at half the speed of -O3.
template <typename Rows, int kTokens>
inline void dot_4_rows_q8_0_activations(const typename Rows::Block* row0, uint64_t row_stride,
                                        const BlockQ8_0* const* a, const float* const* scale_twice,
                                        const int32_t* const* offset_twice, int64_t n_blocks, __m512* acc) {
  // Elements 0, 2, 4, 6 of a 256-bit load in every lane: the four blocks' terms, once each.
  const __m512i once_each = _mm512_set_epi32(6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0);
  __m512 sums[kTokens];
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t) sums[t] = acc[t];
  const auto* p = reinterpret_cast<const uint8_t*>(row0);  // row 0's block i
  for (int64_t i = 0; i < n_blocks; i += 4, p += 4 * sizeof(typename Rows::Block)) {
    __m512i low[4], high[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) Rows::unpack(p + k * sizeof(typename Rows::Block), row_stride, low[k], high[k]);
    const __m512 weight_scales = Rows::scales(p, row_stride);
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
      const BlockQ8_0* x = a[t] + i;
      __m512i s[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const __m512i x_low = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[k].qs)));
        const __m512i x_high = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[k].qs + 16)));
        s[k] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), low[k], x_low), high[k], x_high);
      }
      const __m512i offsets = _mm512_permutexvar_epi32(
          once_each, _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(offset_twice[t] + 2 * i))));
      const __m512 scales =
          _mm512_permutexvar_ps(once_each, _mm512_castps256_ps512(_mm256_loadu_ps(scale_twice[t] + 2 * i)));
      const __m512i lanes = _mm512_sub_epi32(sum_lanes_4x4(s), _mm512_slli_epi32(offsets, Rows::kOffsetShift));
      sums[t] = _mm512_fmadd_ps(_mm512_mul_ps(weight_scales, scales), _mm512_cvtepi32_ps(lanes), sums[t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t) acc[t] = sums[t];
}

// Q4_K (and Q5_K, kFifthBit), four rows `row_stride` bytes apart from `row0`, against kTokens
// activation rows: acc[t] lane r gathers token t's dot with row r over four elements. Per
// super-block, the
// scales and mins of the four rows are unpacked once (avx2::quant_simd::unpack_scales_mins_k4_x4)
// and so is each chunk of quants, for all tokens. Sub-block j of token t is two `vpdpbusd`
// (each int32 lane sums 8 products q a, |q a| <= 31 * 128, so at most 31744: it fits the
// int16 that `vpdpwssd` reads) and one `vpdpwssd` by the rows' 6-bit scales (the high
// halves of the scale lanes are zero, so the sign extension above the sum is multiplied by
// 0). The mins term dmin sum_j min_j b_j is one `vpmaddwd` per super-block: row r's 8 mins in
// lane r against the token's 8 sub-block sums b_j (q8_k_row_terms).
template <bool kFifthBit, int kTokens, typename Block>
inline void dot_k_affine_4_rows(const Block* row0, uint64_t row_stride, const BlockQ8_K* const* a,
                                const int16_t* const* sub_block_sums, int64_t n_blocks, __m512* acc) {
  const __m512i low_nibble = _mm512_set1_epi8(0x0f), fifth_bit = _mm512_set1_epi8(0x10);
  const __m512i d_lanes = _mm512_set_epi32(6, 6, 6, 6, 4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0);
  const __m512i dmin_lanes = _mm512_set_epi32(7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3, 1, 1, 1, 1);
  __m512 sums[kTokens];
  for (int t = 0; t < kTokens; ++t) sums[t] = acc[t];
  const auto* p = reinterpret_cast<const uint8_t*>(row0);  // row 0's super-block i
  for (int64_t i = 0; i < n_blocks; ++i, p += sizeof(Block)) {
    // Words [r0, r1, r2, r3]: scales 0-3, 4-7, mins 0-3, 4-7, and (d, dmin).
    const avx2::quant_simd::KScalesX4 k =
        avx2::quant_simd::unpack_scales_mins_k4_x4(p, p + row_stride, p + 2 * row_stride, p + 3 * row_stride);
    // Scale j of row r in every int32 of lane r: byte 4r + (j mod 4) of scales_low / high.
    const auto scale_lanes = [&](int j) {
      const __m128i bytes = j < 4 ? k.scales_low : k.scales_high;
      const int8_t b = static_cast<int8_t>(j % 4);
      return _mm512_cvtepu8_epi32(_mm_shuffle_epi8(
          bytes, _mm_setr_epi8(b, b, b, b, b + 4, b + 4, b + 4, b + 4, b + 8, b + 8, b + 8, b + 8, b + 12, b + 12,
                               b + 12, b + 12)));
    };
    // Row r's mins 0-7 as int16 in lane r.
    const __m512i mins = _mm512_cvtepu8_epi16(
        _mm256_set_m128i(_mm_unpackhi_epi32(k.mins_low, k.mins_high), _mm_unpacklo_epi32(k.mins_low, k.mins_high)));
    const __m512 halves = _mm512_castps256_ps512(_mm256_cvtph_ps(k.halves));  // [d0, dmin0, ..., d3, dmin3]
    const __m512 d = _mm512_permutexvar_ps(d_lanes, halves), dmin = _mm512_permutexvar_ps(dmin_lanes, halves);
    __m512i totals[kTokens];
    for (int t = 0; t < kTokens; ++t) totals[t] = _mm512_setzero_si512();
    // Q5_K's fifth bits of bytes 16h + l: bit 2c for the low nibble of chunk c, bit 2c + 1 for
    // the high one; shifted right by 2 per chunk.
    __m512i high_bits[2];
    if constexpr (kFifthBit)
      for (int h = 0; h < 2; ++h) high_bits[h] = four_rows_16_bytes(p, row_stride, offsetof(Block, qh) + 16 * h);
    for (int c = 0; c < 4; ++c) {
      // Bytes 32c + 16h + l: low nibbles are element 64c + 16h + l (sub-block 2c), high
      // nibbles element 64c + 32 + 16h + l (sub-block 2c + 1).
      const uint64_t quants = offsetof(Block, qs) + 32 * c;
      const __m512i q0 = four_rows_16_bytes(p, row_stride, quants), q1 = four_rows_16_bytes(p, row_stride, quants + 16);
      __m512i low0 = _mm512_and_si512(q0, low_nibble), low1 = _mm512_and_si512(q1, low_nibble);
      __m512i high0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low_nibble);
      __m512i high1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low_nibble);
      if constexpr (kFifthBit) {
        const auto bit = [&](__m512i bits, int shift_left) {
          return _mm512_and_si512(_mm512_slli_epi16(bits, shift_left), fifth_bit);
        };
        low0 = _mm512_or_si512(low0, bit(high_bits[0], 4));
        low1 = _mm512_or_si512(low1, bit(high_bits[1], 4));
        high0 = _mm512_or_si512(high0, bit(high_bits[0], 3));
        high1 = _mm512_or_si512(high1, bit(high_bits[1], 3));
        for (__m512i& bits : high_bits) bits = _mm512_srli_epi16(bits, 2);
      }
      const __m512i scale_low = scale_lanes(2 * c), scale_high = scale_lanes(2 * c + 1);
#pragma GCC unroll 8
      for (int t = 0; t < kTokens; ++t) {
        const int8_t* x = a[t][i].qs + 64 * c;
        const auto broadcast = [](const int8_t* bytes) {
          return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
        };
        const __m512i s_low =
            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), low0, broadcast(x)), low1, broadcast(x + 16));
        const __m512i s_high = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), high0, broadcast(x + 32)),
                                                   high1, broadcast(x + 48));
        totals[t] = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(totals[t], s_low, scale_low), s_high, scale_high);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
      const __m512i b = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sub_block_sums[t] + 8 * i)));
      const __m512 activation_scale = _mm512_set1_ps(a[t][i].d);
      sums[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, activation_scale), _mm512_cvtepi32_ps(totals[t]), sums[t]);
      sums[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, activation_scale),
                                 _mm512_cvtepi32_ps(_mm512_madd_epi16(mins, b)), sums[t]);
    }
  }
  for (int t = 0; t < kTokens; ++t) acc[t] = sums[t];
}

// Q6_K, four rows `row_stride` bytes apart from `row0`, against kTokens activation rows, as
// dot_q4_k_4_rows. Each 16 bytes of ql (with their qh bits) are one sub-block of 16 per row,
// so sub-block j of token t is one `vpdpbusd` (4 products of q <= 63 and |a| <= 128 per int32
// lane: at most 32256, inside int16) and one `vpdpwssd` by the rows' signed scales (each in the
// low half of its int32 lane, the high half zero). The offset 32 is taken off once per
// super-block: 32 sum_j scale_j b_j, with b_j Q8_K's bsums, by two `vpmaddwd`.
template <int kTokens>
inline void dot_q6_k_4_rows(const BlockQ6_K* row0, uint64_t row_stride, const BlockQ8_K* const* a, int64_t n_blocks,
                            __m512* acc) {
  const __m512i low_nibble = _mm512_set1_epi8(0x0f), bits_45 = _mm512_set1_epi8(0x30);
  const __m512i d_lanes = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 sums[kTokens];
  for (int t = 0; t < kTokens; ++t) sums[t] = acc[t];
  const auto* p = reinterpret_cast<const uint8_t*>(row0);  // row 0's super-block i
  for (int64_t i = 0; i < n_blocks; ++i, p += sizeof(BlockQ6_K)) {
    const uint64_t scales_at = offsetof(BlockQ6_K, scales);
    const __m512i scale_bytes = four_rows_16_bytes(p, row_stride, scales_at);  // lane r: row r's 16 scales
    // Scale j of row r, sign-extended, in the low half of every int32 of lane r: the byte
    // goes to the top of the half, and an arithmetic shift brings it down.
    const auto scale_lanes = [&](int j) {
      const char b = static_cast<char>(j), z = -1;
      const __m128i at_top = _mm_setr_epi8(z, b, z, z, z, b, z, z, z, b, z, z, z, b, z, z);
      return _mm512_srai_epi16(_mm512_shuffle_epi8(scale_bytes, _mm512_broadcast_i32x4(at_top)), 8);
    };
    // Rows (0, 1) and (2, 3): each row's 16 scales as int16 in 256 bits, for the offset term.
    const auto row_scales = [&](int r) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + r * row_stride + scales_at));
    };
    const __m512i scales_01 = _mm512_cvtepi8_epi16(_mm256_set_m128i(row_scales(1), row_scales(0)));
    const __m512i scales_23 = _mm512_cvtepi8_epi16(_mm256_set_m128i(row_scales(3), row_scales(2)));
    const auto half_at = [&](int r) {
      return static_cast<short>(*reinterpret_cast<const uint16_t*>(p + r * row_stride + offsetof(BlockQ6_K, d)));
    };
    const __m512 d = _mm512_permutexvar_ps(
        d_lanes, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_setr_epi16(half_at(0), half_at(1), half_at(2), half_at(3), 0,
                                                                    0, 0, 0))));
    __m512i totals[kTokens];
    for (int t = 0; t < kTokens; ++t) totals[t] = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half)
      for (int g = 0; g < 2; ++g) {
        // Bytes 16g..16g+15 of this half's ql (and ql + 32) and qh: elements 128 half + 32 m +
        // 16 g + l for m = 0..3, sub-block 8 half + 2m + g.
        const uint64_t ql = offsetof(BlockQ6_K, ql) + 64 * half + 16 * g;
        const uint64_t qh = offsetof(BlockQ6_K, qh) + 32 * half + 16 * g;
        const __m512i low_a = four_rows_16_bytes(p, row_stride, ql), low_b = four_rows_16_bytes(p, row_stride, ql + 32);
        const __m512i high = four_rows_16_bytes(p, row_stride, qh);
        const __m512i q[4] = {
            _mm512_or_si512(_mm512_and_si512(low_a, low_nibble), _mm512_and_si512(_mm512_slli_epi16(high, 4), bits_45)),
            _mm512_or_si512(_mm512_and_si512(low_b, low_nibble), _mm512_and_si512(_mm512_slli_epi16(high, 2), bits_45)),
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low_a, 4), low_nibble), _mm512_and_si512(high, bits_45)),
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low_b, 4), low_nibble),
                            _mm512_and_si512(_mm512_srli_epi16(high, 2), bits_45))};
        __m512i scales[4];
        for (int m = 0; m < 4; ++m) scales[m] = scale_lanes(8 * half + 2 * m + g);
#pragma GCC unroll 8
        for (int t = 0; t < kTokens; ++t) {
          const int8_t* x = a[t][i].qs + 128 * half + 16 * g;
#pragma GCC unroll 4
          for (int m = 0; m < 4; ++m) {
            const __m512i activation =
                _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 32 * m)));
            totals[t] = _mm512_dpwssd_epi32(totals[t], _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[m], activation),
                                            scales[m]);
          }
        }
      }
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
      const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][i].bsums)));
      const __m512i offset_01 = _mm512_madd_epi16(scales_01, b), offset_23 = _mm512_madd_epi16(scales_23, b);
      // Lanes [row 0 | row 1] and [row 2 | row 3], two lanes a row -> one lane a row.
      const __m512i offsets = _mm512_add_epi32(_mm512_shuffle_i32x4(offset_01, offset_23, 0x88),
                                               _mm512_shuffle_i32x4(offset_01, offset_23, 0xdd));
      const __m512i lanes = _mm512_sub_epi32(totals[t], _mm512_slli_epi32(offsets, 5));
      sums[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(a[t][i].d)), _mm512_cvtepi32_ps(lanes), sums[t]);
    }
  }
  for (int t = 0; t < kTokens; ++t) acc[t] = sums[t];
}

// Lane r's four floats summed -> out[r], r < 4.
inline constexpr auto store_rows_by_lane = [](__m512 acc, float* out) {
  const __m128 r01 = _mm_hadd_ps(_mm512_castps512_ps128(acc), _mm512_extractf32x4_ps(acc, 1));
  const __m128 r23 = _mm_hadd_ps(_mm512_extractf32x4_ps(acc, 2), _mm512_extractf32x4_ps(acc, 3));
  _mm_storeu_ps(out, _mm_hadd_ps(r01, r23));
};

}  // namespace quant_simd

// The other types' multi-token kernels are the AVX2 ones.
template <typename Weight, typename Activation>
void vec_dot_rows_tokens(const Weight* w, uint64_t row_stride, const Activation* a, uint64_t activation_stride,
                         int64_t n, int64_t n_tokens, float* out, int64_t out_stride, int64_t n_rows) {
  avx2::vec_dot_rows_tokens(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows);
}

// Q4_0 and Q8_0 prefill: four rows and eight tokens per pass (then four, then one), so that
// each group of blocks is unpacked once for eight tokens. GEMM 2048 x 2048 x 512 tokens, one
// Zen 5 core (bench_kernels gemm/Q4_0): 275-286 GFLOP/s with four tokens per pass, 304-333
// with eight, 273-311 with twelve or sixteen; the AVX2 kernel 167-193.
inline constexpr int kTokensPerPass = 8;

// The weight types with Q8_0 activations (Rows: quant_simd::Q4_0Rows or Q8_0Rows) through
// dot_4_rows_q8_0_activations; rows that are not a whole number of 4-block groups go to
// `fallback`.
template <typename Rows, typename Fallback>
inline void rows_tokens_q8_0(const typename Rows::Block* w, uint64_t row_stride, const BlockQ8_0* a,
                             uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out, int64_t out_stride,
                             int64_t n_rows, Fallback fallback) {
  using Block = typename Rows::Block;
  const int64_t n_blocks = n / 32;
  if (n_blocks % 4 != 0) return fallback();
  const avx2::quant_simd::Q8_0RowTerms& terms =
      avx2::quant_simd::q8_0_row_terms(a, n_blocks, n_tokens, activation_stride);
  const auto pass = [&](const Block* const* rows, const BlockQ8_0* const* activations, int64_t t, auto tokens,
                        __m512* acc) {
    constexpr int kTokens = decltype(tokens)::value;
    const float* scale_twice[kTokens];
    const int32_t* offset_twice[kTokens];
    for (int k = 0; k < kTokens; ++k) {
      scale_twice[k] = terms.scale_twice.data() + 2 * (t + k) * n_blocks;
      offset_twice[k] = terms.offset_twice.data() + 2 * (t + k) * n_blocks;
    }
    quant_simd::dot_4_rows_q8_0_activations<Rows, kTokens>(rows[0], row_stride, activations, scale_twice,
                                                           offset_twice, n_blocks, acc);
  };
  avx2::for_each_rows_tokens_pass<__m512, kTokensPerPass>(w, row_stride, a, activation_stride, n, n_tokens, out,
                                                          out_stride, n_rows, pass, quant_simd::store_rows_by_lane);
}

inline void vec_dot_rows_tokens(const BlockQ4_0* w, uint64_t row_stride, const BlockQ8_0* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  rows_tokens_q8_0<quant_simd::Q4_0Rows>(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows, [&] {
    avx2::vec_dot_rows_tokens(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows);
  });
}

// Q8_0 has no AVX2 multi-token kernel: its other shapes take one AVX2 decode pass per token.
inline void vec_dot_rows_tokens(const BlockQ8_0* w, uint64_t row_stride, const BlockQ8_0* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  rows_tokens_q8_0<quant_simd::Q8_0Rows>(w, row_stride, a, activation_stride, n, n_tokens, out, out_stride, n_rows, [&] {
    for (int64_t t = 0; t < n_tokens; ++t)
      avx2::vec_dot_rows(w, row_stride, avx2::row_at(a, activation_stride, t), n, out + t * out_stride, n_rows);
  });
}

// The weight types with a multi-token kernel here or in kernels/avx2/quant.hpp.
template <typename Block>
inline constexpr bool kMultiTokenDot = avx2::kMultiTokenDot<Block>;
template <>
inline constexpr bool kMultiTokenDot<BlockQ8_0> = true;

// Q4_K / Q5_K prefill: four rows and eight tokens per pass (then four, then one).
template <bool kFifthBit, typename Block>
inline void vec_dot_rows_tokens_k_affine(const Block* w, uint64_t row_stride, const BlockQ8_K* a,
                                         uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                         int64_t out_stride, int64_t n_rows) {
  const int64_t n_blocks = n / 256;
  const int16_t* sub_block_sums =
      avx2::quant_simd::q8_k_row_terms(a, n_blocks, n_tokens, activation_stride).sub_block_sums.data();
  const auto pass = [&](const Block* const* rows, const BlockQ8_K* const* activations, int64_t t, auto tokens,
                        __m512* acc) {
    constexpr int kTokens = decltype(tokens)::value;
    const int16_t* sums[kTokens];
    for (int k = 0; k < kTokens; ++k) sums[k] = sub_block_sums + (t + k) * n_blocks * 8;
    quant_simd::dot_k_affine_4_rows<kFifthBit, kTokens>(rows[0], row_stride, activations, sums, n_blocks, acc);
  };
  avx2::for_each_rows_tokens_pass<__m512, kTokensPerPass>(w, row_stride, a, activation_stride, n, n_tokens, out,
                                                          out_stride, n_rows, pass, quant_simd::store_rows_by_lane);
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

// Q6_K prefill: four rows and eight tokens per pass (then four, then one).
inline void vec_dot_rows_tokens(const BlockQ6_K* w, uint64_t row_stride, const BlockQ8_K* a,
                                uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out,
                                int64_t out_stride, int64_t n_rows) {
  const int64_t n_blocks = n / 256;
  const auto pass = [&](const BlockQ6_K* const* rows, const BlockQ8_K* const* activations, int64_t, auto tokens,
                        __m512* acc) {
    quant_simd::dot_q6_k_4_rows<decltype(tokens)::value>(rows[0], row_stride, activations, n_blocks, acc);
  };
  avx2::for_each_rows_tokens_pass<__m512, kTokensPerPass>(w, row_stride, a, activation_stride, n, n_tokens, out,
                                                          out_stride, n_rows, pass, quant_simd::store_rows_by_lane);
}

}  // namespace llmpp::kernels::avx512

#endif  // AVX-512 F, BW, VL, VNNI with AVX2, FMA, F16C
