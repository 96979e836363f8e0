// Turning a vector of logits into the next token: a chain of filters over the candidate
// tokens, then a draw from the softmax of what is left.
//
// The default chain is llama.cpp's: repetition penalties, top-k, top-p, min-p, temperature.
// The order is configurable. Logit bias is applied before the chain, so a -inf bias bans a
// token whatever the order. temperature <= 0 means greedy: the argmax after bias and
// penalties (the filters never remove the argmax), ties going to the lowest token id.
//
// Every buffer is sized in the constructor: sampling a token allocates nothing.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/sampling/rng.hpp"

namespace llmpp::sampling {

enum class SamplerStage { Penalties, TopK, TopP, MinP, Temperature };

inline const char* stage_name(SamplerStage stage) {
  switch (stage) {
    case SamplerStage::Penalties: return "penalties";
    case SamplerStage::TopK: return "top_k";
    case SamplerStage::TopP: return "top_p";
    case SamplerStage::MinP: return "min_p";
    case SamplerStage::Temperature: return "temperature";
  }
  return "?";
}

inline std::vector<SamplerStage> default_order() {
  return {SamplerStage::Penalties, SamplerStage::TopK, SamplerStage::TopP, SamplerStage::MinP,
          SamplerStage::Temperature};
}

struct SamplerParams {
  float temperature = 0.8f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  int min_keep = 1;          // top-p and min-p keep at least this many candidates
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;       // penalties look at this many most recent tokens; 0: off
  float frequency_penalty = 0.0f, presence_penalty = 0.0f;
  // Fixed by default so that runs reproduce; pass e.g. std::random_device bits for variety.
  uint64_t seed = 0x5eed5eed5eed5eedull;
  std::vector<std::pair<int32_t, float>> logit_bias;  // token -> added to its logit; -inf bans
  std::vector<SamplerStage> order = default_order();
};

struct TokenCandidate {
  int32_t id;
  float logit;
  float prob;  // valid after CandidateList::softmax()
};

// The tokens still in the running. Storage for n_vocab candidates is allocated once; the
// stages only shrink the count, so sampling never allocates.
class CandidateList {
 public:
  CandidateList() = default;
  explicit CandidateList(size_t capacity) : storage_(capacity) {}
  explicit CandidateList(std::vector<TokenCandidate> items) : storage_(std::move(items)), size_(storage_.size()) {}

  size_t size() const { return size_; }
  size_t capacity() const { return storage_.size(); }
  TokenCandidate* begin() { return storage_.data(); }
  TokenCandidate* end() { return storage_.data() + size_; }
  const TokenCandidate* begin() const { return storage_.data(); }
  const TokenCandidate* end() const { return storage_.data() + size_; }
  TokenCandidate& operator[](size_t i) { return storage_[i]; }
  const TokenCandidate& operator[](size_t i) const { return storage_[i]; }

  // Sets the count after the caller wrote candidates [0, n) through begin(); n <= capacity.
  void assign_size(size_t n) {
    size_ = n;
    n_sorted = 0;
  }

  void truncate(size_t n) {
    size_ = std::min(size_, n);
    n_sorted = std::min(n_sorted, size_);
  }

  // Descending logit, then ascending id: a total order, so ties resolve the same everywhere.
  // A function object rather than a function pointer, so the std algorithms inline it.
  struct RanksBefore {
    bool operator()(const TokenCandidate& a, const TokenCandidate& b) const {
      return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    }
  };
  static constexpr RanksBefore ranks_before{};

  // Brings the k best candidates to the front, in order: O(n log k). For k beyond n/8 the
  // heap behind partial_sort is slower than sorting everything.
  void sort_prefix(size_t k) {
    k = std::min(k, size_);
    if (k <= n_sorted) return;
    if (k > size_ / 8) {
      k = size_;
      std::sort(begin(), end(), ranks_before);
    } else {
      std::partial_sort(begin(), begin() + k, end(), ranks_before);
    }
    n_sorted = k;
  }

  float max_logit() const {
    if (n_sorted > 0) return storage_[0].logit;
    float best = -INFINITY;
    for (const TokenCandidate& c : *this) best = std::max(best, c.logit);
    return best;
  }

  // prob = softmax(logit) over the current candidates. Returns the sum of the probabilities
  // as computed (1 up to rounding), which a draw scales its uniform number by.
  double softmax() {
    const float max = max_logit();
    double sum = 0.0;
    for (TokenCandidate& c : *this) {
      c.prob = std::exp(c.logit - max);
      sum += c.prob;
    }
    double total = 0.0;
    for (TokenCandidate& c : *this) {
      c.prob = static_cast<float>(c.prob / sum);
      total += c.prob;
    }
    return total;
  }

