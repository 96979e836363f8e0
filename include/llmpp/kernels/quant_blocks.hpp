// GGML's quantized block layouts, byte for byte as they sit in a GGUF file. A row of a
// quantized tensor is an array of these blocks; `kBlockSize` elements per block.
//
// fp16 fields are kept as raw uint16_t bits (fp16.hpp converts them), so every struct is
// trivially copyable and its size is fixed by the static_asserts below. Nibble order:
// the 32-element types keep element j in the low nibble of qs[j] and element j + 16 in
// the high nibble; the K-quants group 64 elements per 32 bytes (low nibbles: the first 32
// elements, high nibbles: the next 32).
#pragma once

#include <cstdint>

namespace llmpp::kernels {

inline constexpr int kBlockSize32 = 32;   // QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = QK8_1
inline constexpr int kSuperBlockSize = 256;  // QK_K

// x = d * (q - 8), q in [0, 15].
struct BlockQ4_0 {
  static constexpr int kBlockSize = kBlockSize32;
  uint16_t d;       // fp16 scale
  uint8_t qs[16];   // 4-bit quants
};

// x = d * q + m, q in [0, 15].
struct BlockQ4_1 {
  static constexpr int kBlockSize = kBlockSize32;
  uint16_t d;       // fp16 scale
  uint16_t m;       // fp16 minimum
  uint8_t qs[16];   // 4-bit quants
};

// x = d * (q - 16), q in [0, 31]; bit 4 of element j is bit j of the little-endian qh.
struct BlockQ5_0 {
  static constexpr int kBlockSize = kBlockSize32;
  uint16_t d;       // fp16 scale
  uint8_t qh[4];    // fifth bits
  uint8_t qs[16];   // low 4 bits
};

// x = d * q + m, q in [0, 31].
struct BlockQ5_1 {
  static constexpr int kBlockSize = kBlockSize32;
  uint16_t d;       // fp16 scale
  uint16_t m;       // fp16 minimum
  uint8_t qh[4];    // fifth bits
  uint8_t qs[16];   // low 4 bits
};

// x = d * q.
struct BlockQ8_0 {
  static constexpr int kBlockSize = kBlockSize32;
  uint16_t d;       // fp16 scale
  int8_t qs[32];
};

// Activation partner of Q4_1 / Q5_1: s = d * sum(qs) carries the term their minimum needs.
struct BlockQ8_1 {
  static constexpr int kBlockSize = kBlockSize32;
  uint16_t d;       // fp16 scale
  uint16_t s;       // fp16 d * sum(qs)
  int8_t qs[32];
};

// Super-block of 16 sub-blocks of 16: x = d * scale_j * q - dmin * min_j, q in [0, 3], with
// 4-bit scale_j (low nibble of scales[j]) and min_j (high nibble). Per half h of 128
// elements, bits 2k, 2k + 1 of qs[32h + l] hold element 128h + 32k + l (l < 32).
struct BlockQ2_K {
  static constexpr int kBlockSize = kSuperBlockSize;
  uint8_t scales[16];    // 4-bit scales and mins
  uint8_t qs[64];        // 2-bit quants
  uint16_t d;            // fp16 super-scale of the sub-block scales
  uint16_t dmin;         // fp16 super-scale of the sub-block mins
};

// Super-block of 16 sub-blocks of 16: x = d * (scale_j - 32) * q, q in [-4, 3]. The low 2
// bits of q sit as in Q2_K; bit 4h + k of hmask[l] is the third bit of element 128h + 32k + l,
// and q = low bits - 4 where that bit is clear. The 6-bit scales: the low nibble of scale j
// is the low (j < 8) or high (j >= 8) nibble of scales[j % 8], its top 2 bits are bits
// 2 (j / 4), 2 (j / 4) + 1 of scales[8 + j % 4].
struct BlockQ3_K {
  static constexpr int kBlockSize = kSuperBlockSize;
  uint8_t hmask[32];     // third bits
  uint8_t qs[64];        // low 2 bits
  uint8_t scales[12];    // 16 six-bit scales, offset by 32
  uint16_t d;            // fp16 super-scale
};

// Super-block of 8 sub-blocks of 32: x = d * scale_j * q - dmin * min_j, q in [0, 15],
// scale_j and min_j 6-bit, packed in `scales` (see unpack_scales_mins_k4 in scalar/quant.hpp).
struct BlockQ4_K {
  static constexpr int kBlockSize = kSuperBlockSize;
  uint16_t d;            // fp16 super-scale of the sub-block scales
  uint16_t dmin;         // fp16 super-scale of the sub-block mins
  uint8_t scales[12];    // 8 scales and 8 mins, 6 bits each
  uint8_t qs[128];       // 4-bit quants
};

// As Q4_K with a fifth bit: bit (2c) of qh[l] belongs to element 64c + l, bit (2c + 1) to
// element 64c + 32 + l.
struct BlockQ5_K {
  static constexpr int kBlockSize = kSuperBlockSize;
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];        // fifth bits
  uint8_t qs[128];       // low 4 bits
};

// Super-block of 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q in [0, 63].
// Per half of 128 elements: ql holds the low 4 bits of elements l and l + 64 (l < 32) and
// of l + 32 and l + 96 (ql[l + 32]); qh[l] holds the top 2 bits of l, l + 32, l + 64, l + 96.
struct BlockQ6_K {
  static constexpr int kBlockSize = kSuperBlockSize;
  uint8_t ql[128];       // low 4 bits
  uint8_t qh[64];        // high 2 bits
  int8_t scales[16];     // 8-bit sub-block scales
  uint16_t d;            // fp16 super-scale
};

// Activation partner of the K-quants: float scale, and per-16 sums that the K-quant dots
// use for their minimum / offset terms.
struct BlockQ8_K {
  static constexpr int kBlockSize = kSuperBlockSize;
  float d;
  int8_t qs[256];
  int16_t bsums[16];     // bsums[j] = sum of qs[16j .. 16j + 16)
};

static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes");
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block must be 20 bytes");
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block must be 22 bytes");
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block must be 24 bytes");
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes");
static_assert(sizeof(BlockQ8_1) == 36, "Q8_1 block must be 36 bytes");
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block must be 84 bytes");
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block must be 110 bytes");
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block must be 144 bytes");
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block must be 176 bytes");
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must be 210 bytes");
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block must be 292 bytes");

}  // namespace llmpp::kernels
