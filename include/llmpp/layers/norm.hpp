// Normalisation layers applied to each token's hidden vector.
//   RMSNorm (Zhang & Sennrich 2019, eq. 4): y = x / sqrt(mean(x²) + eps) · w; Gemma stores
//   w - 1, so its checkpoints multiply by (1 + w).
//   LayerNorm (Ba et al. 2016, eq. 4): y = (x - mean) / sqrt(var + eps) · w + b, the
//   biased variance, b optional (e.g. OLMo, StableLM 2 drop it).
// Each row is one token. The reductions have an AVX2 twin beside the scalar code; both are
// compiled when AVX2 is on so tests/test_norm.cpp can compare them.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "llmpp/kernels/avx2/attention.hpp"  // hsum
#endif

#include "llmpp/core/error.hpp"

namespace llmpp::layers {

// The two reductions a norm needs and the final per-element affine map. The scalar sums
// accumulate in double, so a row of thousands of floats loses no precision.
struct ScalarNormOps {
  static float sum(const float* x, int n) {
    double s = 0.0;
    for (int i = 0; i < n; ++i) s += x[i];
    return static_cast<float>(s);
  }
  // sum of (x[i] - center)²
  static float sum_squares(const float* x, int n, float center) {
    double s = 0.0;
    for (int i = 0; i < n; ++i) {
      const double d = static_cast<double>(x[i]) - center;
      s += d * d;
    }
    return static_cast<float>(s);
  }
  // out[i] = (x[i] - center) · inv_scale · (w[i] + weight_offset) + (bias ? bias[i] : 0)
  static void normalize(const float* x, float center, float inv_scale, const float* weight, float weight_offset,
                        const float* bias, int n, float* out) {
    for (int i = 0; i < n; ++i) {
      const float y = (x[i] - center) * inv_scale * (weight[i] + weight_offset);
      out[i] = bias ? y + bias[i] : y;
    }
  }
};

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2NormOps {
  static float sum(const float* x, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
      acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
      acc1 = _mm256_add_ps(acc1, _mm256_loadu_ps(x + i + 8));
    }
    float s = kernels::avx2::hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) s += x[i];
    return s;
  }
  static float sum_squares(const float* x, int n, float center) {
    const __m256 c = _mm256_set1_ps(center);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), c);
      const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), c);
      acc0 = _mm256_fmadd_ps(d0, d0, acc0);
      acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    float s = kernels::avx2::hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) s += (x[i] - center) * (x[i] - center);
    return s;
  }
  static void normalize(const float* x, float center, float inv_scale, const float* weight, float weight_offset,
                        const float* bias, int n, float* out) {
    const __m256 c = _mm256_set1_ps(center), k = _mm256_set1_ps(inv_scale), offset = _mm256_set1_ps(weight_offset);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 w = _mm256_add_ps(_mm256_loadu_ps(weight + i), offset);
      const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), c), k);
      __m256 y = _mm256_mul_ps(xhat, w);
      if (bias) y = _mm256_add_ps(y, _mm256_loadu_ps(bias + i));
      _mm256_storeu_ps(out + i, y);
    }
    ScalarNormOps::normalize(x + i, center, inv_scale, weight + i, weight_offset, bias ? bias + i : nullptr, n - i,
                             out + i);
  }
};
using DefaultNormOps = Avx2NormOps;
#else
using DefaultNormOps = ScalarNormOps;
#endif

namespace norm_detail {
inline void check_shape(const char* function, int64_t n_tokens, int dim, float eps) {
  if (n_tokens < 0 || dim <= 0)
    throw InvalidArgument(std::string(function) + ": bad shape (" + std::to_string(n_tokens) + ", " +
                          std::to_string(dim) + ")");
  if (!(eps >= 0.0f)) throw InvalidArgument(std::string(function) + ": eps must not be negative");
}
}  // namespace norm_detail

// x, out: (n_tokens, dim), may alias; weight: (dim).
template <typename Ops>
void rms_norm_with(const float* x, const float* weight, int64_t n_tokens, int dim, float eps, bool weight_plus_one,
                   float* out) {
  norm_detail::check_shape("rms_norm", n_tokens, dim, eps);
  const float weight_offset = weight_plus_one ? 1.0f : 0.0f;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* row = x + t * dim;
    const float mean_square = Ops::sum_squares(row, dim, 0.0f) / static_cast<float>(dim);
    const float inv_rms = 1.0f / std::sqrt(mean_square + eps);
    Ops::normalize(row, 0.0f, inv_rms, weight, weight_offset, nullptr, dim, out + t * dim);
  }
}

inline void rms_norm(const float* x, const float* weight, int64_t n_tokens, int dim, float eps, bool weight_plus_one,
                     float* out) {
  rms_norm_with<DefaultNormOps>(x, weight, n_tokens, dim, eps, weight_plus_one, out);
}

// x, out: (n_tokens, dim), may alias; weight, bias: (dim), bias may be null.
// Two passes (mean, then the centred squares) so a large mean does not cancel the variance.
template <typename Ops>
void layer_norm_with(const float* x, const float* weight, const float* bias, int64_t n_tokens, int dim, float eps,
                     float* out) {
  norm_detail::check_shape("layer_norm", n_tokens, dim, eps);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* row = x + t * dim;
    const float mean = Ops::sum(row, dim) / static_cast<float>(dim);
    const float variance = Ops::sum_squares(row, dim, mean) / static_cast<float>(dim);
    const float inv_std = 1.0f / std::sqrt(variance + eps);
    Ops::normalize(row, mean, inv_std, weight, 0.0f, bias, dim, out + t * dim);
  }
}

inline void layer_norm(const float* x, const float* weight, const float* bias, int64_t n_tokens, int dim, float eps,
                       float* out) {
  layer_norm_with<DefaultNormOps>(x, weight, bias, n_tokens, dim, eps, out);
}

}  // namespace llmpp::layers
