// Portable reference kernels of the GGML weight types: dequantization, quantization and the
// dot products of a weight row with an activation row. kernels/avx2/quant.hpp holds the
// vectorised twins, and tests/test_quant.cpp checks that both agree.
//
// Dots pair each weight type with the activation type ggml pairs it with: Q4_0, Q5_0 and
// Q8_0 with Q8_0; Q4_1 and Q5_1 with Q8_1 (whose s = d * sum(q) carries the minimum term);
// the K-quants with Q8_K (whose bsums carry the min / offset terms). The integer part of
// every block dot is exact; only the per-block scaling is float.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "llmpp/core/fp16.hpp"
#include "llmpp/kernels/quant_blocks.hpp"

namespace llmpp::kernels::scalar {

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

// Round to nearest, ties to even: the FPU default, and what the AVX2 quantizers'
// _mm256_round_ps does, so both produce the same bits.
inline int nearest_int(float x) { return static_cast<int>(std::lrintf(x)); }

// The element of largest magnitude, with its sign (ties go to the positive one). ggml's
// symmetric formats map it to the most negative level, which gains one level of range.
inline float signed_abs_max(const float* x, int n) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  return -lo > hi ? lo : hi;
}

inline float abs_max(const float* x, int n) {
  float m = 0.0f;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// The smallest fp16 value >= x (x >= 0). K-quant super-scales are rounded up so that their
// largest 6-bit multiple still covers the range it was computed for.
inline uint16_t fp16_round_up(float x) {
  uint16_t h = fp32_to_fp16(x);
  if (fp16_to_fp32(h) < x) ++h;
  return h;
}

// 32-element blocks: element j in the low nibble of qs[j], element j + 16 in the high one.
inline void unpack_nibbles32(const uint8_t* qs, int* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0x0f;
    q[j + 16] = qs[j] >> 4;
  }
}
inline void pack_nibbles32(const int* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}

// 5-bit quants of the 32-element blocks: the fifth bit of element j is bit j of qh.
inline void unpack_q5(const uint8_t* qs, const uint8_t* qh, int* q) {
  uint32_t high;
  std::memcpy(&high, qh, sizeof high);  // little-endian, like every GGUF field
  unpack_nibbles32(qs, q);
  for (int j = 0; j < 32; ++j) q[j] |= static_cast<int>((high >> j) & 1u) << 4;
}
inline void pack_q5(const int* q, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < 32; ++j) high |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  pack_nibbles32(q, qs);
  std::memcpy(qh, &high, sizeof high);
}

// Q4_K / Q5_K: 8 six-bit scales and 8 six-bit mins in 12 bytes. Sub-blocks 0-3 keep theirs
// in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 split theirs into a
// low nibble in bytes 8-11 and two high bits in the top of bytes 0-3 / 4-7.
// Unpacked four bytes at a time: word 0 holds bytes 0-3, word 1 bytes 4-7, word 2 bytes 8-11;
// unpacked[0..3] receive scales 0-3, scales 4-7, mins 0-3 and mins 4-7, a byte each.
inline void unpack_scales_mins_k4_words(const uint8_t* packed, uint32_t unpacked[4]) {
  constexpr uint32_t low6 = 0x3f3f3f3fu, low4 = 0x0f0f0f0fu, low2 = 0x03030303u;
  uint32_t word[3];
  std::memcpy(word, packed, sizeof word);
  unpacked[0] = word[0] & low6;
  unpacked[1] = (word[2] & low4) | (((word[0] >> 6) & low2) << 4);
  unpacked[2] = word[1] & low6;
  unpacked[3] = ((word[2] >> 4) & low4) | (((word[1] >> 6) & low2) << 4);
}
inline void unpack_scales_mins_k4(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  uint32_t unpacked[4];
  unpack_scales_mins_k4_words(packed, unpacked);
  std::memcpy(scales, unpacked, 8);
  std::memcpy(mins, unpacked + 2, 8);
}
inline void pack_scales_mins_k4(const uint8_t* scales, const uint8_t* mins, uint8_t* packed) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>(scales[j] | ((scales[j + 4] >> 4) << 6));
    packed[j + 4] = static_cast<uint8_t>(mins[j] | ((mins[j + 4] >> 4) << 6));
    packed[j + 8] = static_cast<uint8_t>((scales[j + 4] & 0x0f) | ((mins[j + 4] & 0x0f) << 4));
  }
}

