// AVX-512 F32 matrix product for prefill over weights of any type that dequantizes to
// floats: y (n_tokens, rows) = x (n_tokens, n_in) · wᵀ, the weights unpacked piece by piece
// into a packed panel that stays in the caches. Used by kernels/linear.hpp for F32, F16,
// BF16 and the quantized types without an integer prefill kernel, when the translation unit
// is compiled for AVX-512 F (-march=native on Zen 4/5, Ice Lake and later).
//
// The register tile is the outer-product micro-kernel of Goto and van de Geijn ("Anatomy of
// high-performance matrix multiplication", 2008): kTileTokens tokens × kPanelRows weight rows
// of C in 24 zmm accumulators; each step over the inner dimension loads four vectors of the
// panel (64 rows at one column) and broadcasts one activation per token, 24 FMAs for 10
// loads. The panel holds kPanelRows rows × kPanelColumns columns, column-major, so those four
// loads are contiguous; packing transposes 16 × 16 blocks of the dequantized rows.
//
// Why not Eigen: on a Zen 5 core, Eigen 3.4's AVX-512 product of 512 tokens × 2048 × 2048 ran
// at 53-61% of the FP32 FMA peak in most runs (43-66% at the extremes); this kernel at 84-90%
// in the same runs (tile shapes of 8 to 24 accumulators and panels of 128 to 2048 columns
// measured; 6 × 64 with 256 best or tied).
#pragma once

#if defined(__AVX512F__)
#define LLMPP_AVX512_GEMM 1

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace llmpp::kernels::avx512 {

inline constexpr int kTileTokens = 6;      // tokens per register tile
inline constexpr int kPanelVectors = 4;    // zmm vectors of weight rows per register tile
inline constexpr int64_t kPanelRows = 16 * kPanelVectors;
// Columns per panel: 64 rows x 256 floats = 64 KiB, read from L1/L2 once per tile of
// tokens. A multiple of every block size (32, 256), so a panel starts on a block boundary.
inline constexpr int64_t kPanelColumns = 256;
static_assert(kPanelColumns % 256 == 0, "panels start on a block boundary of every type");

// Floats of scratch that gemm_rows needs: the panel and one group of 16 dequantized rows.
inline constexpr int64_t kGemmScratchFloats = kPanelRows * kPanelColumns + 16 * kPanelColumns;

// dst[c * dst_stride + r] = src[r * src_stride + c] for r, c < 16.
inline void transpose_16x16(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  __m512 r[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
  // Pairs of rows interleaved by 32 bits, then by 64: in each 128-bit lane L, r[4i + j] holds
  // column 4L + j of rows 4i .. 4i + 3.
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  const auto lo64 = [](__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  };
  const auto hi64 = [](__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  };
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = lo64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = hi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = lo64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = hi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // Then the 128-bit lanes: two rounds of shuffles gather lane L of the four row groups.
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
    t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xdd);
    t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
    t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xdd);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
    r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xdd);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * dst_stride, r[i]);
}

// dst[c * dst_stride + r] = row r's element c, for r < n_rows (a multiple of 16) and c below
// n_columns rounded up to 16: rows as the columns of a panel. fill(r, out) writes row r's
// n_columns floats to out for r < n_valid; later rows and columns pack as zeros. rows: a
// scratch of 16 rows, row_stride >= the rounded n_columns floats apart.
template <typename Fill>
void pack_transposed(int64_t n_rows, int64_t n_valid, int64_t n_columns, Fill&& fill, float* rows, int64_t row_stride,
                     float* dst, int64_t dst_stride) {
  const int64_t padded = (n_columns + 15) / 16 * 16;
  for (int64_t g = 0; g < n_rows; g += 16) {
    for (int64_t i = 0; i < 16; ++i) {
      float* row = rows + i * row_stride;
      if (g + i < n_valid) fill(g + i, row);
      std::fill(row + (g + i < n_valid ? n_columns : 0), row + padded, 0.0f);
    }
    for (int64_t c = 0; c < padded; c += 16) transpose_16x16(rows + c, row_stride, dst + c * dst_stride + g, dst_stride);
  }
}

namespace count_detail {
template <typename Fn, int... k>
void with_count_of(int n, Fn& fn, std::integer_sequence<int, k...>) {
  (void)((n == k + 1 ? (fn(std::integral_constant<int, k + 1>{}), true) : false) || ...);
}
}  // namespace count_detail

// fn(std::integral_constant<int, n>) for 1 <= n <= kMax: a count known at run time as a
// template argument (register tiles are sized at compile time).
template <int kMax, typename Fn>
void with_count(int n, Fn&& fn) {
  count_detail::with_count_of(n, fn, std::make_integer_sequence<int, kMax>{});
}

