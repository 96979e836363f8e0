// Token embedding: one row of the (n_vocab, dim) table per token, converted to float from
// whatever type the table is stored in, optionally scaled (Gemma multiplies by sqrt(dim)).
#pragma once

#include <cstdint>
#include <string>

#include "llmpp/core/error.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/kernels/linear.hpp"

namespace llmpp::layers {

// out: (n_tokens, dim) with dim = table.cols(). Throws InvalidArgument naming the token's
// index when an id is outside [0, n_vocab).
inline void embed_tokens(const TensorView& table /*(n_vocab, dim)*/, const int32_t* tokens, int64_t n_tokens,
                         float* out, float scale = 1.0f) {
  const int64_t n_vocab = table.rows(), dim = table.cols();
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int32_t id = tokens[t];
    if (id < 0 || id >= n_vocab)
      throw InvalidArgument("embed_tokens: token " + std::to_string(t) + " has id " + std::to_string(id) +
                            ", outside the vocabulary of " + std::to_string(n_vocab) + " rows of '" + table.name +
                            "'");
    float* row = out + t * dim;
    kernels::dequantize_row(table.type, table.row(id), row, dim);
    if (scale != 1.0f)
      for (int64_t i = 0; i < dim; ++i) row[i] *= scale;
  }
}

}  // namespace llmpp::layers