// K-quant 4-bit layout: per 64 elements (chunk c), 32 bytes whose low nibbles are elements
// 64c .. 64c + 31 and high nibbles elements 64c + 32 .. 64c + 63. Q5_K's fifth bits: bit 2c
// of qh[l] for element 64c + l, bit 2c + 1 for element 64c + 32 + l.
inline void unpack_quants_k(const uint8_t* qs, const uint8_t* qh, uint8_t* q) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t byte = qs[32 * c + l];
      uint8_t lo = byte & 0x0f, hi = byte >> 4;
      if (qh) {
        lo |= static_cast<uint8_t>(((qh[l] >> (2 * c)) & 1) << 4);
        hi |= static_cast<uint8_t>(((qh[l] >> (2 * c + 1)) & 1) << 4);
      }
      q[64 * c + l] = lo;
      q[64 * c + 32 + l] = hi;
    }
  }
}
inline void pack_quants_k(const uint8_t* q, uint8_t* qs, uint8_t* qh) {
  if (qh) std::memset(qh, 0, 32);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
      qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      if (qh) qh[l] |= static_cast<uint8_t>((((lo >> 4) & 1) << (2 * c)) | (((hi >> 4) & 1) << (2 * c + 1)));
    }
  }
}

// Q6_K layout, per half h of 128 elements (ql + 64h, qh + 32h), l < 32:
//   element l      : low nibble of ql[l],      bits 0-1 of qh[l]
//   element l + 32 : low nibble of ql[l + 32], bits 2-3 of qh[l]
//   element l + 64 : high nibble of ql[l],     bits 4-5 of qh[l]
//   element l + 96 : high nibble of ql[l + 32], bits 6-7 of qh[l]
inline void unpack_quants_q6_k(const BlockQ6_K& b, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    uint8_t* out = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<uint8_t>((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4));
      out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4));
      out[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      out[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}
inline void pack_quants_q6_k(const uint8_t* q, BlockQ6_K& b) {
  for (int h = 0; h < 2; ++h) {
    uint8_t* ql = b.ql + 64 * h;
    uint8_t* qh = b.qh + 32 * h;
    const uint8_t* in = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((in[l] & 0x0f) | ((in[l + 64] & 0x0f) << 4));
      ql[l + 32] = static_cast<uint8_t>((in[l + 32] & 0x0f) | ((in[l + 96] & 0x0f) << 4));
      qh[l] = static_cast<uint8_t>((in[l] >> 4) | ((in[l + 32] >> 4) << 2) | ((in[l + 64] >> 4) << 4) |
                                   ((in[l + 96] >> 4) << 6));
    }
  }
}

// Q2_K / Q3_K low 2 bits, per half h of 128 elements: bits 2k, 2k + 1 of qs[32h + l] are
// element 128h + 32k + l (l < 32).
inline void unpack_2bit_quants(const uint8_t* qs, uint8_t* q) {
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 32; ++l) q[128 * h + 32 * k + l] = static_cast<uint8_t>((qs[32 * h + l] >> (2 * k)) & 3);
}
inline void pack_2bit_quants(const uint8_t* q, uint8_t* qs) {
  std::memset(qs, 0, 64);
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 32; ++l) qs[32 * h + l] |= static_cast<uint8_t>((q[128 * h + 32 * k + l] & 3) << (2 * k));
}

// Q3_K quants as q + 4 in [0, 7]: the low 2 bits as in Q2_K, the third bit (set where q >= 0)
// from bit 4h + k of hmask[l] for element 128h + 32k + l.
inline void unpack_quants_q3_k(const BlockQ3_K& b, uint8_t* q) {
  unpack_2bit_quants(b.qs, q);
  for (int i = 0; i < 256; ++i) q[i] |= static_cast<uint8_t>(((b.hmask[i % 32] >> (i / 32)) & 1) << 2);
}
inline void pack_quants_q3_k(const uint8_t* q, BlockQ3_K& b) {
  pack_2bit_quants(q, b.qs);
  std::memset(b.hmask, 0, sizeof b.hmask);
  for (int i = 0; i < 256; ++i) b.hmask[i % 32] |= static_cast<uint8_t>(((q[i] >> 2) & 1) << (i / 32));
}