namespace gemm_detail {

// c (kTokens, kPanelRows; row stride c_stride) = (accumulate ? c : 0) + x (kTokens, columns;
// row stride x_stride) · panel (columns, kPanelRows).
// The loops over register arrays here and in transpose_16x16 are unrolled by request: GCC
// at -O2 (RelWithDebInfo, many distributions' default) left them rolled and kept the arrays
// in memory; F16 prefill ran at a quarter of the speed of -O3.
template <int kTokens>
inline void tile(const float* panel, int64_t columns, const float* x, int64_t x_stride, float* c, int64_t c_stride,
                 bool accumulate) {
  __m512 acc[kTokens][kPanelVectors];
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < kPanelVectors; ++v)
      acc[t][v] = accumulate ? _mm512_loadu_ps(c + t * c_stride + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int64_t k = 0; k < columns; ++k) {
    __m512 w[kPanelVectors];
#pragma GCC unroll 8
    for (int v = 0; v < kPanelVectors; ++v) w[v] = _mm512_load_ps(panel + kPanelRows * k + 16 * v);
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
      const __m512 a = _mm512_set1_ps(x[t * x_stride + k]);
#pragma GCC unroll 8
      for (int v = 0; v < kPanelVectors; ++v) acc[t][v] = _mm512_fmadd_ps(a, w[v], acc[t][v]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < kTokens; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < kPanelVectors; ++v) _mm512_storeu_ps(c + t * c_stride + 16 * v, acc[t][v]);
}

// tile<n_tokens> for 1 <= n_tokens <= kTileTokens.
inline void tile_any(int n_tokens, const float* panel, int64_t columns, const float* x, int64_t x_stride, float* c,
                     int64_t c_stride, bool accumulate) {
  with_count<kTileTokens>(n_tokens, [&](auto tokens) {
    tile<decltype(tokens)::value>(panel, columns, x, x_stride, c, c_stride, accumulate);
  });
}

}  // namespace gemm_detail

// y[t * y_stride + r] = x row t · w row r for t < n_tokens and row_begin <= r < row_end, x
// (n_tokens, n_in) row-major. dequantize(r, k0, n, out) writes the floats of w row r, columns
// [k0, k0 + n), to out; k0 is a multiple of kPanelColumns. scratch: kGemmScratchFloats floats
// on a 64-byte boundary.
template <typename Dequantize>
void gemm_rows(Dequantize&& dequantize, const float* x, int64_t n_tokens, int64_t n_in, float* y, int64_t y_stride,
               int64_t row_begin, int64_t row_end, float* scratch) {
  using namespace gemm_detail;
  float* panel = scratch;                                // (kPanelColumns, kPanelRows)
  float* rows = scratch + kPanelRows * kPanelColumns;    // (16, kPanelColumns): dequantized rows
  // (kTileTokens, kPanelRows): a ragged tile's part of y, zero past its rows.
  alignas(64) float edge[kTileTokens * kPanelRows] = {};
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kPanelRows) {
    const int64_t n_rows = std::min(kPanelRows, row_end - r0);
    for (int64_t k0 = 0; k0 < n_in; k0 += kPanelColumns) {
      const int64_t columns = std::min(kPanelColumns, n_in - k0);
      // Rows past the weight's end and columns past n_in pack as zeros.
      pack_transposed(
          kPanelRows, n_rows, columns, [&](int64_t i, float* out) { dequantize(r0 + i, k0, columns, out); }, rows,
          kPanelColumns, panel, kPanelRows);
      const bool accumulate = k0 > 0;
      for (int64_t t = 0; t < n_tokens; t += kTileTokens) {
        const int n = static_cast<int>(std::min<int64_t>(kTileTokens, n_tokens - t));
        const float* xt = x + t * n_in + k0;
        float* yt = y + t * y_stride + r0;
        if (n_rows == kPanelRows) {
          tile_any(n, panel, columns, xt, n_in, yt, y_stride, accumulate);
          continue;
        }
        // A ragged last row block: through a full-width copy of its part of y.
        for (int i = 0; i < n; ++i)
          if (accumulate) std::memcpy(edge + i * kPanelRows, yt + i * y_stride, n_rows * sizeof(float));
        tile_any(n, panel, columns, xt, n_in, edge, kPanelRows, accumulate);
        for (int i = 0; i < n; ++i) std::memcpy(yt + i * y_stride, edge + i * kPanelRows, n_rows * sizeof(float));
      }
    }
  }
}

}  // namespace llmpp::kernels::avx512

#endif  // __AVX512F__
