// Type dispatch of the weight kernels: for each DType, how to dequantize a row, encode a
// row, and take the dot product of a row with an activation row (quantized to the type's
// activation partner first). Picks the AVX2 kernels when this translation unit is compiled
// with AVX2 + FMA + F16C, else the portable ones; the multi-token (prefill) kernels of
// kernels/avx512/ when it is also compiled for AVX-512 VNNI.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "llmpp/core/dtype.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/kernels/avx2/quant.hpp"
#include "llmpp/kernels/avx512/quant.hpp"
#include "llmpp/kernels/quant_blocks.hpp"
#include "llmpp/kernels/scalar/quant.hpp"

namespace llmpp::kernels {

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
namespace active = avx2;
#else
namespace active = scalar;
#endif

// The kernels of one weight type, with type-erased rows (`n` elements, a whole number of
// blocks). `activation_type` is F32 when dot() takes float activations, else the type that
// activations are quantized to before dot() (Q8_0, Q8_1 or Q8_K).
struct WeightTypeKernels {
  DType type;
  DType activation_type;
  void (*dequantize_row)(const void* src, float* dst, int64_t n);
  void (*quantize_row)(const float* src, void* dst, int64_t n);
  float (*dot)(const void* weight_row, const void* activation_row, int64_t n);
  // out[r] = dot(weight_rows + r * row_stride, activation_row) for r < n_rows: the decode
  // GEMV, which reads the activation once per group of rows.
  void (*dot_rows)(const void* weight_rows, uint64_t row_stride, const void* activation_row, int64_t n, float* out,
                   int64_t n_rows);
  // out[t * out_stride + r] = dot(weight row r, activation row t) for t < n_tokens, the
  // activation rows `activation_stride` bytes apart: several tokens over the same rows.
  void (*dot_rows_tokens)(const void* weight_rows, uint64_t row_stride, const void* activation_rows,
                          uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out, int64_t out_stride,
                          int64_t n_rows);
  // True when dot_rows_tokens is a kernel that unpacks each weight block once for several
  // tokens, faster than dequantizing to floats for a GEMM (kernels/linear.hpp prefill).
  bool integer_prefill;
};

namespace detail {

template <typename Block>
void dequantize_blocks(const void* src, float* dst, int64_t n) {
  active::dequantize_row(static_cast<const Block*>(src), dst, n);
}
template <typename Block>
void quantize_blocks(const float* src, void* dst, int64_t n) {
  active::quantize_row(src, static_cast<Block*>(dst), n);
}
template <typename Weight, typename Activation>
float dot_blocks(const void* weight_row, const void* activation_row, int64_t n) {
  return active::vec_dot(static_cast<const Weight*>(weight_row), static_cast<const Activation*>(activation_row), n);
}

template <typename Weight, typename Activation>
void dot_rows_blocks(const void* weight_rows, uint64_t row_stride, const void* activation_row, int64_t n, float* out,
                     int64_t n_rows) {
  active::vec_dot_rows(static_cast<const Weight*>(weight_rows), row_stride,
                       static_cast<const Activation*>(activation_row), n, out, n_rows);
}

// dot_rows_tokens as one dot_rows per token, for the types without a multi-token kernel.
template <void (*DotRows)(const void*, uint64_t, const void*, int64_t, float*, int64_t)>
void dot_rows_each_token(const void* weight_rows, uint64_t row_stride, const void* activation_rows,
                         uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out, int64_t out_stride,
                         int64_t n_rows) {
  const auto* activations = static_cast<const uint8_t*>(activation_rows);
  for (int64_t t = 0; t < n_tokens; ++t)
    DotRows(weight_rows, row_stride, activations + t * activation_stride, n, out + t * out_stride, n_rows);
}

// The multi-token kernel of the types with active::kMultiTokenDot (AVX2 builds only; the
// AVX-512 ones where the translation unit is compiled for them).
template <typename Weight, typename Activation>
void dot_rows_tokens_blocks(const void* weight_rows, uint64_t row_stride, const void* activation_rows,
                            uint64_t activation_stride, int64_t n, int64_t n_tokens, float* out, int64_t out_stride,
                            int64_t n_rows) {
#if defined(LLMPP_AVX512_KERNELS)
  avx512::vec_dot_rows_tokens(static_cast<const Weight*>(weight_rows), row_stride,
                              static_cast<const Activation*>(activation_rows), activation_stride, n, n_tokens, out,
                              out_stride, n_rows);
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
  avx2::vec_dot_rows_tokens(static_cast<const Weight*>(weight_rows), row_stride,
                            static_cast<const Activation*>(activation_rows), activation_stride, n, n_tokens, out,
                            out_stride, n_rows);
#else
  static_assert(sizeof(Weight) == 0, "the portable kernels have no multi-token kernel");
#endif
}

template <typename Weight, typename Activation>
constexpr WeightTypeKernels quantized_kernels(DType type, DType activation_type) {
#if defined(LLMPP_AVX512_KERNELS)
  constexpr bool multi_token = avx512::kMultiTokenDot<Weight>;
#else
  constexpr bool multi_token = active::kMultiTokenDot<Weight>;
#endif
  if constexpr (multi_token)
    return {type, activation_type, dequantize_blocks<Weight>, quantize_blocks<Weight>, dot_blocks<Weight, Activation>,
            dot_rows_blocks<Weight, Activation>, dot_rows_tokens_blocks<Weight, Activation>, true};
  else
    return {type, activation_type, dequantize_blocks<Weight>, quantize_blocks<Weight>, dot_blocks<Weight, Activation>,
            dot_rows_blocks<Weight, Activation>, dot_rows_each_token<dot_rows_blocks<Weight, Activation>>, false};
}

// dot_rows as one dot per row, for the types without a multi-row kernel.
template <float (*Dot)(const void*, const void*, int64_t)>
void dot_each_row(const void* weight_rows, uint64_t row_stride, const void* activation_row, int64_t n, float* out,
                  int64_t n_rows) {
  const auto* rows = static_cast<const uint8_t*>(weight_rows);
  for (int64_t r = 0; r < n_rows; ++r) out[r] = Dot(rows + r * row_stride, activation_row, n);
}

inline void copy_f32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, sizeof(float) * n); }
inline void encode_f32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, sizeof(float) * n); }
inline float dot_f32(const void* w, const void* x, int64_t n) {
  return active::dot_f32(static_cast<const float*>(w), static_cast<const float*>(x), n);
}
inline void decode_f16(const void* src, float* dst, int64_t n) {
  active::dequantize_row_f16(static_cast<const uint16_t*>(src), dst, n);
}
inline void encode_f16(const float* src, void* dst, int64_t n) {
  active::quantize_row_f16(src, static_cast<uint16_t*>(dst), n);
}
inline float dot_f16(const void* w, const void* x, int64_t n) {
  return active::dot_f16(static_cast<const uint16_t*>(w), static_cast<const float*>(x), n);
}
inline void decode_bf16(const void* src, float* dst, int64_t n) {
  active::dequantize_row_bf16(static_cast<const uint16_t*>(src), dst, n);
}
inline void encode_bf16(const float* src, void* dst, int64_t n) {
  active::quantize_row_bf16(src, static_cast<uint16_t*>(dst), n);
}
inline float dot_bf16(const void* w, const void* x, int64_t n) {
  return active::dot_bf16(static_cast<const uint16_t*>(w), static_cast<const float*>(x), n);
}
inline void dot_f16_rows(const void* w, uint64_t row_stride, const void* x, int64_t n, float* out, int64_t n_rows) {
  active::dot_f16_rows(static_cast<const uint16_t*>(w), row_stride, static_cast<const float*>(x), n, out, n_rows);
}
inline void dot_bf16_rows(const void* w, uint64_t row_stride, const void* x, int64_t n, float* out, int64_t n_rows) {
  active::dot_bf16_rows(static_cast<const uint16_t*>(w), row_stride, static_cast<const float*>(x), n, out, n_rows);
}

}  // namespace detail