// Q3_K's 16 six-bit scales, stored as scale + 32: the low nibble of scale j in the low (j < 8)
// or high (j >= 8) half of byte j % 8, its top 2 bits at bit 2 (j / 4) of byte 8 + j % 4.
inline void unpack_scales_q3_k(const uint8_t* packed, int8_t* scales) {
  for (int j = 0; j < 16; ++j) {
    const int low = (packed[j % 8] >> (j < 8 ? 0 : 4)) & 0x0f;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scales[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}
inline void pack_scales_q3_k(const int8_t* scales, uint8_t* packed) {
  std::memset(packed, 0, 12);
  for (int j = 0; j < 16; ++j) {
    const int stored = scales[j] + 32;
    packed[j % 8] |= static_cast<uint8_t>((stored & 0x0f) << (j < 8 ? 0 : 4));
    packed[8 + j % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (j / 4)));
  }
}

// ---------------------------------------------------------------------------------------
// Dequantization: one block to kBlockSize floats
// ---------------------------------------------------------------------------------------

inline void dequantize_block(const BlockQ4_0& b, float* y) {
  int q[32];
  unpack_nibbles32(b.qs, q);
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q[j] - 8);
}

inline void dequantize_block(const BlockQ4_1& b, float* y) {
  int q[32];
  unpack_nibbles32(b.qs, q);
  const float d = fp16_to_fp32(b.d), m = fp16_to_fp32(b.m);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q[j]) + m;
}

inline void dequantize_block(const BlockQ5_0& b, float* y) {
  int q[32];
  unpack_q5(b.qs, b.qh, q);
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q[j] - 16);
}

inline void dequantize_block(const BlockQ5_1& b, float* y) {
  int q[32];
  unpack_q5(b.qs, b.qh, q);
  const float d = fp16_to_fp32(b.d), m = fp16_to_fp32(b.m);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q[j]) + m;
}

inline void dequantize_block(const BlockQ8_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(b.qs[j]);
}

inline void dequantize_block(const BlockQ8_1& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(b.qs[j]);
}

// y = d * scale_j * q - dmin * min_j over the 8 sub-blocks of 32.
inline void dequantize_k_affine(uint16_t d_bits, uint16_t dmin_bits, const uint8_t* packed, const uint8_t* q,
                                float* y) {
  uint8_t scales[8], mins[8];
  unpack_scales_mins_k4(packed, scales, mins);
  const float d = fp16_to_fp32(d_bits), dmin = fp16_to_fp32(dmin_bits);
  for (int j = 0; j < 8; ++j) {
    const float scale = d * scales[j], offset = dmin * mins[j];
    for (int l = 0; l < 32; ++l) y[32 * j + l] = scale * static_cast<float>(q[32 * j + l]) - offset;
  }
}

inline void dequantize_block(const BlockQ2_K& b, float* y) {
  uint8_t q[256];
  unpack_2bit_quants(b.qs, q);
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  for (int j = 0; j < 16; ++j) {
    const float scale = d * static_cast<float>(b.scales[j] & 0x0f);
    const float offset = dmin * static_cast<float>(b.scales[j] >> 4);
    for (int l = 0; l < 16; ++l) y[16 * j + l] = scale * static_cast<float>(q[16 * j + l]) - offset;
  }
}

inline void dequantize_block(const BlockQ3_K& b, float* y) {
  uint8_t q[256];
  unpack_quants_q3_k(b, q);
  int8_t scales[16];
  unpack_scales_q3_k(b.scales, scales);
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < 16; ++j) {
    const float scale = d * static_cast<float>(scales[j]);
    for (int l = 0; l < 16; ++l) y[16 * j + l] = scale * static_cast<float>(q[16 * j + l] - 4);
  }
}

