// The position-wise feed-forward block.
//   gated (Shazeer 2020, "GLU Variants Improve Transformer"): down(act(gate·x + b_g) ⊙ (up·x + b_u)) + b_d,
//     SwiGLU with SiLU (Llama, Mistral), GeGLU with GELU (Gemma: the tanh approximation);
//   plain (Vaswani et al. 2017): down(act(up·x + b_u)) + b_d, GELU (GPT-2, Falcon) or ReLU (OPT).
// The three projections go through kernels::matmul (any weight type); the activation is
// fused with the biases and the gate product in one pass over the hidden activations,
// with an AVX2 twin of the scalar code.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "llmpp/core/aligned.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "llmpp/kernels/linear.hpp"
#include "llmpp/model/config.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "llmpp/kernels/avx2/attention.hpp"  // exp256
#endif

namespace llmpp::layers {

struct FeedForwardWeights {
  TensorView gate;  // (ffn_dim, dim), unused for FfnType::plain
  TensorView up;    // (ffn_dim, dim)
  TensorView down;  // (dim, ffn_dim)
  const float* gate_bias = nullptr;  // (ffn_dim) or null
  const float* up_bias = nullptr;    // (ffn_dim) or null
  const float* down_bias = nullptr;  // (dim) or null
};

// The hidden activations of a block of tokens. Sized by the constructor, or grown by the
// first feed_forward() call that needs more; later calls of at most that size allocate nothing.
struct FeedForwardScratch {
  AlignedVector<float> hidden;  // (max_tokens, ffn_dim) gate projection, then the activation
  AlignedVector<float> up;      // (max_tokens, ffn_dim) up projection (gated only)

  FeedForwardScratch() = default;
  FeedForwardScratch(int64_t max_tokens, int64_t ffn_dim) { reserve(max_tokens, ffn_dim); }
  void reserve(int64_t n_tokens, int64_t ffn_dim) {
    const size_t n = static_cast<size_t>(n_tokens * ffn_dim);
    if (hidden.size() < n) hidden.resize(n);
    if (up.size() < n) up.resize(n);
  }
};

// The activations, scalar. GELU (Hendrycks & Gimpel 2016): x·Φ(x) with the exact normal
// CDF (erf), or its tanh approximation 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))).
struct ScalarActivationOps {
  static float silu(float x) { return x / (1.0f + std::exp(-x)); }
  static float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
  static float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  }
  static float relu(float x) { return x > 0.0f ? x : 0.0f; }

  template <typename Fn>
  static void map(Fn fn, float* x, const float* x_bias, const float* up, const float* up_bias, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      float y = fn(x_bias ? x[i] + x_bias[i] : x[i]);
      if (up) y *= up_bias ? up[i] + up_bias[i] : up[i];
      x[i] = y;
    }
  }

  // x (n) = act(x + x_bias) ⊙ (up + up_bias); without `up`, just act(x + x_bias). Biases may be null.
  static void apply(Activation act, float* x, const float* x_bias, const float* up, const float* up_bias, int64_t n) {
    switch (act) {
      case Activation::silu: return map(silu, x, x_bias, up, up_bias, n);
      case Activation::gelu_erf: return map(gelu_erf, x, x_bias, up, up_bias, n);
      case Activation::gelu_tanh: return map(gelu_tanh, x, x_bias, up, up_bias, n);
      case Activation::relu: return map(relu, x, x_bias, up, up_bias, n);
    }
  }
};

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2ActivationOps {
  static __m256 silu(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(x, _mm256_add_ps(one, kernels::avx2::exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
  }
  // tanh(u) = 1 - 2 / (exp(2u) + 1): saturates to ±1 without overflow, since exp256 clamps.
  static __m256 gelu_tanh(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286536f),
                                   _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
    const __m256 e = kernels::avx2::exp256(_mm256_add_ps(u, u));
    const __m256 tanh_u = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, tanh_u));
  }
  // erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): for z >= 0,
  // erf(z) = 1 - t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·exp(-z²), t = 1 / (1 + p·z).
  static __m256 gelu_erf(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    const __m256 abs_z = _mm256_andnot_ps(sign_mask, z);
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), abs_z, one));
    __m256 poly = _mm256_set1_ps(1.061405429f);
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(-1.453152027f));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(1.421413741f));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(-0.284496736f));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(0.254829592f));
    poly = _mm256_mul_ps(poly, t);
    const __m256 e = kernels::avx2::exp256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(abs_z, abs_z)));
    const __m256 erf_abs = _mm256_fnmadd_ps(poly, e, one);
    const __m256 erf_z = _mm256_or_ps(erf_abs, _mm256_and_ps(z, sign_mask));  // erf is odd
    return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, erf_z));
  }
  static __m256 relu(__m256 x) { return _mm256_max_ps(x, _mm256_setzero_ps()); }

  template <typename Fn, typename ScalarFn>
  static void map(Fn fn, ScalarFn scalar_fn, float* x, const float* x_bias, const float* up, const float* up_bias,
                  int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(x + i);
      if (x_bias) v = _mm256_add_ps(v, _mm256_loadu_ps(x_bias + i));
      v = fn(v);
      if (up) {
        __m256 u = _mm256_loadu_ps(up + i);
        if (up_bias) u = _mm256_add_ps(u, _mm256_loadu_ps(up_bias + i));
        v = _mm256_mul_ps(v, u);
      }
      _mm256_storeu_ps(x + i, v);
    }
    ScalarActivationOps::map(scalar_fn, x + i, x_bias ? x_bias + i : nullptr, up ? up + i : nullptr,
                             up_bias ? up_bias + i : nullptr, n - i);
  }

  static void apply(Activation act, float* x, const float* x_bias, const float* up, const float* up_bias, int64_t n) {
    using S = ScalarActivationOps;
    switch (act) {
      case Activation::silu: return map(silu, S::silu, x, x_bias, up, up_bias, n);
      case Activation::gelu_erf: return map(gelu_erf, S::gelu_erf, x, x_bias, up, up_bias, n);
      case Activation::gelu_tanh: return map(gelu_tanh, S::gelu_tanh, x, x_bias, up, up_bias, n);
      case Activation::relu: return map(relu, S::relu, x, x_bias, up, up_bias, n);
    }
  }
};
using DefaultActivationOps = Avx2ActivationOps;
#else
using DefaultActivationOps = ScalarActivationOps;
#endif

