// ALiBi head slopes (Press et al. 2021, "Train Short, Test Long", section 3): instead of
// position embeddings, head h adds slope_h * (j - i) to the score of query i and key j.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"

namespace llmpp::layers {

// For n heads, a power of two, the slopes are the geometric sequence 2^(-max_bias/n),
// 2^(-2 max_bias/n), ..., 2^(-max_bias) (the paper uses max_bias = 8). For other head
// counts the paper (and BLOOM, and llama.cpp) takes the sequence of the largest power of
// two n' < n_heads and then the odd terms 1, 3, 5, ... of the sequence for 2 n', which
// interleave between the first ones.
inline std::vector<float> alibi_slopes(int n_heads, float max_bias = 8.0f) {
  if (n_heads <= 0) throw InvalidArgument("alibi_slopes: n_heads must be positive, got " + std::to_string(n_heads));
  int n_pow2 = 1;  // largest power of two <= n_heads
  while (n_pow2 * 2 <= n_heads) n_pow2 *= 2;
  const double base = std::exp2(-static_cast<double>(max_bias) / n_pow2);
  const double extra_base = std::exp2(-static_cast<double>(max_bias) / (2 * n_pow2));
  std::vector<float> slopes(static_cast<size_t>(n_heads));
  for (int h = 0; h < n_heads; ++h) {
    slopes[static_cast<size_t>(h)] = h < n_pow2 ? static_cast<float>(std::pow(base, h + 1))
                                                : static_cast<float>(std::pow(extra_base, 2 * (h - n_pow2) + 1));
  }
  return slopes;
}

}  // namespace llmpp::layers