inline void dequantize_block(const BlockQ4_K& b, float* y) {
  uint8_t q[256];
  unpack_quants_k(b.qs, nullptr, q);
  dequantize_k_affine(b.d, b.dmin, b.scales, q, y);
}

inline void dequantize_block(const BlockQ5_K& b, float* y) {
  uint8_t q[256];
  unpack_quants_k(b.qs, b.qh, q);
  dequantize_k_affine(b.d, b.dmin, b.scales, q, y);
}

inline void dequantize_block(const BlockQ6_K& b, float* y) {
  uint8_t q[256];
  unpack_quants_q6_k(b, q);
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < 16; ++j) {
    const float scale = d * b.scales[j];
    for (int l = 0; l < 16; ++l) y[16 * j + l] = scale * static_cast<float>(q[16 * j + l] - 32);
  }
}

inline void dequantize_block(const BlockQ8_K& b, float* y) {
  for (int j = 0; j < 256; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
}

// n elements (a whole number of blocks) of `blocks` to floats.
template <typename Block>
void dequantize_row(const Block* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n / Block::kBlockSize; ++i) dequantize_block(blocks[i], y + i * Block::kBlockSize);
}

inline void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}
inline void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

// ---------------------------------------------------------------------------------------
// Quantization: kBlockSize floats to one block
// ---------------------------------------------------------------------------------------

// Symmetric (Q4_0, Q5_0): d = -extreme / 2^(bits-1), q = round(x / d) + 2^(bits-1), clamped.
// The extreme lands exactly on level 0; the far end of the other sign clamps one level short.
inline float quantize_symmetric32(const float* x, int half_levels, int* q) {
  const float d = signed_abs_max(x, 32) / static_cast<float>(-half_levels);
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = std::clamp(nearest_int(x[j] * inverse) + half_levels, 0, 2 * half_levels - 1);
  return d;
}

// Affine (Q4_1, Q5_1): x ~ d * q + min with d = (max - min) / max_q.
inline void quantize_affine32(const float* x, int max_q, int* q, float& d, float& min) {
  min = x[0];
  float max = x[0];
  for (int j = 1; j < 32; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  d = (max - min) / static_cast<float>(max_q);
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = std::clamp(nearest_int((x[j] - min) * inverse), 0, max_q);
}

inline void quantize_block(const float* x, BlockQ4_0& b) {
  int q[32];
  b.d = fp32_to_fp16(quantize_symmetric32(x, 8, q));
  pack_nibbles32(q, b.qs);
}

inline void quantize_block(const float* x, BlockQ4_1& b) {
  int q[32];
  float d, min;
  quantize_affine32(x, 15, q, d, min);
  b.d = fp32_to_fp16(d);
  b.m = fp32_to_fp16(min);
  pack_nibbles32(q, b.qs);
}

inline void quantize_block(const float* x, BlockQ5_0& b) {
  int q[32];
  b.d = fp32_to_fp16(quantize_symmetric32(x, 16, q));
  pack_q5(q, b.qs, b.qh);
}

inline void quantize_block(const float* x, BlockQ5_1& b) {
  int q[32];
  float d, min;
  quantize_affine32(x, 31, q, d, min);
  b.d = fp32_to_fp16(d);
  b.m = fp32_to_fp16(min);
  pack_q5(q, b.qs, b.qh);
}

// Q8_0: d = max|x| / 127, q = round(x / d); no level is clamped.
inline void quantize_block(const float* x, BlockQ8_0& b) {
  const float d = abs_max(x, 32) / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(nearest_int(x[j] * inverse));
  b.d = fp32_to_fp16(d);
}

inline void quantize_block(const float* x, BlockQ8_1& b) {
  const float d = abs_max(x, 32) / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    b.qs[j] = static_cast<int8_t>(nearest_int(x[j] * inverse));
    sum += b.qs[j];
  }
  b.d = fp32_to_fp16(d);
  b.s = fp32_to_fp16(d * static_cast<float>(sum));
}