namespace ffn_detail {
inline void check_weights(FfnType type, const FeedForwardWeights& w) {
  auto fail = [](const TensorView& t, const std::string& why) {
    throw InvalidArgument("feed_forward: tensor '" + t.name + "' " + t.shape_string() + ": " + why);
  };
  if (!w.up.valid()) fail(w.up, "up projection is missing");
  if (!w.down.valid()) fail(w.down, "down projection is missing");
  if (w.down.cols() != w.up.rows()) fail(w.down, "expected " + std::to_string(w.up.rows()) + " columns (ffn_dim)");
  if (w.down.rows() != w.up.cols()) fail(w.down, "expected " + std::to_string(w.up.cols()) + " rows (dim)");
  if (type == FfnType::gated && (!w.gate.valid() || w.gate.rows() != w.up.rows() || w.gate.cols() != w.up.cols()))
    fail(w.gate, "gate projection must have the up projection's shape " + w.up.shape_string());
}
}  // namespace ffn_detail

// x (n_tokens, dim) -> out (n_tokens, dim); x and out must not alias.
template <typename Ops>
void feed_forward_with(FfnType type, Activation act, const FeedForwardWeights& w, const float* x, int64_t n_tokens,
                       FeedForwardScratch& scratch, float* out, ThreadPool* pool = nullptr) {
  ffn_detail::check_weights(type, w);
  if (n_tokens <= 0) return;
  const int64_t dim = w.up.cols(), ffn_dim = w.up.rows();
  scratch.reserve(n_tokens, ffn_dim);
  float* hidden = scratch.hidden.data();  // (n_tokens, ffn_dim)
  if (type == FfnType::gated) {
    float* up = scratch.up.data();  // (n_tokens, ffn_dim)
    const kernels::MatmulProduct gate_up[] = {{&w.gate, hidden}, {&w.up, up}};
    kernels::matmul_shared_input(gate_up, 2, x, n_tokens, pool);
    for (int64_t t = 0; t < n_tokens; ++t)
      Ops::apply(act, hidden + t * ffn_dim, w.gate_bias, up + t * ffn_dim, w.up_bias, ffn_dim);
  } else {
    kernels::matmul(w.up, x, n_tokens, hidden, pool);
    for (int64_t t = 0; t < n_tokens; ++t) Ops::apply(act, hidden + t * ffn_dim, w.up_bias, nullptr, nullptr, ffn_dim);
  }
  kernels::matmul(w.down, hidden, n_tokens, out, pool);
  if (w.down_bias)
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t i = 0; i < dim; ++i) out[t * dim + i] += w.down_bias[i];
}

inline void feed_forward(FfnType type, Activation act, const FeedForwardWeights& w, const float* x, int64_t n_tokens,
                         FeedForwardScratch& scratch, float* out, ThreadPool* pool = nullptr) {
  feed_forward_with<DefaultActivationOps>(type, act, w, x, n_tokens, scratch, out, pool);
}

}  // namespace llmpp::layers
