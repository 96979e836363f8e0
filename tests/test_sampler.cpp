// Sampler chain: each stage keeps exactly the hand-computed candidate set, penalties touch
// exactly the tokens they should, draws follow the target distribution (chi-square test),
// seeds reproduce, greedy is the argmax, and sampling allocates nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <set>
#include <vector>

#include "llmpp/sampling/rng.hpp"
#include "llmpp/sampling/sampler.hpp"

// Counts heap allocations so a test can check that sample() makes none. (GCC cannot see that
// the replaced operator new is malloc-based, hence the pragma.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
static std::atomic<size_t> g_n_allocations{0};
void* operator new(size_t size) {
  ++g_n_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

using llmpp::InvalidArgument;
using namespace llmpp::sampling;

// Logits whose softmax is the given distribution: logit = ln p.
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

CandidateList candidates_of(const std::vector<float>& logits) {
  std::vector<TokenCandidate> items;
  for (size_t i = 0; i < logits.size(); ++i) items.push_back({static_cast<int32_t>(i), logits[i], 0.0f});
  return CandidateList(std::move(items));
}

std::set<int32_t> ids_of(const CandidateList& list) {
  std::set<int32_t> ids;
  for (const TokenCandidate& c : list) ids.insert(c.id);
  return ids;
}

SamplerParams all_filters_off() {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

// Token id -> probability; the ids are shuffled so that no stage can get away with id order.
//                                     id: 0     1     2     3     4
const std::vector<double> kFiveProbs = {0.05, 0.20, 0.50, 0.10, 0.15};

TEST(Rng, MatchesReferenceSplitmix64AndXoshiro256StarStar) {
  // Expected values: a Python transcription of the reference C code at prng.di.unimi.it.
  uint64_t state = 0;
  EXPECT_EQ(splitmix64_next(state), 0xe220a8397b1dcdafull);
  EXPECT_EQ(splitmix64_next(state), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(splitmix64_next(state), 0x06c45d188009454full);

  Rng rng0(0);
  EXPECT_EQ(rng0.next_u64(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(rng0.next_u64(), 0xbf6e1f784956452aull);
  EXPECT_EQ(rng0.next_u64(), 0x1a5f849d4933e6e0ull);
  EXPECT_EQ(rng0.next_u64(), 0x6aa594f1262d2d2cull);
  Rng rng42(42);
  EXPECT_EQ(rng42.next_u64(), 0x15780b2e0c2ec716ull);
  EXPECT_EQ(rng42.next_u64(), 0x6104d9866d113a7eull);
}

TEST(Rng, UniformStaysInUnitInterval) {
  Rng rng(7);
  double sum = 0.0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float f = rng.uniform_float();
    const double d = rng.uniform_double();
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    sum += d;
  }
  // Mean of U(0,1) has standard deviation 1/sqrt(12 n) ~ 0.0009; allow 5 sigma.
  EXPECT_NEAR(sum / n, 0.5, 0.0046);
}

TEST(SamplerStages, TopKKeepsTheKHighest) {
  CandidateList list = candidates_of(logits_of(kFiveProbs));
  apply_top_k(list, 2);
  EXPECT_EQ(ids_of(list), (std::set<int32_t>{2, 1}));
  ASSERT_EQ(list.n_sorted, 2u);
  EXPECT_EQ(list[0].id, 2);  // sorted, best first

  CandidateList all = candidates_of(logits_of(kFiveProbs));
  apply_top_k(all, 0);  // off
  EXPECT_EQ(all.size(), 5u);
  apply_top_k(all, 9);  // larger than the vocab: off
  EXPECT_EQ(all.size(), 5u);
}

TEST(SamplerStages, TopKTiesGoToTheLowestIds) {
  CandidateList list = candidates_of({1.0f, 3.0f, 3.0f, 0.0f, 3.0f});
  apply_top_k(list, 2);
  EXPECT_EQ(ids_of(list), (std::set<int32_t>{1, 2}));
}

TEST(SamplerStages, TopPKeepsTheSmallestNucleus) {
  // Sorted: 0.50 (id 2), 0.20 (id 1), 0.15 (id 4), 0.10 (id 3), 0.05 (id 0).
  // Cumulative: 0.50, 0.70, 0.85, 0.95, 1.00.
  struct Case {
    float top_p;
    std::set<int32_t> expected;
  };
  for (const Case& c : {Case{0.4f, {2}}, Case{0.6f, {2, 1}}, Case{0.8f, {2, 1, 4}}, Case{0.9f, {2, 1, 4, 3}},
                        Case{0.99f, {2, 1, 4, 3, 0}}, Case{1.0f, {0, 1, 2, 3, 4}}}) {
    CandidateList list = candidates_of(logits_of(kFiveProbs));
    apply_top_p(list, c.top_p, 1);  // unsorted: quickselect
    EXPECT_EQ(ids_of(list), c.expected) << "top_p " << c.top_p;
    CandidateList sorted = candidates_of(logits_of(kFiveProbs));
    sorted.sort_prefix(5);  // as after top-k: a scan of the sorted list
    apply_top_p(sorted, c.top_p, 1);
    EXPECT_EQ(ids_of(sorted), c.expected) << "sorted, top_p " << c.top_p;
  }
  CandidateList list = candidates_of(logits_of(kFiveProbs));
  apply_top_p(list, 0.4f, 3);  // min_keep wins over the nucleus
  EXPECT_EQ(ids_of(list), (std::set<int32_t>{2, 1, 4}));
}

TEST(SamplerStages, TopPNucleusLargerThanTheFirstSortedBlock) {
  // 1000 equal logits: each p = 0.001. 0.3004 needs 301 tokens (300 give 0.300), more than
  // the first 64-candidate block, so the sorted prefix has to grow. Ties: lowest ids first.
  CandidateList list = candidates_of(std::vector<float>(1000, 0.0f));
  apply_top_p(list, 0.3004f, 1);
  ASSERT_EQ(list.size(), 301u);
  EXPECT_EQ(*ids_of(list).rbegin(), 300);
}

TEST(SamplerStages, TopPQuickselectMatchesSortingTheDistribution) {
  // Without top-k the nucleus is found by quickselect; it must be the same set as the prefix
  // of the fully sorted distribution (computed here from the same probabilities).
  Rng rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    const size_t n = 500 + 400 * static_cast<size_t>(trial);
    std::vector<float> logits(n);
    for (float& l : logits) l = 12.0f * rng.uniform_float();
    for (float top_p : {0.05f, 0.5f, 0.9f, 0.999f}) {
      CandidateList list = candidates_of(logits);
      list.softmax();
      std::vector<TokenCandidate> sorted(list.begin(), list.end());
      std::sort(sorted.begin(), sorted.end(), CandidateList::ranks_before);
      std::set<int32_t> expected;
      double cumulative = 0.0;
      for (const TokenCandidate& c : sorted) {
        expected.insert(c.id);
        cumulative += c.prob;
        if (cumulative >= top_p) break;
      }
      apply_top_p(list, top_p, 1);
      EXPECT_EQ(ids_of(list), expected) << "n " << n << " top_p " << top_p;
    }
  }
}

TEST(SamplerStages, MinPKeepsTokensAboveAFractionOfTheMax) {
  // p_max = 0.5. min_p 0.25 -> threshold 0.125: {0.5, 0.2, 0.15}. min_p 0.35 -> 0.175: {0.5, 0.2}.
  CandidateList list = candidates_of(logits_of(kFiveProbs));
  apply_min_p(list, 0.25f, 1);
  EXPECT_EQ(ids_of(list), (std::set<int32_t>{2, 1, 4}));
  list = candidates_of(logits_of(kFiveProbs));
  apply_min_p(list, 0.35f, 1);
  EXPECT_EQ(ids_of(list), (std::set<int32_t>{2, 1}));
  list = candidates_of(logits_of(kFiveProbs));
  apply_min_p(list, 0.35f, 4);  // min_keep: the 4 best
  EXPECT_EQ(ids_of(list), (std::set<int32_t>{2, 1, 4, 3}));
  list = candidates_of(logits_of(kFiveProbs));
  apply_min_p(list, 0.0f, 1);  // off
  EXPECT_EQ(list.size(), 5u);
}

TEST(SamplerStages, MinPKeepsTheSortedPrefixSorted) {
  CandidateList list = candidates_of(logits_of(kFiveProbs));
  apply_top_k(list, 4);  // sorted: ids 2, 1, 4, 3
  apply_min_p(list, 0.25f, 1);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list.n_sorted, 3u);
  EXPECT_EQ(list[0].id, 2);
  EXPECT_EQ(list[1].id, 1);
  EXPECT_EQ(list[2].id, 4);
}

// Runs the whole chain (no draw of interest) and returns the surviving ids.
std::set<int32_t> chain_survivors(const SamplerParams& params, const std::vector<float>& logits) {
  Sampler sampler(params, static_cast<int32_t>(logits.size()));
  sampler.sample(logits.data());
  return ids_of(sampler.candidates());
}

TEST(Sampler, StageOrderIsConfigurable) {
  // min_p 0.25 on the raw distribution keeps 3 tokens. With temperature 0.5 first, the
  // probabilities become p^2 / sum: 0.25 / 0.04 / 0.0225 ... relative to 0.25 only id 2
  // passes the threshold 0.0625.
  SamplerParams params = all_filters_off();
  params.temperature = 0.5f;
  params.min_p = 0.25f;
  EXPECT_EQ(chain_survivors(params, logits_of(kFiveProbs)), (std::set<int32_t>{2, 1, 4}));
  params.order = {SamplerStage::Temperature, SamplerStage::MinP};
  EXPECT_EQ(chain_survivors(params, logits_of(kFiveProbs)), (std::set<int32_t>{2}));
}

TEST(Sampler, PenaltiesChangeExactlyTheSeenTokens) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.5f};
  SamplerParams params = all_filters_off();
  params.order = {SamplerStage::Penalties};
  params.repeat_penalty = 1.5f;
  params.frequency_penalty = 0.25f;
  params.presence_penalty = 0.5f;
  Sampler sampler(params, static_cast<int32_t>(logits.size()));
  for (int32_t token : {3, 1, 3, 5}) sampler.accept(token);
  sampler.sample(logits.data());

  // Hand-computed, llama.cpp semantics:
  //   token 3 (seen twice, logit 3):  3 / 1.5 - 2 * 0.25 - 0.5 = 1.0
  //   token 1 (seen once, logit -1): -1 * 1.5 - 1 * 0.25 - 0.5 = -2.25
  //   token 5 (seen once, logit 0):   0 * 1.5 - 0.25 - 0.5 = -0.75
  std::vector<float> expected = logits;
  expected[3] = 1.0f;
  expected[1] = -2.25f;
  expected[5] = -0.75f;
  ASSERT_EQ(sampler.candidates().size(), logits.size());
  for (const TokenCandidate& c : sampler.candidates())
    EXPECT_FLOAT_EQ(c.logit, expected[static_cast<size_t>(c.id)]) << "token " << c.id;
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.5f};
  SamplerParams params = all_filters_off();
  params.order = {SamplerStage::Penalties};
  params.repeat_penalty = 2.0f;
  params.repeat_last_n = 2;
  Sampler sampler(params, static_cast<int32_t>(logits.size()));
  for (int32_t token : {1, 3, 3, 6}) sampler.accept(token);  // window: {3, 6}
  sampler.sample(logits.data());
  std::vector<float> expected = logits;
  expected[3] = 1.5f;   // 3 / 2; token 1 and the older 3 have left the window
  expected[6] = 0.75f;  // 1.5 / 2
  for (const TokenCandidate& c : sampler.candidates())
    EXPECT_FLOAT_EQ(c.logit, expected[static_cast<size_t>(c.id)]) << "token " << c.id;

  sampler.reset();  // history gone: no penalty at all
  sampler.sample(logits.data());
  for (const TokenCandidate& c : sampler.candidates())
    EXPECT_FLOAT_EQ(c.logit, logits[static_cast<size_t>(c.id)]) << "token " << c.id;
}

