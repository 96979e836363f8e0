// Sparse mixture-of-experts feed-forward blocks: a router picks, per token, a few of the
// n_experts FFNs, and the block's output is their weighted sum.
//   moe_forward (Mixtral, Jiang et al. 2024, section 2.1): p = softmax(router · x) over all
//     experts, keep the top_k, optionally renormalise them to sum to 1, and return
//     Σ_k p_k · FFN_k(x).
//   switch_moe_forward (Switch Transformer, Fedus et al. 2021, section 2.1-2.2): top-1
//     routing with a fixed expert capacity per block of tokens; tokens past an expert's
//     capacity skip the experts.
// Tokens are grouped by expert, so each expert runs one matrix-matrix FFN over its tokens
// (and an expert no token chose is never read).
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
#include "llmpp/layers/feed_forward.hpp"
#include "llmpp/model/config.hpp"

namespace llmpp::layers {

struct MoeWeights {
  TensorView router;                        // (n_experts, dim)
  std::vector<FeedForwardWeights> experts;  // (n_experts)
};

// Buffers of one MoE block; grown by the first call that needs them, reused afterwards.
struct MoeScratch {
  std::vector<float> router_probs;     // (max_tokens, n_experts) router logits, then probabilities
  std::vector<int32_t> chosen_expert;  // (max_tokens, top_k) -1: no expert (dropped by capacity)
  std::vector<float> chosen_weight;    // (max_tokens, top_k)
  std::vector<int32_t> batch_token;    // (max_tokens) the tokens routed to the expert being run
  std::vector<float> batch_weight;     // (max_tokens) and their weights
  AlignedVector<float> batch_in;       // (max_tokens, dim) their inputs
  AlignedVector<float> batch_out;      // (max_tokens, dim) the expert's outputs
  std::vector<int64_t> expert_load;    // (n_experts) Switch: tokens accepted so far
  FeedForwardScratch ffn;

  void reserve(int64_t n_tokens, int64_t n_experts, int top_k, int64_t dim) {
    auto grow = [](auto& v, int64_t n) {
      if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
    };
    grow(router_probs, n_tokens * n_experts);
    grow(chosen_expert, n_tokens * top_k);
    grow(chosen_weight, n_tokens * top_k);
    grow(batch_token, n_tokens);
    grow(batch_weight, n_tokens);
    grow(batch_in, n_tokens * dim);
    grow(batch_out, n_tokens * dim);
    grow(expert_load, n_experts);
  }
};

namespace moe_detail {

inline void check_weights(const MoeWeights& w, int top_k) {
  const int64_t n_experts = static_cast<int64_t>(w.experts.size());
  if (!w.router.valid() || w.router.rows() != n_experts || n_experts == 0)
    throw InvalidArgument("moe: router '" + w.router.name + "' " + w.router.shape_string() + " does not match " +
                          std::to_string(n_experts) + " experts");
  if (top_k < 1 || top_k > n_experts)
    throw InvalidArgument("moe: top_k " + std::to_string(top_k) + " is not between 1 and " +
                          std::to_string(n_experts));
  for (const FeedForwardWeights& e : w.experts)
    if (e.up.cols() != w.router.cols())
      throw InvalidArgument("moe: expert tensor '" + e.up.name + "' " + e.up.shape_string() + " does not take the " +
                            std::to_string(w.router.cols()) + "-wide input of the router");
}

// probs (n_tokens, n_experts): router logits -> softmax per token, in place.
inline void router_softmax(const MoeWeights& w, const float* x, int64_t n_tokens, float* probs, ThreadPool* pool) {
  const int64_t n_experts = w.router.rows();
  kernels::matmul(w.router, x, n_tokens, probs, pool);
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* p = probs + t * n_experts;
    float max = p[0];
    for (int64_t e = 1; e < n_experts; ++e) max = std::max(max, p[e]);
    double sum = 0.0;
    for (int64_t e = 0; e < n_experts; ++e) sum += p[e] = std::exp(p[e] - max);
    for (int64_t e = 0; e < n_experts; ++e) p[e] = static_cast<float>(p[e] / sum);
  }
}

// out (n_tokens, dim) = Σ_k chosen_weight[t][k] · FFN_{chosen_expert[t][k]}(x_t), expert by
// expert: gather the expert's tokens, run its FFN on them as one block, scatter-add back.
inline void run_experts(const MoeWeights& w, int top_k, FfnType type, Activation act, const float* x,
                        int64_t n_tokens, MoeScratch& s, float* out, ThreadPool* pool) {
  const int64_t dim = w.router.cols();
  std::fill(out, out + n_tokens * dim, 0.0f);
  for (int32_t expert = 0; expert < static_cast<int32_t>(w.experts.size()); ++expert) {
    int64_t n_batch = 0;
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int k = 0; k < top_k; ++k)
        if (s.chosen_expert[t * top_k + k] == expert) {
          s.batch_token[n_batch] = static_cast<int32_t>(t);
          s.batch_weight[n_batch] = s.chosen_weight[t * top_k + k];
          std::copy(x + t * dim, x + (t + 1) * dim, s.batch_in.data() + n_batch * dim);
          ++n_batch;
        }
    if (n_batch == 0) continue;
    feed_forward(type, act, w.experts[expert], s.batch_in.data(), n_batch, s.ffn, s.batch_out.data(), pool);
    for (int64_t b = 0; b < n_batch; ++b) {
      float* y = out + int64_t{s.batch_token[b]} * dim;
      const float* expert_out = s.batch_out.data() + b * dim;
      for (int64_t i = 0; i < dim; ++i) y[i] += s.batch_weight[b] * expert_out[i];
    }
  }
}

}  // namespace moe_detail

