// Linear layers over weights of any supported type: y = x · Wᵀ.
// This is the single entry point the layers and the model call; it dispatches on the
// weight type (kernels/quant.hpp) and on the number of tokens:
//   decode (few tokens): quantize each activation row once to the weight type's partner
//     (Q8_0 / Q8_1 / Q8_K, as ggml does), then the type's rows kernel (dot_rows: a run of
//     weight rows against the one activation, one row or four rows per pass), rows split
//     across the pool. Every weight byte is read once per call.
//   prefill (many tokens), types with an integer multi-token kernel (integer_prefill: Q4_0
//     and the K-quants): as decode, with dot_rows_tokens over tiles of rows and tokens that
//     stay in the caches, so each unpacked weight block serves several tokens;
//   prefill, other types: dequantize a tile of weight rows into floats that stay in the
//     L2/L3 caches and multiply all tokens by it with Eigen's GEMM, so each dequantized
//     weight serves every token; in AVX-512 builds, panels of dequantized rows through the
//     micro-kernel of kernels/avx512/gemm.hpp instead, F32 weights included.
// F32 weights otherwise (decode, and prefill in other builds) go to Eigen.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "llmpp/kernels/avx512/gemm.hpp"
#include "llmpp/kernels/quant.hpp"

namespace llmpp::kernels {

// From this many tokens on, matmul dequantizes weight tiles instead of quantizing the
// activations, for the types without integer_prefill. Measured on a Zen 1 core (4096x4096):
// the crossover is 8 tokens for Q8_0 and F16; 12 dates from when the K-quants (about 16)
// shared this path, and is kept until the crossover is measured again.
inline constexpr int64_t kPrefillMinTokens = 12;
// Weight rows dequantized at once in prefill, at most: 256 rows of 2048 floats = 2 MiB stay
// in the L3 cache while Eigen streams every token past them, and fewer, larger products
// repack the tokens less often (pp512 on TinyLlama Q4_0, 2 threads: 64 rows 28.3-28.5 t/s,
// 256 rows 29.6-32.0). Small matrices get fewer rows so that every thread has a tile.
inline constexpr int64_t kPrefillTileRows = 256;
// Rows per decode work unit: keeps neighbouring rows on one thread for the prefetcher.
inline constexpr int64_t kDecodeGrainRows = 16;
// Pieces per thread's share of a decode matrix: a thread that finishes first takes the
// others' last pieces (ThreadPool::parallel_for). On a 2-core Zen 4 VM, with one piece per
// share, one thread's half of a matrix took 20% longer than the other's in a quarter of the
// calls (TinyLlama Q4_0 decode). With 8 pieces, each prefetched by the piece before it
// (the four-row kernels prefetch past their last row; in the one-row kernels the hardware
// prefetcher runs on into the next piece), the two threads finish within 4% of each other in
// half the calls, and decode gives 2.5-6.5% more tokens/s (Q8_0, Q4_0, Q4_K_M; one piece and
// eight alternating every 4 tokens in one process, so both see the same memory bandwidth).
// Sixteen pieces shorten the wait for the last one again: TinyLlama decode, 16 against 8 in
// one process, Q4_0 1.02-1.04x while the host gave 55-65 GB/s (1.00 at 35), Q4_K_M
// 1.006-1.014x, F16 1.012-1.023x, Q8_0 1.003-1.005x; 32 were no faster than 8.
inline constexpr int kDecodePiecesPerShare = 16;
// Rows per slab when decoding several tokens: 64 rows of 4096 Q8_0 weights are 272 KiB, in
// the L2 cache while each token's activation passes over them.
inline constexpr int64_t kDecodeSlabRows = 64;
// Tokens per tile when decoding several tokens: 16 Q8_K activation rows of 4096 are 73 KiB,
// in the L2 cache beside the slab while dot_rows_tokens passes them over groups of 4 rows.
inline constexpr int64_t kDecodeTileTokens = 16;

namespace detail {

// A per-thread buffer that only grows, so that warm calls allocate nothing. `slot` tells
// apart the buffers one thread needs at the same time.
inline void* thread_scratch(int slot, size_t bytes) {
  thread_local std::vector<float> buffers[2];  // float elements keep the data 4-byte aligned
  std::vector<float>& buffer = buffers[slot];
  const size_t n_floats = (bytes + sizeof(float) - 1) / sizeof(float);
  if (buffer.size() < n_floats) buffer.resize(n_floats);
  return buffer.data();
}

// Below this many multiply-adds a call runs on the calling thread: waking the pool costs
// microseconds, more than a small model's whole matrix product.
inline constexpr int64_t kMinParallelWork = int64_t{1} << 16;

inline ThreadPool* pool_for_work(ThreadPool* pool, int64_t multiply_adds) {
  return multiply_adds >= kMinParallelWork ? pool : nullptr;
}

template <typename Body>
void run_rows(ThreadPool* pool, int64_t n_rows, int64_t grain, Body&& body, int pieces_per_share = 1) {
  if (pool) pool->parallel_for(n_rows, body, grain, pieces_per_share);
  else body(int64_t{0}, n_rows);
}

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using OutputBlock = Eigen::Map<RowMajorMatrix, 0, Eigen::OuterStride<>>;

inline void matmul_f32(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  const int64_t n_in = w.cols(), n_out = w.rows();
  Eigen::Map<const RowMajorMatrix> xm(x, n_tokens, n_in);  // (n_tokens, n_in)
  run_rows(pool, n_out, kDecodeGrainRows, [&](int64_t begin, int64_t end) {
    Eigen::Map<const RowMajorMatrix> wm(w.f32() + begin * n_in, end - begin, n_in);  // (rows, n_in)
    OutputBlock ym(y + begin, n_tokens, end - begin, Eigen::OuterStride<>(n_out));  // (n_tokens, rows)
    ym.noalias() = xm * wm.transpose();
  });
}

inline void matmul_decode(const WeightTypeKernels& kernels, const TensorView& w, const float* x, int64_t n_tokens,
                          float* y, ThreadPool* pool) {
  const int64_t n_in = w.cols(), n_out = w.rows();
  const uint8_t* activations = reinterpret_cast<const uint8_t*>(x);
  uint64_t activation_stride = static_cast<uint64_t>(n_in) * sizeof(float);
  if (kernels.activation_type != DType::F32) {
    activation_stride = row_bytes(kernels.activation_type, static_cast<uint64_t>(n_in));
    // (n_tokens, activation_stride) bytes: each token's activation row, quantized once.
    auto* quantized = static_cast<uint8_t*>(thread_scratch(0, n_tokens * activation_stride));
    for (int64_t t = 0; t < n_tokens; ++t)
      quantize_row(kernels.activation_type, x + t * n_in, quantized + t * activation_stride, n_in);
    activations = quantized;
  }
  const uint64_t weight_stride = w.row_stride();
  const auto* weights = static_cast<const uint8_t*>(w.data);
  run_rows(pool, n_out, kDecodeGrainRows, [&](int64_t begin, int64_t end) {
    if (n_tokens == 1) return kernels.dot_rows(weights + begin * weight_stride, weight_stride, activations, n_in,
                                               y + begin, end - begin);
    // Several tokens: each slab of rows stays in the caches while every tile of tokens passes.
    for (int64_t slab = begin; slab < end; slab += kDecodeSlabRows)
      for (int64_t t = 0; t < n_tokens; t += kDecodeTileTokens)
        kernels.dot_rows_tokens(weights + slab * weight_stride, weight_stride, activations + t * activation_stride,
                                activation_stride, n_in, std::min(kDecodeTileTokens, n_tokens - t),
                                y + t * n_out + slab, n_out, std::min(kDecodeSlabRows, end - slab));
  }, kDecodePiecesPerShare);
}

inline void matmul_prefill(const WeightTypeKernels& kernels, const TensorView& w, const float* x, int64_t n_tokens,
                           float* y, ThreadPool* pool) {
  const int64_t n_in = w.cols(), n_out = w.rows();
  const uint64_t weight_stride = w.row_stride();
  const auto* weights = static_cast<const uint8_t*>(w.data);
#if defined(LLMPP_AVX512_GEMM)
  // Panels of dequantized rows through the AVX-512 micro-kernel (kernels/avx512/gemm.hpp).
  const auto dequantize = [&](int64_t row, int64_t first_column, int64_t n_columns, float* out) {
    const uint64_t offset = row_bytes(w.type, static_cast<uint64_t>(first_column));
    kernels.dequantize_row(weights + row * weight_stride + offset, out, n_columns);
  };
  run_rows(pool, n_out, avx512::kPanelRows, [&](int64_t begin, int64_t end) {
    auto* scratch = static_cast<float*>(thread_scratch(1, avx512::kGemmScratchFloats * sizeof(float) + 64));
    auto* aligned = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
    avx512::gemm_rows(dequantize, x, n_tokens, n_in, y, n_out, begin, end, aligned);
  });
#else
  Eigen::Map<const RowMajorMatrix> xm(x, n_tokens, n_in);  // (n_tokens, n_in)
  const int64_t n_threads = pool ? pool->size() : 1;
  const int64_t rows_per_thread = (n_out + n_threads - 1) / n_threads;
  const int64_t max_rows = std::min(kPrefillTileRows, (rows_per_thread + 15) / 16 * 16);
  run_rows(pool, n_out, max_rows, [&](int64_t begin, int64_t end) {
    // (max_rows, n_in): this thread's dequantized weight tile.
    auto* tile = static_cast<float*>(thread_scratch(1, max_rows * n_in * sizeof(float)));
    for (int64_t tile_begin = begin; tile_begin < end; tile_begin += max_rows) {
      const int64_t tile_rows = std::min(max_rows, end - tile_begin);
      for (int64_t r = 0; r < tile_rows; ++r)
        kernels.dequantize_row(weights + (tile_begin + r) * weight_stride, tile + r * n_in, n_in);
      Eigen::Map<const RowMajorMatrix> wm(tile, tile_rows, n_in);  // (tile_rows, n_in)
      OutputBlock ym(y + tile_begin, n_tokens, tile_rows, Eigen::OuterStride<>(n_out));  // (n_tokens, tile_rows)
      ym.noalias() = xm * wm.transpose();
    }
  });
#endif
}

// The kernels of w's type, after the checks matmul documents.
inline const WeightTypeKernels& checked_kernels(const TensorView& w, const float* x, int64_t n_tokens, const float* y) {
  const WeightTypeKernels& kernels = weight_type_kernels(w.type, "matmul");
  if (!w.valid() || n_tokens < 0 || (n_tokens > 0 && (!x || !y)))
    throw InvalidArgument("matmul: null data or negative token count for weight '" + w.name + "'");
  const uint32_t block_size = dtype_traits(w.type).block_size;
  if (w.cols() % block_size != 0)
    throw InvalidArgument("matmul: weight '" + w.name + "' of shape " + w.shape_string() + " has rows that are not " +
                          "a whole number of " + dtype_name(w.type) + " blocks");
  const uint64_t weight_bytes = checked_mul(w.row_stride(), static_cast<uint64_t>(w.rows()), "weight byte size");
  if (w.nbytes != 0 && w.nbytes < weight_bytes)
    throw InvalidArgument("matmul: weight '" + w.name + "' of shape " + w.shape_string() + " needs " +
                          std::to_string(weight_bytes) + " bytes of " + dtype_name(w.type) + " but its view has " +
                          std::to_string(w.nbytes));
  return kernels;
}

}  // namespace detail

// y (n_tokens, w.rows()) = x (n_tokens, w.cols()) · wᵀ, both row-major. Throws
// InvalidArgument for a weight type without kernels (I32, ...) or a bad view (null
// data, rows that are not whole blocks, fewer bytes than the shape needs).
inline void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool = nullptr) {
  const WeightTypeKernels& kernels = detail::checked_kernels(w, x, n_tokens, y);
  if (n_tokens == 0 || w.rows() == 0) return;
  pool = detail::pool_for_work(pool, w.rows() * w.cols() * n_tokens);
#if defined(LLMPP_AVX512_GEMM)
  if (w.type == DType::F32 && n_tokens < kPrefillMinTokens) return detail::matmul_f32(w, x, n_tokens, y, pool);
#else
  if (w.type == DType::F32) return detail::matmul_f32(w, x, n_tokens, y, pool);
#endif
  if (n_tokens < kPrefillMinTokens || kernels.integer_prefill)
    return detail::matmul_decode(kernels, w, x, n_tokens, y, pool);
  detail::matmul_prefill(kernels, w, x, n_tokens, y, pool);
}