TEST(Sampler, GreedyPicksTheArgmaxLowestIdOnTies) {
  SamplerParams params;
  params.temperature = 0.0f;
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
  Sampler sampler(params, 5);
  EXPECT_EQ(sampler.sample(logits.data()), 1);

  params.logit_bias = {{1, -INFINITY}};  // ban the first maximum: the tie goes to id 3
  Sampler banned(params, 5);
  EXPECT_EQ(banned.sample(logits.data()), 3);

  params.logit_bias.clear();
  params.repeat_penalty = 2.0f;  // greedy still applies the penalties: 2 / 2 = 1 < 1.9
  Sampler penalised(params, 5);
  penalised.accept(1);
  penalised.accept(3);
  EXPECT_EQ(penalised.sample(logits.data()), 4);
}

TEST(Sampler, LogitBiasBansAndBoosts) {
  SamplerParams params = all_filters_off();
  params.logit_bias = {{2, -INFINITY}, {0, 10.0f}};
  Sampler sampler(params, 5);
  const std::vector<float> logits = logits_of(kFiveProbs);
  for (int i = 0; i < 200; ++i) {
    const int32_t token = sampler.sample(logits.data());
    EXPECT_NE(token, 2);
  }
  EXPECT_EQ(ids_of(sampler.candidates()).count(2), 0u);
  // id 0's logit ln 0.05 + 10 dominates: p ~ 0.9986.
  params.top_p = 0.99f;
  EXPECT_EQ(chain_survivors(params, logits), (std::set<int32_t>{0}));
}

