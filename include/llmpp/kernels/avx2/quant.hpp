// AVX2 twins of kernels/scalar/quant.hpp (placeholder: re-exports the portable kernels).
#pragma once

#include "llmpp/kernels/scalar/quant.hpp"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
namespace llmpp::kernels::avx2 {
using scalar::dequantize_row;
using scalar::dequantize_row_bf16;
using scalar::dequantize_row_f16;
using scalar::dot_bf16;
using scalar::dot_f16;
using scalar::dot_f32;
using scalar::quantize_row;
using scalar::quantize_row_bf16;
using scalar::quantize_row_f16;
using scalar::vec_dot;
}  // namespace llmpp::kernels::avx2
#endif