// One product of matmul_shared_input: y (n_tokens, w->rows()) = x · w->ᵀ.
struct MatmulProduct {
  const TensorView* w;
  float* y;
};

// matmul of one x (n_tokens, cols) with several weights of the same width, as a layer's Q, K and
// V or an FFN's gate and up. Decoding one token, when the weights' kernels take the same
// activation type, x is quantized once and the rows of all the weights go to the pool as one
// range: one dispatch and one wait for the last piece instead of one per weight (TinyLlama
// decode, 2 threads, against a matmul per weight in one process: Q4_0 1.07-1.10x, Q4_K_M
// 1.01-1.05x, Q8_0 1.02x, F16 1.00x). Otherwise (prefill, F32 weights, mixed activation types)
// each product is a matmul. Checks and throws as matmul, for every product before any is
// computed.
inline void matmul_shared_input(const MatmulProduct* products, int n_products, const float* x, int64_t n_tokens,
                                ThreadPool* pool = nullptr) {
  if (n_products <= 0) return;
  const int64_t n_in = products[0].w->cols();
  const DType activation_type = detail::checked_kernels(*products[0].w, x, n_tokens, products[0].y).activation_type;
  bool shared = n_tokens == 1;
  int64_t n_rows = 0;
  for (int i = 0; i < n_products; ++i) {
    const TensorView& w = *products[i].w;
    const WeightTypeKernels& kernels = detail::checked_kernels(w, x, n_tokens, products[i].y);
    if (w.cols() != n_in)
      throw InvalidArgument("matmul: weight '" + w.name + "' of shape " + w.shape_string() + " is not " +
                            std::to_string(n_in) + " wide like '" + products[0].w->name + "'");
    shared = shared && w.type != DType::F32 && kernels.activation_type == activation_type;
    n_rows += w.rows();
  }
  if (!shared) {
    for (int i = 0; i < n_products; ++i) matmul(*products[i].w, x, n_tokens, products[i].y, pool);
    return;
  }
  const uint8_t* activation = reinterpret_cast<const uint8_t*>(x);
  if (activation_type != DType::F32) {
    // (activation row bytes): x quantized once for every product.
    auto* quantized =
        static_cast<uint8_t*>(detail::thread_scratch(0, row_bytes(activation_type, static_cast<uint64_t>(n_in))));
    quantize_row(activation_type, x, quantized, n_in);
    activation = quantized;
  }
  // Rows [begin, end) of the products' rows one after another.
  const auto rows = [&](int64_t begin, int64_t end) {
    int64_t offset = 0;  // the first row of product i in the joined range
    for (int i = 0; i < n_products && offset < end; offset += products[i].w->rows(), ++i) {
      const TensorView& w = *products[i].w;
      const int64_t first_row = std::max(begin, offset) - offset, last_row = std::min(end, offset + w.rows()) - offset;
      if (first_row >= last_row) continue;
      const uint64_t stride = w.row_stride();
      // A switch over constant-initialized tables, a few ns a piece: caching the kernels per call
      // (at most 8 products) measured no faster in TinyLlama decode.
      weight_type_kernels(w.type).dot_rows(static_cast<const uint8_t*>(w.data) + first_row * stride, stride, activation,
                                           n_in, products[i].y + first_row, last_row - first_row);
    }
  };
  detail::run_rows(detail::pool_for_work(pool, n_rows * n_in), n_rows, kDecodeGrainRows, rows, kDecodePiecesPerShare);
}

}  // namespace llmpp::kernels