  size_t n_sorted = 0;  // [0, n_sorted) hold the largest logits, in descending order

 private:
  std::vector<TokenCandidate> storage_;  // (capacity)
  size_t size_ = 0;
};

// The last repeat_last_n accepted tokens, as a ring buffer, with a count per token id so a
// penalty costs O(1) per candidate.
class TokenHistory {
 public:
  TokenHistory(size_t capacity, int32_t n_vocab) : ring_(capacity), counts_(static_cast<size_t>(n_vocab), 0) {}

  void push(int32_t token) {
    if (ring_.empty()) return;
    if (size_ == ring_.size()) {
      --counts_[static_cast<size_t>(ring_[head_])];  // ring full: head_ is the oldest token
    } else {
      ++size_;
    }
    ring_[head_] = token;
    ++counts_[static_cast<size_t>(token)];
    head_ = (head_ + 1) % ring_.size();
  }
  int32_t count(int32_t token) const { return counts_[static_cast<size_t>(token)]; }
  bool empty() const { return size_ == 0; }
  void clear() {
    std::fill(ring_.begin(), ring_.end(), 0);
    std::fill(counts_.begin(), counts_.end(), 0);
    size_ = head_ = 0;
  }

 private:
  std::vector<int32_t> ring_;    // (repeat_last_n)
  std::vector<int32_t> counts_;  // (n_vocab): occurrences of each token in ring_
  size_t size_ = 0, head_ = 0;
};

// llama.cpp's penalties, once per distinct token seen in the window: the repeat penalty
// (Keskar et al. 2019, CTRL) divides a positive logit and multiplies a non-positive one;
// then the frequency penalty is subtracted once per occurrence and the presence penalty once.
inline void apply_penalties(CandidateList& candidates, const TokenHistory& history, float repeat_penalty,
                            float frequency_penalty, float presence_penalty) {
  if (history.empty() || (repeat_penalty == 1.0f && frequency_penalty == 0.0f && presence_penalty == 0.0f)) return;
  for (TokenCandidate& c : candidates) {
    const int32_t count = history.count(c.id);
    if (count == 0) continue;
    c.logit = c.logit <= 0.0f ? c.logit * repeat_penalty : c.logit / repeat_penalty;
    c.logit -= static_cast<float>(count) * frequency_penalty + presence_penalty;
  }
  candidates.n_sorted = 0;
}

// Keeps the k highest logits (Fan et al. 2018).
inline void apply_top_k(CandidateList& candidates, int top_k) {
  if (top_k <= 0 || static_cast<size_t>(top_k) >= candidates.size()) return;
  candidates.sort_prefix(static_cast<size_t>(top_k));
  candidates.truncate(static_cast<size_t>(top_k));
}

// Moves the smallest set of best candidates whose probabilities sum to top_p (> 0) to the
// front, unordered, and returns its size (n if rounding leaves the total just under top_p).
// A quickselect on the cumulative mass: O(n) expected, where sorting would be O(n log n).
inline size_t select_nucleus(TokenCandidate* items, size_t n, double top_p) {
  const auto& ranks_before = CandidateList::ranks_before;
  // Invariant: items[0, lo) are the lo best, with mass lo_mass < top_p; the hi best reach
  // top_p (or hi = n); items[hi, n) rank below all of items[0, hi).
  size_t lo = 0, hi = n;
  double lo_mass = 0.0;
  for (int round = 0; hi - lo > 1; ++round) {
    if (round == 64) {  // pathological pivots: finish by sorting what is left
      std::sort(items + lo, items + hi, ranks_before);
      for (; lo < hi; ++lo) {
        lo_mass += items[lo].prob;
        if (lo_mass >= top_p) return lo + 1;
      }
      return hi;
    }
    // Median of three as the pivot, parked at hi - 1 during the partition, then put between
    // the better and the worse part.
    const size_t mid = lo + (hi - lo) / 2;
    if (ranks_before(items[mid], items[lo])) std::swap(items[mid], items[lo]);
    if (ranks_before(items[hi - 1], items[lo])) std::swap(items[hi - 1], items[lo]);
    if (ranks_before(items[mid], items[hi - 1])) std::swap(items[mid], items[hi - 1]);
    const TokenCandidate pivot = items[hi - 1];
    TokenCandidate* split =
        std::partition(items + lo, items + hi - 1, [&](const TokenCandidate& c) { return ranks_before(c, pivot); });
    std::swap(*split, items[hi - 1]);
    const size_t pivot_at = static_cast<size_t>(split - items);

    double mass_before = lo_mass;
    for (size_t i = lo; i < pivot_at; ++i) mass_before += items[i].prob;
    if (mass_before >= top_p) {
      hi = pivot_at;  // non-empty: lo_mass < top_p
    } else if (mass_before + pivot.prob >= top_p) {
      return pivot_at + 1;
    } else {
      lo = pivot_at + 1;
      lo_mass = mass_before + pivot.prob;
    }
  }
  return hi;
}

// Nucleus sampling (Holtzman et al. 2019): the smallest prefix of the sorted distribution
// whose cumulative probability reaches top_p, and at least min_keep tokens.
inline void apply_top_p(CandidateList& candidates, float top_p, size_t min_keep) {
  if (top_p >= 1.0f || candidates.size() <= 1) return;
  candidates.softmax();
  TokenCandidate* items = candidates.begin();
  const size_t n = candidates.size();
  size_t n_nucleus = n;
  if (candidates.n_sorted == n || top_p <= 0.0f) {
    candidates.sort_prefix(top_p <= 0.0f ? 1 : n);  // top_p <= 0 keeps just the best
    double cumulative = 0.0;
    for (size_t i = 0; i < n; ++i) {
      cumulative += items[i].prob;
      if (cumulative >= top_p) {
        n_nucleus = i + 1;
        break;
      }
    }
  } else {
    n_nucleus = select_nucleus(items, n, top_p);
    candidates.n_sorted = 0;
  }
  if (n_nucleus < min_keep && min_keep < n && candidates.n_sorted < min_keep) {
    // The best n_nucleus are in front and everything after ranks below them: select the next ones.
    std::nth_element(items + n_nucleus, items + min_keep, items + n, CandidateList::ranks_before);
  }
  candidates.truncate(std::max(n_nucleus, min_keep));
}

// Min-p (Nguyen et al. 2024): keeps tokens with p >= min_p * p_max, which is
// logit >= max_logit + log(min_p), so no softmax is needed. Relative order is kept.
inline void apply_min_p(CandidateList& candidates, float min_p, size_t min_keep) {
  if (min_p <= 0.0f || candidates.size() <= 1) return;
  const float threshold = candidates.max_logit() + std::log(min_p);
  size_t n_kept = 0;
  for (const TokenCandidate& c : candidates) n_kept += c.logit >= threshold;
  if (n_kept < min_keep) {
    candidates.sort_prefix(min_keep);
    candidates.truncate(min_keep);
    return;
  }
  size_t write = 0, n_sorted_kept = 0;
  for (size_t read = 0; read < candidates.size(); ++read) {
    if (candidates[read].logit < threshold) continue;
    n_sorted_kept += read < candidates.n_sorted;  // survivors of the sorted prefix stay sorted and in front
    candidates[write++] = candidates[read];
  }
  candidates.truncate(write);
  candidates.n_sorted = n_sorted_kept;
}

// Divides the logits by the temperature (> 0); order is unchanged.
inline void apply_temperature(CandidateList& candidates, float temperature) {
  for (TokenCandidate& c : candidates) c.logit /= temperature;
}

// Inverse-CDF draw from the softmax of the candidates.
inline int32_t draw_from_softmax(CandidateList& candidates, Rng& rng) {
  const double total = candidates.softmax();
  const double target = rng.uniform_double() * total;
  double cumulative = 0.0;
  for (const TokenCandidate& c : candidates) {
    cumulative += c.prob;
    if (target < cumulative) return c.id;
  }
  return candidates[candidates.size() - 1].id;  // unreachable up to rounding
}

class Sampler {
 public:
  Sampler(SamplerParams params, int32_t n_vocab)
      : params_(std::move(params)),
        n_vocab_(n_vocab),
        history_(check_params(params_, n_vocab), n_vocab),
        rng_(params_.seed),
        candidates_(static_cast<size_t>(n_vocab_)) {
    if (!params_.logit_bias.empty()) {
      bias_by_token_.assign(static_cast<size_t>(n_vocab_), 0.0f);
      for (const auto& [token, bias] : params_.logit_bias) bias_by_token_[static_cast<size_t>(token)] += bias;
    }
  }