// Q2_K / Q4_K / Q5_K: per sub-block j (kSubBlocks of them), x ~ step_j * q - bottom_j with
// bottom_j = dmin * min_j and step_j = d * scale_j (scale_j, min_j <= kScaleMax: 15 for
// Q2_K's 4 bits, 63 for the 6 bits of the others). A reference-style choice rather than
// ggml's iterative search: the bottom is min(0, min x) rounded down to a multiple of dmin,
// then the step is rounded up to a multiple of d so that max_q steps reach max x. Every
// element is then within step_j / 2 of its value.
template <int kSubBlocks, int kScaleMax>
inline void quantize_k_affine(const float* x, int max_q, uint16_t& d_bits, uint16_t& dmin_bits, uint8_t* scales,
                              uint8_t* mins, uint8_t* q) {
  constexpr int kSub = 256 / kSubBlocks;
  constexpr float kLevels = static_cast<float>(kScaleMax);
  float lowest[kSubBlocks], highest[kSubBlocks];
  float max_min = 0.0f;
  for (int j = 0; j < kSubBlocks; ++j) {
    lowest[j] = 0.0f;  // the format's mins are subtracted, so the bottom is never above 0
    highest[j] = x[kSub * j];
    for (int l = 0; l < kSub; ++l) {
      lowest[j] = std::min(lowest[j], x[kSub * j + l]);
      highest[j] = std::max(highest[j], x[kSub * j + l]);
    }
    max_min = std::max(max_min, -lowest[j]);
  }
  dmin_bits = fp16_round_up(max_min / kLevels);
  const float dmin = fp16_to_fp32(dmin_bits);
  float bottom[kSubBlocks], needed_step[kSubBlocks], max_step = 0.0f;
  for (int j = 0; j < kSubBlocks; ++j) {
    mins[j] = dmin > 0.0f ? static_cast<uint8_t>(std::min(kLevels, std::ceil(-lowest[j] / dmin))) : 0;
    bottom[j] = -dmin * mins[j];
    needed_step[j] = std::max(0.0f, highest[j] - bottom[j]) / static_cast<float>(max_q);
    max_step = std::max(max_step, needed_step[j]);
  }
  d_bits = fp16_round_up(max_step / kLevels);
  const float d = fp16_to_fp32(d_bits);
  for (int j = 0; j < kSubBlocks; ++j) {
    scales[j] = d > 0.0f ? static_cast<uint8_t>(std::min(kLevels, std::ceil(needed_step[j] / d))) : 0;
    const float step = d * scales[j];
    const float inverse = step > 0.0f ? 1.0f / step : 0.0f;
    for (int l = 0; l < kSub; ++l)
      q[kSub * j + l] =
          static_cast<uint8_t>(std::clamp(nearest_int((x[kSub * j + l] - bottom[j]) * inverse), 0, max_q));
  }
}

inline void quantize_block(const float* x, BlockQ2_K& b) {
  uint8_t q[256], scales[16], mins[16];
  quantize_k_affine<16, 15>(x, 3, b.d, b.dmin, scales, mins, q);
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(scales[j] | (mins[j] << 4));
  pack_2bit_quants(q, b.qs);
}

inline void quantize_block(const float* x, BlockQ4_K& b) {
  uint8_t q[256], scales[8], mins[8];
  quantize_k_affine<8, 63>(x, 15, b.d, b.dmin, scales, mins, q);
  pack_scales_mins_k4(scales, mins, b.scales);
  pack_quants_k(q, b.qs, nullptr);
}

inline void quantize_block(const float* x, BlockQ5_K& b) {
  uint8_t q[256], scales[8], mins[8];
  quantize_k_affine<8, 63>(x, 31, b.d, b.dmin, scales, mins, q);
  pack_scales_mins_k4(scales, mins, b.scales);
  pack_quants_k(q, b.qs, b.qh);
}