// x (n_tokens, dim) -> out (n_tokens, dim), Mixtral routing. Ties between equal router
// probabilities go to the lower expert index.
inline void moe_forward(const MoeWeights& w, int top_k, bool renormalize, FfnType type, Activation act,
                        const float* x, int64_t n_tokens, MoeScratch& scratch, float* out, ThreadPool* pool = nullptr) {
  moe_detail::check_weights(w, top_k);
  if (n_tokens <= 0) return;
  const int64_t n_experts = w.router.rows();
  scratch.reserve(n_tokens, n_experts, top_k, w.router.cols());
  moe_detail::router_softmax(w, x, n_tokens, scratch.router_probs.data(), pool);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* p = scratch.router_probs.data() + t * n_experts;
    int32_t* chosen = scratch.chosen_expert.data() + t * top_k;
    float* weight = scratch.chosen_weight.data() + t * top_k;
    // Top-k by repeated arg-max: n_experts is small (8 to 64).
    float chosen_sum = 0.0f;
    for (int k = 0; k < top_k; ++k) {
      int32_t best = -1;
      for (int32_t e = 0; e < n_experts; ++e) {
        if (std::find(chosen, chosen + k, e) != chosen + k) continue;
        if (best < 0 || p[e] > p[best]) best = e;
      }
      chosen[k] = best;
      weight[k] = p[best];
      chosen_sum += p[best];
    }
    if (renormalize)
      for (int k = 0; k < top_k; ++k) weight[k] /= chosen_sum;
  }
  moe_detail::run_experts(w, top_k, type, act, x, n_tokens, scratch, out, pool);
}

// Switch Transformer expert capacity for a block of n_tokens (Fedus et al. 2021, eq. 3):
// floor(n_tokens / n_experts · capacity_factor).
inline int64_t switch_expert_capacity(int64_t n_tokens, int64_t n_experts, float capacity_factor) {
  return static_cast<int64_t>(std::floor(static_cast<double>(n_tokens) / n_experts * capacity_factor));
}

// x (n_tokens, dim) -> out (n_tokens, dim), Switch top-1 routing over this block of tokens.
// Each token goes to its most probable expert e with gate p_e; an expert accepts tokens
// in block order until it holds switch_expert_capacity(...) of them.
// Returns the number of dropped tokens. out[t] = p_e · FFN_e(x_t) for an accepted token and
// exactly 0 for a dropped one, so that the caller's residual connection passes x_t through
// unchanged, as in the paper (section 2.2). (HF's SwitchTransformersSparseMLP returns
// p_e · x_t for dropped tokens instead.)
inline int64_t switch_moe_forward(const MoeWeights& w, float capacity_factor, FfnType type, Activation act,
                                  const float* x, int64_t n_tokens, MoeScratch& scratch, float* out,
                                  ThreadPool* pool = nullptr) {
  moe_detail::check_weights(w, 1);
  if (!(capacity_factor > 0.0f)) throw InvalidArgument("switch_moe_forward: capacity_factor must be positive");
  if (n_tokens <= 0) return 0;
  const int64_t n_experts = w.router.rows();
  scratch.reserve(n_tokens, n_experts, 1, w.router.cols());
  moe_detail::router_softmax(w, x, n_tokens, scratch.router_probs.data(), pool);
  const int64_t capacity = switch_expert_capacity(n_tokens, n_experts, capacity_factor);
  std::fill(scratch.expert_load.begin(), scratch.expert_load.begin() + n_experts, 0);
  int64_t n_dropped = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* p = scratch.router_probs.data() + t * n_experts;
    const int32_t best = static_cast<int32_t>(std::max_element(p, p + n_experts) - p);
    const bool accepted = scratch.expert_load[best] < capacity;
    scratch.expert_load[best] += accepted;
    scratch.chosen_expert[t] = accepted ? best : -1;
    scratch.chosen_weight[t] = p[best];
    n_dropped += !accepted;
  }
  moe_detail::run_experts(w, 1, type, act, x, n_tokens, scratch, out, pool);
  return n_dropped;
}

}  // namespace llmpp::layers