// Pearson's chi-square statistic of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int n_draws) {
  double statistic = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double expected = probs[i] * n_draws;
    statistic += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return statistic;
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  // No filters, temperature 1: the draw must follow kFiveProbs. 4 degrees of freedom:
  // the 99.9% quantile of chi-square(4) is 18.467.
  SamplerParams params = all_filters_off();
  params.seed = 1234;
  Sampler sampler(params, 5);
  const std::vector<float> logits = logits_of(kFiveProbs);
  const int n_draws = 100000;
  std::vector<int> counts(5, 0);
  for (int i = 0; i < n_draws; ++i) ++counts[static_cast<size_t>(sampler.sample(logits.data()))];
  EXPECT_LT(chi_square(counts, kFiveProbs, n_draws), 18.467);
}

TEST(Sampler, DrawsFollowTheFilteredTemperedDistribution) {
  // 8 tokens, p (by id) below. Default chain with top_k 6, top_p 0.9, min_p 0.3, T 0.7:
  //   top-k 6 drops 0.03 (id 4) and 0.02 (id 6);
  //   top-p over the renormalised six (sum 0.95): cumulative 0.316, 0.579, 0.737, 0.863,
  //     0.947 >= 0.9 -> keeps five, drops 0.05 (id 7);
  //   min-p 0.3: threshold 0.3 * 0.30 = 0.09 drops 0.08 (id 0);
  //   temperature: q_i ~ p_i^(1 / 0.7) over {0.30, 0.25, 0.15, 0.12}.
  //                           id:  0     1     2     3     4     5     6     7
  const std::vector<double> probs = {0.08, 0.25, 0.12, 0.30, 0.03, 0.15, 0.02, 0.05};
  SamplerParams params;
  params.top_k = 6;
  params.top_p = 0.9f;
  params.min_p = 0.3f;
  params.temperature = 0.7f;
  params.seed = 99;
  Sampler sampler(params, 8);
  const std::vector<float> logits = logits_of(probs);

  const std::vector<int32_t> kept = {1, 2, 3, 5};
  std::vector<double> expected;
  double sum = 0.0;
  for (int32_t id : kept) {
    expected.push_back(std::pow(probs[static_cast<size_t>(id)], 1.0 / 0.7));
    sum += expected.back();
  }
  for (double& q : expected) q /= sum;

  const int n_draws = 100000;
  std::vector<int> counts(kept.size(), 0);
  for (int i = 0; i < n_draws; ++i) {
    const int32_t token = sampler.sample(logits.data());
    const auto it = std::find(kept.begin(), kept.end(), token);
    ASSERT_NE(it, kept.end()) << "token " << token << " should have been filtered out";
    ++counts[static_cast<size_t>(it - kept.begin())];
  }
  EXPECT_EQ(ids_of(sampler.candidates()), std::set<int32_t>(kept.begin(), kept.end()));
  // 3 degrees of freedom: the 99.9% quantile of chi-square(3) is 16.266.
  EXPECT_LT(chi_square(counts, expected, n_draws), 16.266);
}