// Q3_K / Q6_K: each sub-block of 16 is symmetric like Q4_0 (its extreme maps to
// -half_levels), and its signed scale is a multiple of the fp16 d of at most max_scale in
// magnitude, rounded away from zero so the extreme never clamps. q receives q + half_levels.
inline void quantize_symmetric_k(const float* x, int half_levels, int max_scale, uint16_t& d_bits, int8_t* scales,
                                 uint8_t* q) {
  float sub_scale[16], max_sub_scale = 0.0f;
  for (int j = 0; j < 16; ++j) {
    sub_scale[j] = signed_abs_max(x + 16 * j, 16) / static_cast<float>(-half_levels);
    max_sub_scale = std::max(max_sub_scale, std::fabs(sub_scale[j]));
  }
  d_bits = fp16_round_up(max_sub_scale / static_cast<float>(max_scale));
  const float d = fp16_to_fp32(d_bits);
  for (int j = 0; j < 16; ++j) {
    const float magnitude =
        d > 0.0f ? std::min(static_cast<float>(max_scale), std::ceil(std::fabs(sub_scale[j]) / d)) : 0.0f;
    scales[j] = static_cast<int8_t>(sub_scale[j] < 0.0f ? -magnitude : magnitude);
    const float step = d * scales[j];
    const float inverse = step != 0.0f ? 1.0f / step : 0.0f;
    for (int l = 0; l < 16; ++l)
      q[16 * j + l] = static_cast<uint8_t>(
          std::clamp(nearest_int(x[16 * j + l] * inverse), -half_levels, half_levels - 1) + half_levels);
  }
}

inline void quantize_block(const float* x, BlockQ3_K& b) {
  int8_t scales[16];
  uint8_t q[256];
  quantize_symmetric_k(x, 4, 31, b.d, scales, q);  // stored as scale + 32 in 6 bits: |scale| <= 31
  pack_scales_q3_k(scales, b.scales);
  pack_quants_q3_k(q, b);
}

inline void quantize_block(const float* x, BlockQ6_K& b) {
  uint8_t q[256];
  quantize_symmetric_k(x, 32, 127, b.d, b.scales, q);
  pack_quants_q6_k(q, b);
}

// Q8_K (activations only): float d, the extreme maps to -128.
inline void quantize_block(const float* x, BlockQ8_K& b) {
  const float extreme = signed_abs_max(x, 256);
  if (extreme == 0.0f) {
    std::memset(&b, 0, sizeof b);
    return;
  }
  const float inverse = -128.0f / extreme;
  for (int j = 0; j < 256; ++j) b.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(inverse * x[j])));
  for (int j = 0; j < 16; ++j) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += b.qs[16 * j + l];
    b.bsums[j] = static_cast<int16_t>(sum);
  }
  b.d = 1.0f / inverse;
}

// n floats (a whole number of blocks) to blocks.
template <typename Block>
void quantize_row(const float* x, Block* blocks, int64_t n) {
  for (int64_t i = 0; i < n / Block::kBlockSize; ++i) quantize_block(x + i * Block::kBlockSize, blocks[i]);
}

inline void quantize_row_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}
inline void quantize_row_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

// ---------------------------------------------------------------------------------------
// Dot products: weight row · activation row, n elements
// ---------------------------------------------------------------------------------------

inline int dot32(const int* w, const int8_t* a) {
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += w[j] * a[j];
  return sum;
}

inline float vec_dot(const BlockQ4_0* w, const BlockQ8_0* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    int q[32];
    unpack_nibbles32(w[i].qs, q);
    for (int& v : q) v -= 8;
    sum += fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) * static_cast<float>(dot32(q, a[i].qs));
  }
  return sum;
}

// sum_j (d q_j + m) a_d a_j = d a_d sum_j q_j a_j + m a_s.
inline float vec_dot(const BlockQ4_1* w, const BlockQ8_1* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    int q[32];
    unpack_nibbles32(w[i].qs, q);
    sum += fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) * static_cast<float>(dot32(q, a[i].qs)) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  return sum;
}

inline float vec_dot(const BlockQ5_0* w, const BlockQ8_0* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    int q[32];
    unpack_q5(w[i].qs, w[i].qh, q);
    for (int& v : q) v -= 16;
    sum += fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) * static_cast<float>(dot32(q, a[i].qs));
  }
  return sum;
}