  // logits: (n_vocab). Returns the sampled token id; call accept() with the token that is
  // actually appended to the sequence (usually this one) so the penalties see it.
  int32_t sample(const float* logits) {
    load_candidates(logits);
    if (params_.temperature <= 0.0f) {
      apply_penalties(candidates_, history_, params_.repeat_penalty, params_.frequency_penalty,
                      params_.presence_penalty);
      return argmax();
    }
    for (SamplerStage stage : params_.order) apply_stage(stage);
    return draw_from_softmax(candidates_, rng_);
  }

  void accept(int32_t token) {
    if (token < 0 || token >= n_vocab_)
      throw InvalidArgument("Sampler::accept: token " + std::to_string(token) + " outside the vocabulary [0, " +
                            std::to_string(n_vocab_) + ")");
    history_.push(token);
  }

  // Forgets the history and restarts the random sequence from the seed.
  void reset() {
    history_.clear();
    rng_.seed_with(params_.seed);
  }

  // The candidates left by the last sample(), with the probabilities it drew from. After a
  // greedy sample: every unbanned token with its penalised logit, and no probabilities.
  const CandidateList& candidates() const { return candidates_; }
  const SamplerParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  // Validates the parameters; returns the history capacity so the member initialiser can use it.
  static size_t check_params(const SamplerParams& p, int32_t n_vocab) {
    auto bad = [](const std::string& field, const std::string& why) {
      return InvalidArgument("SamplerParams." + field + ": " + why);
    };
    if (n_vocab <= 0) throw InvalidArgument("Sampler: n_vocab must be positive, got " + std::to_string(n_vocab));
    if (std::isnan(p.temperature)) throw bad("temperature", "is NaN");
    if (!(p.top_p >= 0.0f)) throw bad("top_p", "must be >= 0, got " + std::to_string(p.top_p));
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) throw bad("min_p", "must be in [0, 1], got " + std::to_string(p.min_p));
    if (p.min_keep < 1) throw bad("min_keep", "must be >= 1, got " + std::to_string(p.min_keep));
    if (!(p.repeat_penalty > 0.0f && std::isfinite(p.repeat_penalty)))
      throw bad("repeat_penalty", "must be positive and finite, got " + std::to_string(p.repeat_penalty));
    if (p.repeat_last_n < 0 || p.repeat_last_n > (1 << 24))
      throw bad("repeat_last_n", "must be in [0, 2^24], got " + std::to_string(p.repeat_last_n));
    if (!std::isfinite(p.frequency_penalty)) throw bad("frequency_penalty", "must be finite");
    if (!std::isfinite(p.presence_penalty)) throw bad("presence_penalty", "must be finite");
    for (const auto& [token, bias] : p.logit_bias) {
      if (token < 0 || token >= n_vocab)
        throw bad("logit_bias", "token " + std::to_string(token) + " outside the vocabulary [0, " +
                                    std::to_string(n_vocab) + ")");
      if (std::isnan(bias) || bias == INFINITY)
        throw bad("logit_bias", "bias of token " + std::to_string(token) + " must be finite or -inf");
    }
    return static_cast<size_t>(p.repeat_last_n);
  }