std::vector<int32_t> draw_sequence(uint64_t seed, int n) {
  SamplerParams params = all_filters_off();
  params.seed = seed;
  Sampler sampler(params, 5);
  const std::vector<float> logits = logits_of(kFiveProbs);
  std::vector<int32_t> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back(sampler.sample(logits.data()));
  return tokens;
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferent) {
  EXPECT_EQ(draw_sequence(5, 1000), draw_sequence(5, 1000));
  EXPECT_NE(draw_sequence(5, 1000), draw_sequence(6, 1000));

  // reset() restarts the random sequence.
  SamplerParams params = all_filters_off();
  params.seed = 5;
  Sampler sampler(params, 5);
  const std::vector<float> logits = logits_of(kFiveProbs);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 50; ++i) first.push_back(sampler.sample(logits.data()));
  sampler.reset();
  for (int i = 0; i < 50; ++i) second.push_back(sampler.sample(logits.data()));
  EXPECT_EQ(first, second);
}

TEST(Sampler, SamplingAllocatesNothing) {
  const int32_t n_vocab = 32000;
  std::vector<float> logits(n_vocab);
  Rng rng(3);
  for (float& l : logits) l = 8.0f * rng.uniform_float();
  SamplerParams params;  // default chain
  params.repeat_penalty = 1.1f;
  params.logit_bias = {{5, -INFINITY}};
  Sampler sampler(params, n_vocab);
  params.top_k = 0;  // top-p over the whole vocabulary too
  Sampler no_top_k(params, n_vocab);
  params.temperature = 0.0f;
  Sampler greedy(params, n_vocab);

  const size_t before = g_n_allocations.load();
  for (int i = 0; i < 20; ++i) {
    sampler.accept(sampler.sample(logits.data()));
    no_top_k.accept(no_top_k.sample(logits.data()));
    greedy.accept(greedy.sample(logits.data()));
  }
  EXPECT_EQ(g_n_allocations.load(), before);
}

