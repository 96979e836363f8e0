// Absolute position encodings added to the embeddings before the first layer:
//   sinusoidal (Vaswani et al. 2017, section 3.5): PE(p, 2i) = sin(p / 10000^(2i/d)),
//   PE(p, 2i+1) = cos(p / 10000^(2i/d));
//   learned (GPT-2, OPT): row p + offset of a trained (n_positions, dim) table. OPT's table
//   has two extra leading rows, so its offset is 2.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "llmpp/core/error.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/kernels/linear.hpp"

namespace llmpp::layers {

// x: (n_tokens, dim) += PE(positions[t]). The angle is formed and reduced to [-π, π] in
// double (at position 10^4 a float angle would already be off by ~1e-3 rad); only then
// does float sin/cos take it.
inline void add_sinusoidal_positions(float* x, int64_t n_tokens, int dim, const int32_t* positions) {
  if (dim <= 0 || dim % 2 != 0)
    throw InvalidArgument("add_sinusoidal_positions: dim must be positive and even, got " + std::to_string(dim));
  constexpr double kTwoPi = 6.28318530717958647692;
  const double log_base = std::log(10000.0);
  for (int i = 0; i < dim / 2; ++i) {
    const double frequency = std::exp(-log_base * (2.0 * i) / dim);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float angle = static_cast<float>(std::remainder(positions[t] * frequency, kTwoPi));
      x[t * dim + 2 * i] += std::sin(angle);
      x[t * dim + 2 * i + 1] += std::cos(angle);
    }
  }
}

// x: (n_tokens, dim) += table[positions[t] + offset], dim = table.cols(). Throws LimitError
// when a position is past the table: the model was not trained that far.
inline void add_learned_positions(float* x, int64_t n_tokens, const TensorView& table /*(n_positions, dim)*/,
                                  const int32_t* positions, int offset = 0) {
  const int64_t n_positions = table.rows(), dim = table.cols();
  // Rows of quantised tables are converted 256 elements (a whole number of any block) at a time.
  constexpr int64_t kChunk = 256;
  float chunk[kChunk];
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t row_index = int64_t{positions[t]} + offset;
    if (positions[t] < 0 || row_index >= n_positions)
      throw LimitError("add_learned_positions: position " + std::to_string(positions[t]) + " (token " +
                       std::to_string(t) + ") + offset " + std::to_string(offset) + " is outside the " +
                       std::to_string(n_positions) + " rows of '" + table.name + "'");
    float* out = x + t * dim;
    if (table.type == DType::F32) {
      const float* src = reinterpret_cast<const float*>(table.row(row_index));
      for (int64_t i = 0; i < dim; ++i) out[i] += src[i];
      continue;
    }
    for (int64_t begin = 0; begin < dim; begin += kChunk) {
      const int64_t n = std::min(kChunk, dim - begin);
      kernels::dequantize_row(table.type, table.row(row_index) + row_bytes(table.type, static_cast<uint64_t>(begin)),
                              chunk, n);
      for (int64_t i = 0; i < n; ++i) out[begin + i] += chunk[i];
    }
  }
}

}  // namespace llmpp::layers