inline float vec_dot(const BlockQ5_1* w, const BlockQ8_1* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    int q[32];
    unpack_q5(w[i].qs, w[i].qh, q);
    sum += fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) * static_cast<float>(dot32(q, a[i].qs)) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  return sum;
}

inline float vec_dot(const BlockQ8_0* w, const BlockQ8_0* a, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    int block_sum = 0;
    for (int j = 0; j < 32; ++j) block_sum += w[i].qs[j] * a[i].qs[j];
    sum += fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) * static_cast<float>(block_sum);
  }
  return sum;
}

// The K-quant dots: the sum over a row's super-blocks of block_dot(w[i], a[i]).
template <typename Weight, typename BlockDot>
inline float sum_of_super_block_dots(const Weight* w, const BlockQ8_K* a, int64_t n, BlockDot block_dot) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 256; ++i) sum += block_dot(w[i], a[i]);
  return sum;
}

// Q2_K: a_d (d sum_j scale_j (q · a)_j - dmin sum_j min_j bsum_j) over 16 sub-blocks of 16.
inline float vec_dot(const BlockQ2_K* w, const BlockQ8_K* a, int64_t n) {
  return sum_of_super_block_dots(w, a, n, [](const BlockQ2_K& b, const BlockQ8_K& x) {
    uint8_t q[256];
    unpack_2bit_quants(b.qs, q);
    int32_t scaled_sum = 0, min_sum = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t sub_dot = 0;
      for (int l = 0; l < 16; ++l) sub_dot += q[16 * j + l] * x.qs[16 * j + l];
      scaled_sum += (b.scales[j] & 0x0f) * sub_dot;
      min_sum += (b.scales[j] >> 4) * x.bsums[j];
    }
    return x.d * (fp16_to_fp32(b.d) * static_cast<float>(scaled_sum) -
                  fp16_to_fp32(b.dmin) * static_cast<float>(min_sum));
  });
}

// Q3_K / Q6_K super-block, quants stored as q + offset: sum_j scale_j ((q - offset) · a)_j.
inline int32_t symmetric_k16_block_dot(const uint8_t* q, int offset, const int8_t* scales, const BlockQ8_K& a) {
  int32_t scaled_sum = 0;
  for (int j = 0; j < 16; ++j) {
    int32_t sub_dot = 0;
    for (int l = 0; l < 16; ++l) sub_dot += (q[16 * j + l] - offset) * a.qs[16 * j + l];
    scaled_sum += scales[j] * sub_dot;
  }
  return scaled_sum;
}

inline float vec_dot(const BlockQ3_K* w, const BlockQ8_K* a, int64_t n) {
  return sum_of_super_block_dots(w, a, n, [](const BlockQ3_K& b, const BlockQ8_K& x) {
    uint8_t q[256];
    unpack_quants_q3_k(b, q);
    int8_t scales[16];
    unpack_scales_q3_k(b.scales, scales);
    return x.d * fp16_to_fp32(b.d) * static_cast<float>(symmetric_k16_block_dot(q, 4, scales, x));
  });
}