  // All tokens, in id order, with the bias added; banned (-inf) tokens are dropped.
  void load_candidates(const float* logits) {
    TokenCandidate* out = candidates_.begin();  // capacity n_vocab
    size_t n_loaded = 0;
    for (int32_t id = 0; id < n_vocab_; ++id) {
      float logit = logits[id];
      if (std::isnan(logit) || logit == INFINITY)
        throw InvalidArgument("Sampler::sample: logit of token " + std::to_string(id) + " is " + std::to_string(logit) +
                              " (only finite values and -inf are allowed)");
      if (!bias_by_token_.empty()) logit += bias_by_token_[static_cast<size_t>(id)];
      if (logit == -INFINITY) continue;
      // Field by field: an aggregate temporary costs a store-forwarding stall per token.
      out[n_loaded].id = id;
      out[n_loaded].logit = logit;
      out[n_loaded].prob = 0.0f;
      ++n_loaded;
    }
    if (n_loaded == 0) throw InvalidArgument("Sampler::sample: every token is banned (all logits are -inf)");
    candidates_.assign_size(n_loaded);
  }

  void apply_stage(SamplerStage stage) {
    const size_t min_keep = static_cast<size_t>(params_.min_keep);
    switch (stage) {
      case SamplerStage::Penalties:
        apply_penalties(candidates_, history_, params_.repeat_penalty, params_.frequency_penalty,
                        params_.presence_penalty);
        break;
      case SamplerStage::TopK: apply_top_k(candidates_, params_.top_k); break;
      case SamplerStage::TopP: apply_top_p(candidates_, params_.top_p, min_keep); break;
      case SamplerStage::MinP: apply_min_p(candidates_, params_.min_p, min_keep); break;
      case SamplerStage::Temperature: apply_temperature(candidates_, params_.temperature); break;
    }
  }

  // Candidates are in id order here, so a strict > keeps the lowest id among equal maxima.
  int32_t argmax() const {
    const TokenCandidate* best = candidates_.begin();
    for (const TokenCandidate& c : candidates_)
      if (c.logit > best->logit) best = &c;
    return best->id;
  }

  SamplerParams params_;
  int32_t n_vocab_;
  TokenHistory history_;
  Rng rng_;
  CandidateList candidates_;           // (n_vocab) capacity
  std::vector<float> bias_by_token_;  // (n_vocab) when there is a logit bias, else empty
};

}  // namespace llmpp::sampling
