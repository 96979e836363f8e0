// Rotary position embedding, RoPE (Su et al. 2021, "RoFormer", eq. 34): each pair of
// dimensions (a, b) of a query or key head at position p is rotated by the angle
// p · θ_i, θ_i = base^(-2i/d):  a' = a cos - b sin,  b' = a sin + b cos.
// Which dimensions pair up depends on how the checkpoint was written (RopeLayout), and
// only the first rope_dim of each head rotate (partial rotary: GPT-NeoX, Phi, StableLM).
//
// Context-extension schemes change only the frequencies θ_i (and may scale cos/sin):
//   linear       position interpolation, θ_i / s (Chen et al. 2023)
//   dynamic_ntk  base' = base · (s·L/L₀ - (s - 1))^(d/(d-2)) once the sequence length L
//                exceeds the training context L₀ (HF `dynamic`, after bloc97's NTK-aware
//                scaling); below L₀ the frequencies are the default ones
//   yarn         NTK-by-parts: interpolate the low frequencies, keep the high ones, ramp
//                between, and scale cos/sin by 0.1·ln(s) + 1 (Peng et al. 2023, eq. 17-22)
//   llama3       the same idea with wavelength bounds L₀/low_freq_factor, L₀/high_freq_factor
//   longrope     per-pair divisors, `short_factor` up to L₀ and `long_factor` beyond, and
//                cos/sin scaled by sqrt(1 + ln(s)/ln(L₀)) (Ding et al. 2024; Phi-3 `su`)
// The frequencies are computed once in double; apply() only evaluates cos/sin per token.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/model/config.hpp"

namespace llmpp::layers {

class Rope {
 public:
  // Rotary dims up to this many, so apply() can keep one token's cos/sin on the stack.
  static constexpr int kMaxRopeDim = 1024;

  explicit Rope(const ModelConfig& config)
      : Rope(config.head_dim(), config.n_rot(), config.rope_theta, config.rope_layout, config.rope_scaling,
             config.n_ctx_train) {}

  Rope(int head_dim, int rope_dim, float theta, RopeLayout layout, const RopeScaling& scaling = {},
       int n_ctx_train = 0)
      : head_dim_(head_dim), rope_dim_(rope_dim), theta_(theta), layout_(layout), scaling_(scaling) {
    if (head_dim <= 0) throw ConfigError(kSource, "head_dim", "must be positive, got " + std::to_string(head_dim));
    if (rope_dim <= 0 || rope_dim > head_dim || rope_dim % 2 != 0 || rope_dim > kMaxRopeDim)
      throw ConfigError(kSource, "rope_dim",
                        std::to_string(rope_dim) + " must be even, positive, at most head_dim " +
                            std::to_string(head_dim) + " and at most " + std::to_string(kMaxRopeDim));
    if (!(theta > 0.0f)) throw ConfigError(kSource, "rope_theta", "must be positive");
    const RopeScalingType type = scaling.type;
    if (type != RopeScalingType::none && !(scaling.factor > 0.0f))
      throw ConfigError(kSource, "rope_scaling.factor", "must be positive");
    original_context_ = scaling.original_max_position > 0 ? scaling.original_max_position : n_ctx_train;
    const bool needs_context = type == RopeScalingType::dynamic_ntk || type == RopeScalingType::yarn ||
                               type == RopeScalingType::llama3 || type == RopeScalingType::longrope;
    if (needs_context && original_context_ <= 0)
      throw ConfigError(kSource, "rope_scaling.original_max_position_embeddings",
                        "this scaling needs the training context length");

    const int n_pairs = rope_dim / 2;
    inv_freq_ = default_frequencies(theta);
    switch (type) {
      case RopeScalingType::none:
      case RopeScalingType::dynamic_ntk:  // recomputed per call from the sequence length
        break;
      case RopeScalingType::linear:
        for (double& f : inv_freq_) f /= scaling.factor;
        break;
      case RopeScalingType::yarn:
        apply_yarn();
        break;
      case RopeScalingType::llama3:
        apply_llama3();
        break;
      case RopeScalingType::longrope: {
        if (static_cast<int>(scaling.short_factor.size()) != n_pairs ||
            static_cast<int>(scaling.long_factor.size()) != n_pairs)
          throw ConfigError(kSource, "rope_scaling.short_factor",
                            "short_factor and long_factor need rope_dim / 2 = " + std::to_string(n_pairs) +
                                " entries, got " + std::to_string(scaling.short_factor.size()) + " and " +
                                std::to_string(scaling.long_factor.size()));
        long_inv_freq_ = inv_freq_;
        for (int i = 0; i < n_pairs; ++i) {
          inv_freq_[i] /= scaling.short_factor[i];
          long_inv_freq_[i] /= scaling.long_factor[i];
        }
        attention_factor_ = scaling.attention_factor > 0.0f
                                ? scaling.attention_factor
                                : (scaling.factor <= 1.0f ? 1.0
                                                          : std::sqrt(1.0 + std::log(double{scaling.factor}) /
                                                                                std::log(double{1.0 * original_context_})));
        break;
      }
    }
  }