TEST(Sampler, RejectsBadInput) {
  SamplerParams params;
  params.logit_bias = {{5, 1.0f}};
  EXPECT_THROW(Sampler(params, 5), InvalidArgument);  // token outside the vocab
  params.logit_bias = {{1, INFINITY}};
  EXPECT_THROW(Sampler(params, 5), InvalidArgument);
  params = SamplerParams();
  params.repeat_penalty = 0.0f;
  EXPECT_THROW(Sampler(params, 5), InvalidArgument);
  params = SamplerParams();
  params.min_p = 1.5f;
  EXPECT_THROW(Sampler(params, 5), InvalidArgument);
  params = SamplerParams();
  params.repeat_last_n = -1;
  EXPECT_THROW(Sampler(params, 5), InvalidArgument);
  EXPECT_THROW(Sampler(SamplerParams(), 0), InvalidArgument);

  Sampler sampler(SamplerParams(), 3);
  const float with_nan[3] = {0.0f, NAN, 1.0f};
  EXPECT_THROW(sampler.sample(with_nan), InvalidArgument);
  const float all_banned[3] = {-INFINITY, -INFINITY, -INFINITY};
  EXPECT_THROW(sampler.sample(all_banned), InvalidArgument);
  EXPECT_THROW(sampler.accept(3), InvalidArgument);
  EXPECT_THROW(sampler.accept(-1), InvalidArgument);
}

}  // namespace