// The kernels of `type`, or nullptr when llmpp cannot run weights of that type.
inline const WeightTypeKernels* find_weight_type_kernels(DType type) {
  using namespace detail;
  static const WeightTypeKernels f32{DType::F32, DType::F32, copy_f32, encode_f32, detail::dot_f32,
                                     dot_each_row<detail::dot_f32>,
                                     dot_rows_each_token<dot_each_row<detail::dot_f32>>, false};
  static const WeightTypeKernels f16{DType::F16, DType::F32, decode_f16, encode_f16, detail::dot_f16, dot_f16_rows,
                                     dot_rows_each_token<dot_f16_rows>, false};
  static const WeightTypeKernels bf16{DType::BF16, DType::F32, decode_bf16, encode_bf16, detail::dot_bf16,
                                      dot_bf16_rows, dot_rows_each_token<dot_bf16_rows>, false};
  static const auto q4_0 = quantized_kernels<BlockQ4_0, BlockQ8_0>(DType::Q4_0, DType::Q8_0);
  static const auto q4_1 = quantized_kernels<BlockQ4_1, BlockQ8_1>(DType::Q4_1, DType::Q8_1);
  static const auto q5_0 = quantized_kernels<BlockQ5_0, BlockQ8_0>(DType::Q5_0, DType::Q8_0);
  static const auto q5_1 = quantized_kernels<BlockQ5_1, BlockQ8_1>(DType::Q5_1, DType::Q8_1);
  static const auto q8_0 = quantized_kernels<BlockQ8_0, BlockQ8_0>(DType::Q8_0, DType::Q8_0);
  static const auto q2_k = quantized_kernels<BlockQ2_K, BlockQ8_K>(DType::Q2_K, DType::Q8_K);
  static const auto q3_k = quantized_kernels<BlockQ3_K, BlockQ8_K>(DType::Q3_K, DType::Q8_K);
  static const auto q4_k = quantized_kernels<BlockQ4_K, BlockQ8_K>(DType::Q4_K, DType::Q8_K);
  static const auto q5_k = quantized_kernels<BlockQ5_K, BlockQ8_K>(DType::Q5_K, DType::Q8_K);
  static const auto q6_k = quantized_kernels<BlockQ6_K, BlockQ8_K>(DType::Q6_K, DType::Q8_K);
  switch (type) {
    case DType::F32: return &f32;
    case DType::F16: return &f16;
    case DType::BF16: return &bf16;
    case DType::Q4_0: return &q4_0;
    case DType::Q4_1: return &q4_1;
    case DType::Q5_0: return &q5_0;
    case DType::Q5_1: return &q5_1;
    case DType::Q8_0: return &q8_0;
    case DType::Q2_K: return &q2_k;
    case DType::Q3_K: return &q3_k;
    case DType::Q4_K: return &q4_k;
    case DType::Q5_K: return &q5_k;
    case DType::Q6_K: return &q6_k;
    default: return nullptr;
  }
}