// One Q4_K / Q5_K super-block with unpacked quants q: a_d (d sum_j scale_j (q · a)_j -
// dmin sum_j min_j sum(a)_j), the sums of a coming from the activation's bsums.
inline float k_affine_block_dot(uint16_t d_bits, uint16_t dmin_bits, const uint8_t* packed, const uint8_t* q,
                                const BlockQ8_K& a) {
  uint8_t scales[8], mins[8];
  unpack_scales_mins_k4(packed, scales, mins);
  int32_t scaled_sum = 0, min_sum = 0;
  for (int j = 0; j < 8; ++j) {
    int32_t sub_dot = 0;
    for (int l = 0; l < 32; ++l) sub_dot += q[32 * j + l] * a.qs[32 * j + l];
    scaled_sum += scales[j] * sub_dot;
    min_sum += mins[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
  }
  return a.d * (fp16_to_fp32(d_bits) * static_cast<float>(scaled_sum) -
                fp16_to_fp32(dmin_bits) * static_cast<float>(min_sum));
}

inline float vec_dot(const BlockQ4_K* w, const BlockQ8_K* a, int64_t n) {
  return sum_of_super_block_dots(w, a, n, [](const BlockQ4_K& b, const BlockQ8_K& x) {
    uint8_t q[256];
    unpack_quants_k(b.qs, nullptr, q);
    return k_affine_block_dot(b.d, b.dmin, b.scales, q, x);
  });
}

inline float vec_dot(const BlockQ5_K* w, const BlockQ8_K* a, int64_t n) {
  return sum_of_super_block_dots(w, a, n, [](const BlockQ5_K& b, const BlockQ8_K& x) {
    uint8_t q[256];
    unpack_quants_k(b.qs, b.qh, q);
    return k_affine_block_dot(b.d, b.dmin, b.scales, q, x);
  });
}

inline float vec_dot(const BlockQ6_K* w, const BlockQ8_K* a, int64_t n) {
  return sum_of_super_block_dots(w, a, n, [](const BlockQ6_K& b, const BlockQ8_K& x) {
    uint8_t q[256];
    unpack_quants_q6_k(b, q);
    return x.d * fp16_to_fp32(b.d) * static_cast<float>(symmetric_k16_block_dot(q, 32, b.scales, x));
  });
}

// Float rows against float activations. Eight partial sums, like the eight lanes of the
// AVX2 twin, keep the rounding error of long rows small.
template <typename Load>
float dot_float_row(Load load, const float* x, int64_t n) {
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) partial[k] += load(i + k) * x[i + k];
  for (; i < n; ++i) partial[0] += load(i) * x[i];
  float sum = 0.0f;
  for (float p : partial) sum += p;
  return sum;
}

inline float dot_f32(const float* w, const float* x, int64_t n) {
  return dot_float_row([w](int64_t i) { return w[i]; }, x, n);
}
inline float dot_f16(const uint16_t* w, const float* x, int64_t n) {
  return dot_float_row([w](int64_t i) { return fp16_to_fp32(w[i]); }, x, n);
}
inline float dot_bf16(const uint16_t* w, const float* x, int64_t n) {
  return dot_float_row([w](int64_t i) { return bf16_to_fp32(w[i]); }, x, n);
}

// Several weight rows (`row_stride` bytes apart) against one activation row: out[r] is the
// dot of row r. The AVX2 twins share the activation loads across rows; these are the
// reference they are tested against, one vec_dot per row.
template <typename Weight, typename Activation>
void vec_dot_rows(const Weight* w, uint64_t row_stride, const Activation* a, int64_t n, float* out, int64_t n_rows) {
  const auto* rows = reinterpret_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < n_rows; ++r) out[r] = vec_dot(reinterpret_cast<const Weight*>(rows + r * row_stride), a, n);
}

// Whether the kernels have a vec_dot_rows_tokens, a multi-token kernel faster than
// vec_dot_rows per token: not the portable ones (kernels/quant.hpp then runs vec_dot_rows per
// token, and prefill dequantizes for a GEMM).
template <typename Weight>
inline constexpr bool kMultiTokenDot = false;

// 16-bit float rows, one dot (dot_f16 or dot_bf16) per row.
template <float (*kDot)(const uint16_t*, const float*, int64_t)>
inline void dot_16bit_rows(const uint16_t* w, uint64_t row_stride, const float* x, int64_t n, float* out,
                           int64_t n_rows) {
  const auto* rows = reinterpret_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < n_rows; ++r) out[r] = kDot(reinterpret_cast<const uint16_t*>(rows + r * row_stride), x, n);
}
inline void dot_f16_rows(const uint16_t* w, uint64_t row_stride, const float* x, int64_t n, float* out,
                         int64_t n_rows) {
  dot_16bit_rows<dot_f16>(w, row_stride, x, n, out, n_rows);
}
inline void dot_bf16_rows(const uint16_t* w, uint64_t row_stride, const float* x, int64_t n, float* out,
                          int64_t n_rows) {
  dot_16bit_rows<dot_bf16>(w, row_stride, x, n, out, n_rows);
}

}  // namespace llmpp::kernels::scalar