  int head_dim() const { return head_dim_; }
  int rope_dim() const { return rope_dim_; }
  float attention_factor() const { return static_cast<float>(attention_factor_); }
  // θ_i for a sequence of `sequence_length` tokens (only dynamic_ntk and longrope depend on it).
  std::vector<double> inverse_frequencies(int64_t sequence_length) const {
    std::vector<double> f(static_cast<size_t>(rope_dim_ / 2));
    const double* source = frequencies_for(sequence_length, f.data());
    if (source != f.data()) std::copy(source, source + f.size(), f.data());
    return f;
  }

  // x: (n_tokens, n_heads, head_dim), rotated in place; token t is at positions[t].
  // sequence_length: the length L the dynamic schemes scale for (HF: the largest position
  // of the call + 1); 0 takes exactly that.
  void apply(float* x, int64_t n_tokens, int n_heads, const int32_t* positions, int64_t sequence_length = 0) const {
    if (n_tokens <= 0) return;
    if (sequence_length <= 0) sequence_length = int64_t{*std::max_element(positions, positions + n_tokens)} + 1;
    const int n_pairs = rope_dim_ / 2;
    double dynamic_inv_freq[kMaxRopeDim / 2];
    const double* inv_freq = frequencies_for(sequence_length, dynamic_inv_freq);
    float cos_p[kMaxRopeDim / 2], sin_p[kMaxRopeDim / 2];  // (n_pairs) of the current token
    // Interleaved pairs (2i, 2i+1); half-split pairs (i, i + rope_dim/2).
    const int second_offset = layout_ == RopeLayout::interleaved ? 1 : n_pairs;
    const int pair_stride = layout_ == RopeLayout::interleaved ? 2 : 1;
    const float attention_factor = static_cast<float>(attention_factor_);
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int i = 0; i < n_pairs; ++i) {
        // Formed and reduced to [-π, π] in double, so float cos/sin stay accurate at any position.
        const float angle = static_cast<float>(std::remainder(positions[t] * inv_freq[i], 2.0 * kPi));
        cos_p[i] = std::cos(angle) * attention_factor;
        sin_p[i] = std::sin(angle) * attention_factor;
      }
      for (int h = 0; h < n_heads; ++h) {
        float* head = x + (t * n_heads + h) * head_dim_;  // (head_dim)
        for (int i = 0; i < n_pairs; ++i) {
          float* a = head + i * pair_stride;
          float* b = a + second_offset;
          const float a0 = *a, b0 = *b;
          *a = a0 * cos_p[i] - b0 * sin_p[i];
          *b = a0 * sin_p[i] + b0 * cos_p[i];
        }
      }
    }
  }

 private:
  static constexpr const char* kSource = "rope";
  static constexpr double kPi = 3.14159265358979323846;

  std::vector<double> default_frequencies(double base) const {
    std::vector<double> f(static_cast<size_t>(rope_dim_ / 2));
    for (int i = 0; i < rope_dim_ / 2; ++i) f[i] = std::pow(base, -2.0 * i / rope_dim_);
    return f;
  }

  // The frequencies for a sequence of `sequence_length` tokens: the precomputed ones, or
  // for dynamic NTK the ones of the enlarged base, written to `buffer` (n_pairs).
  const double* frequencies_for(int64_t sequence_length, double* buffer) const {
    if (scaling_.type == RopeScalingType::longrope && sequence_length > original_context_)
      return long_inv_freq_.data();
    if (scaling_.type != RopeScalingType::dynamic_ntk || sequence_length <= original_context_) return inv_freq_.data();
    const double s = scaling_.factor, d = rope_dim_;
    const double base = theta_ * std::pow(s * sequence_length / original_context_ - (s - 1.0), d / (d - 2.0));
    for (int i = 0; i < rope_dim_ / 2; ++i) buffer[i] = std::pow(base, -2.0 * i / d);
    return buffer;
  }

  // YaRN (Peng et al. 2023, section 3.2, "NTK-by-parts"): pair i completes
  // r_i = L₀·θ_i / 2π rotations over the training context. Pairs with r_i > beta_fast
  // keep θ_i, pairs with r_i < beta_slow are interpolated to θ_i / s, and a linear ramp in
  // i joins them. The ramp's ends are the pair indices where r = beta_fast and r =
  // beta_slow, floored and ceiled as HF's _compute_yarn_parameters does.
  void apply_yarn() {
    const double s = scaling_.factor, d = rope_dim_, base = theta_, context = original_context_;
    auto pair_with_rotations = [&](double rotations) {
      return d * std::log(context / (rotations * 2.0 * kPi)) / (2.0 * std::log(base));
    };
    const double low = std::max(std::floor(pair_with_rotations(scaling_.beta_fast)), 0.0);
    double high = std::min(std::ceil(pair_with_rotations(scaling_.beta_slow)), d - 1.0);
    if (low == high) high += 0.001;  // avoid a zero-width ramp
    for (int i = 0; i < rope_dim_ / 2; ++i) {
      const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);  // 0: keep θ_i, 1: θ_i / s
      inv_freq_[i] = inv_freq_[i] / s * ramp + inv_freq_[i] * (1.0 - ramp);
    }
    attention_factor_ = scaling_.attention_factor > 0.0f ? scaling_.attention_factor
                                                         : (s <= 1.0 ? 1.0 : 0.1 * std::log(s) + 1.0);
  }

  // Llama 3.1 (HF _compute_llama3_parameters): wavelengths 2π/θ_i shorter than
  // L₀/high_freq_factor are kept, longer than L₀/low_freq_factor divided by the factor,
  // and in between smoothly interpolated in L₀/wavelength.
  void apply_llama3() {
    const double s = scaling_.factor, context = original_context_;
    const double low = scaling_.low_freq_factor, high = scaling_.high_freq_factor;
    const double low_freq_wavelength = context / low, high_freq_wavelength = context / high;
    for (double& f : inv_freq_) {
      const double wavelength = 2.0 * kPi / f;
      if (wavelength < high_freq_wavelength) continue;
      if (wavelength > low_freq_wavelength) {
        f /= s;
        continue;
      }
      const double smooth = (context / wavelength - low) / (high - low);
      f = (1.0 - smooth) * f / s + smooth * f;
    }
  }

  int head_dim_, rope_dim_;
  double theta_;
  RopeLayout layout_;
  RopeScaling scaling_;
  int original_context_ = 0;
  double attention_factor_ = 1.0;
  std::vector<double> inv_freq_;       // (rope_dim / 2) θ_i
  std::vector<double> long_inv_freq_;  // (rope_dim / 2) longrope beyond the original context
};

}  // namespace llmpp::layers