// As find_weight_type_kernels, but throws InvalidArgument naming an unsupported type.
inline const WeightTypeKernels& weight_type_kernels(DType type, const char* caller = "weight kernels") {
  const WeightTypeKernels* kernels = find_weight_type_kernels(type);
  if (!kernels)
    throw InvalidArgument(std::string(caller) + ": unsupported weight type " + dtype_name(type) + " (type id " +
                          std::to_string(static_cast<uint32_t>(type)) + ")");
  return *kernels;
}

namespace detail {
inline void check_row_length(DType type, int64_t n, const char* caller) {
  if (n < 0) throw InvalidArgument(std::string(caller) + ": negative row length " + std::to_string(n));
  const uint32_t block_size = dtype_traits(type).block_size;
  if (block_size == 0 || n % block_size != 0)
    throw InvalidArgument(std::string(caller) + ": row of " + std::to_string(n) + " elements is not a whole number of " +
                          dtype_name(type) + " blocks of " + std::to_string(block_size));
}

}  // namespace detail

// Converts one row of `n` elements of type `type` to float. Also accepts the activation
// types Q8_1 and Q8_K.
inline void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const bool activation_type = type == DType::Q8_1 || type == DType::Q8_K;
  const WeightTypeKernels* kernels = activation_type ? nullptr : &weight_type_kernels(type, "dequantize_row");
  detail::check_row_length(type, n, "dequantize_row");
  if (type == DType::Q8_1) return scalar::dequantize_row(static_cast<const BlockQ8_1*>(src), dst, n);
  if (type == DType::Q8_K) return scalar::dequantize_row(static_cast<const BlockQ8_K*>(src), dst, n);
  kernels->dequantize_row(src, dst, n);
}

// Encodes one row of `n` floats as `type` into dst (row_bytes(type, n) bytes). Also
// produces the activation types Q8_1 and Q8_K.
inline void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  const bool activation_type = type == DType::Q8_1 || type == DType::Q8_K;
  const WeightTypeKernels* kernels = activation_type ? nullptr : &weight_type_kernels(type, "quantize_row");
  detail::check_row_length(type, n, "quantize_row");
  if (type == DType::Q8_1) return active::quantize_row(src, static_cast<BlockQ8_1*>(dst), n);
  if (type == DType::Q8_K) return active::quantize_row(src, static_cast<BlockQ8_K*>(dst), n);
  kernels->quantize_row(src, dst, n);
}

}  // namespace llmpp::kernels
