// Attention over the KV cache against the PyTorch goldens of scripts/reference/gen_attention.py
// (float64 softmax with explicit masks): MHA, GQA, MQA, causal and not, sliding windows
// (also on a rolling cache that wraps around), ALiBi, biased q/k/v/o projections, prompts
// fed in one block, token by token and in mixed blocks, truncation, and the AVX2 block
// arithmetic against its scalar twin. Tolerance: 1e-5 relative (fp32).
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "llmpp/core/thread_pool.hpp"
#include "llmpp/kernels/linear.hpp"
#include "llmpp/layers/alibi.hpp"
#include "llmpp/layers/attention.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

constexpr float kTolerance = 1e-5f;

// The shapes and inputs of one golden: q (n_tokens, n_heads, head_dim) and k, v (n_tokens,
// n_kv_heads, head_dim).
struct Case {
  int n_tokens = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  std::vector<float> q, k, v;

  AttentionParams params() const {
    AttentionParams p;
    p.n_heads = n_heads;
    p.n_kv_heads = n_kv_heads;
    p.head_dim = head_dim;
    return p;
  }
  int64_t q_dim() const { return int64_t{n_heads} * head_dim; }
  int64_t kv_dim() const { return int64_t{n_kv_heads} * head_dim; }
};

int meta_int(const test::Golden& golden, const std::string& key) { return std::stoi(golden.metadata().at(key)); }

Case load_case(const test::Golden& golden) {
  Case c;
  c.n_tokens = meta_int(golden, "n_tokens");
  c.n_heads = meta_int(golden, "n_heads");
  c.n_kv_heads = meta_int(golden, "n_kv_heads");
  c.head_dim = meta_int(golden, "head_dim");
  if (golden.has("q")) {
    c.q = golden.f32("q");
    c.k = golden.f32("k");
    c.v = golden.f32("v");
  }
  return c;
}

// Feeds the case's tokens from cache.n_past() on through `cache` (into `layer`), in blocks
// whose sizes cycle through block_sizes, and writes each block's attention into out
// (n_tokens, n_heads * head_dim).
template <typename Ops = DefaultAttentionOps>
void feed(const Case& c, const AttentionParams& p, const std::vector<int>& block_sizes, KVCache& cache,
          std::vector<float>& out, ThreadPool* pool = nullptr, int layer = 0) {
  out.resize(static_cast<size_t>(c.n_tokens * c.q_dim()));
  size_t block = 0;
  for (int64_t pos = cache.n_past(); pos < c.n_tokens;) {
    const int64_t n = std::min<int64_t>(block_sizes[block++ % block_sizes.size()], c.n_tokens - pos);
    cache.store(layer, c.k.data() + pos * c.kv_dim(), c.v.data() + pos * c.kv_dim(), n);
    attention_with<Ops>(p, c.q.data() + pos * c.q_dim(), n, pos, cache, layer, out.data() + pos * c.q_dim(), pool);
    cache.commit(n);
    pos += n;
  }
}

std::vector<float> run(const Case& c, const AttentionParams& p, const std::vector<int>& block_sizes,
                       int sliding_window_cache = 0, int max_block = 512) {
  KVCache cache(1, c.n_kv_heads, c.head_dim, c.n_tokens, sliding_window_cache, max_block);
  std::vector<float> out;
  feed(c, p, block_sizes, cache, out);
  return out;
}

// One block, token by token, and mixed blocks all match the golden and each other.
void check_block_schedules(const Case& c, const AttentionParams& p, const std::vector<float>& expected,
                           const std::string& label) {
  const std::vector<float> one_block = run(c, p, {c.n_tokens});
  const std::vector<float> token_by_token = run(c, p, {1});
  const std::vector<float> mixed = run(c, p, {3, 1, 7, 33, 2});
  test::expect_close(one_block, expected, kTolerance, label + " one block");
  test::expect_close(token_by_token, expected, kTolerance, label + " token by token");
  test::expect_close(mixed, expected, kTolerance, label + " mixed blocks");
  test::expect_close(token_by_token, one_block, kTolerance, label + " token by token vs one block");
}

TEST(Attention, MultiHeadCausal) {
  const test::Golden golden("attention_mha");
  const Case c = load_case(golden);
  check_block_schedules(c, c.params(), golden.f32("expected"), "mha");
}

TEST(Attention, GroupedQueryCausal) {
  const test::Golden golden("attention_gqa");
  const Case c = load_case(golden);
  check_block_schedules(c, c.params(), golden.f32("expected"), "gqa");
}

TEST(Attention, MultiQueryCausal) {
  const test::Golden golden("attention_mqa");  // head_dim 20: exercises the non-multiple-of-8 tails
  const Case c = load_case(golden);
  check_block_schedules(c, c.params(), golden.f32("expected"), "mqa");
}

TEST(Attention, NonCausalAndExplicitScale) {
  for (const char* name : {"attention_mha", "attention_gqa", "attention_mqa"}) {
    const test::Golden golden(name);
    const Case c = load_case(golden);
    AttentionParams p = c.params();
    p.causal = false;
    test::expect_close(run(c, p, {c.n_tokens}), golden.f32("expected_noncausal"), kTolerance,
                       std::string(name) + " non-causal");
    p = c.params();
    p.scale = std::stof(golden.metadata().at("scale"));
    check_block_schedules(c, p, golden.f32("expected_scale"), std::string(name) + " scale");
  }
}

TEST(Attention, WorksOnAnyLayerOfTheCache) {
  const test::Golden golden("attention_gqa");
  const Case c = load_case(golden);
  KVCache cache(3, c.n_kv_heads, c.head_dim, c.n_tokens);
  // Other layers hold different keys: reading the wrong layer would show.
  const std::vector<float> noise(static_cast<size_t>(c.n_tokens * c.kv_dim()), 5.0f);
  cache.store(0, noise.data(), noise.data(), c.n_tokens);
  cache.store(2, noise.data(), noise.data(), c.n_tokens);
  std::vector<float> out;
  feed(c, c.params(), {c.n_tokens}, cache, out, nullptr, 1);
  test::expect_close(out, golden.f32("expected"), kTolerance, "layer 1");
}

TEST(Attention, SlidingWindowFullCache) {
  const test::Golden golden("attention_window");
  const Case c = load_case(golden);
  AttentionParams p = c.params();
  p.sliding_window = meta_int(golden, "sliding_window");
  check_block_schedules(c, p, golden.f32("expected"), "window");
  p.causal = false;
  test::expect_close(run(c, p, {c.n_tokens}), golden.f32("expected_noncausal"), kTolerance, "window non-causal");
}

TEST(Attention, SlidingWindowRollingCacheWrapsAround) {
  const test::Golden golden("attention_window");  // window 8, 40 tokens
  const Case c = load_case(golden);
  AttentionParams p = c.params();
  p.sliding_window = meta_int(golden, "sliding_window");
  const std::vector<float> expected = golden.f32("expected");
  for (int max_block : {1, 3, 8}) {
    KVCache cache(1, c.n_kv_heads, c.head_dim, c.n_tokens, p.sliding_window, max_block);
    EXPECT_EQ(cache.capacity(), p.sliding_window + max_block - 1);
    std::vector<float> out;
    feed(c, p, {max_block, 1, max_block, std::min(2, max_block)}, cache, out);
    test::expect_close(out, expected, kTolerance, "rolling, max_block " + std::to_string(max_block));
  }
}

TEST(Attention, AlibiBias) {
  for (const char* name : {"alibi_8", "alibi_12"}) {  // 12 heads: non-power of 2, and GQA (4 KV heads)
    const test::Golden golden(name);
    const Case c = load_case(golden);
    const std::vector<float> slopes = alibi_slopes(c.n_heads);
    AttentionParams p = c.params();
    p.alibi_slopes = slopes.data();
    check_block_schedules(c, p, golden.f32("expected"), name);
  }
}

// A whole attention block with q/k/v/o biases, composed from kernels::matmul and bias adds.
TEST(Attention, BiasedProjections) {
  const test::Golden golden("attention_bias");
  const Case c = load_case(golden);
  const int dim = meta_int(golden, "dim");
  const std::vector<float> x = golden.f32("x");  // (n_tokens, dim)
  auto project = [&](const char* weight, const char* bias, int64_t n_in, const std::vector<float>& input) {
    const std::vector<float> w = golden.f32(weight), b = golden.f32(bias);
    const int64_t n_out = static_cast<int64_t>(b.size());
    std::vector<float> y(static_cast<size_t>(c.n_tokens * n_out));  // (n_tokens, n_out)
    kernels::matmul(make_f32_view(w.data(), n_out, n_in), input.data(), c.n_tokens, y.data());
    for (int64_t t = 0; t < c.n_tokens; ++t)
      for (int64_t i = 0; i < n_out; ++i) y[static_cast<size_t>(t * n_out + i)] += b[static_cast<size_t>(i)];
    return y;
  };
  Case projected = c;
  projected.q = project("wq", "bq", dim, x);
  projected.k = project("wk", "bk", dim, x);
  projected.v = project("wv", "bv", dim, x);
  for (const std::vector<int>& blocks : {std::vector<int>{c.n_tokens}, std::vector<int>{1}, std::vector<int>{5, 2}}) {
    const std::vector<float> attended = run(projected, c.params(), blocks);  // (n_tokens, n_heads * head_dim)
    test::expect_close(project("wo", "bo", c.q_dim(), attended), golden.f32("expected"), kTolerance,
                       "q/k/v/o biases, first block " + std::to_string(blocks[0]));
  }
}

TEST(Attention, TruncateThenRefeed) {
  const test::Golden golden("attention_gqa");
  const Case c = load_case(golden);
  const std::vector<float> expected = golden.f32("expected");
  KVCache cache(1, c.n_kv_heads, c.head_dim, c.n_tokens);
  std::vector<float> out;
  feed(c, c.params(), {30}, cache, out);
  cache.truncate(20);
  EXPECT_EQ(cache.n_past(), 20);
  std::fill(out.begin(), out.end(), 0.0f);
  feed(c, c.params(), {4, 1}, cache, out);
  const size_t from = static_cast<size_t>(20 * c.q_dim());
  test::expect_close(std::vector<float>(out.begin() + from, out.end()),
                     std::vector<float>(expected.begin() + from, expected.end()), kTolerance, "re-fed");
}

TEST(Attention, TruncateRollingCache) {
  const test::Golden golden("attention_window");  // window 8
  const Case c = load_case(golden);
  AttentionParams p = c.params();
  p.sliding_window = meta_int(golden, "sliding_window");
  const std::vector<float> expected = golden.f32("expected");
  KVCache cache(1, c.n_kv_heads, c.head_dim, c.n_tokens, p.sliding_window, 4);  // capacity 11
  std::vector<float> out;
  feed(c, p, {4}, cache, out);  // 40 tokens: positions 29 .. 39 are still held
  EXPECT_THROW(cache.truncate(30), LimitError);  // the next query would need position 23
  cache.truncate(36);  // needs 29 .. 35: still there
  std::fill(out.begin(), out.end(), 0.0f);
  feed(c, p, {3}, cache, out);
  const size_t from = static_cast<size_t>(36 * c.q_dim());
  test::expect_close(std::vector<float>(out.begin() + from, out.end()),
                     std::vector<float>(expected.begin() + from, expected.end()), kTolerance, "rolling re-fed");
}

// An F16 cache against the reference run on K and V rounded to half, so the kernel's own
// error is still held to 1e-5.
TEST(Attention, HalfPrecisionCache) {
  for (const char* name : {"attention_gqa", "attention_mqa", "attention_window"}) {
    const test::Golden golden(name);
    const Case c = load_case(golden);
    AttentionParams p = c.params();
    const int window = golden.metadata().count("sliding_window") ? meta_int(golden, "sliding_window") : 0;
    p.sliding_window = window;
    // With the window, a rolling cache (capacity 15) that wraps around.
    for (const std::vector<int>& blocks : {std::vector<int>{8}, std::vector<int>{1}, std::vector<int>{3, 5}}) {
      KVCache cache(1, c.n_kv_heads, c.head_dim, c.n_tokens, window, 8, DType::F16);
      std::vector<float> out;
      feed(c, p, blocks, cache, out);
      test::expect_close(out, golden.f32("expected_f16kv"), kTolerance,
                         std::string(name) + " F16 cache, first block " + std::to_string(blocks[0]));
    }
  }
}

TEST(Attention, ThreadPoolMatchesSerial) {
  ThreadPool pool(2);
  for (const char* name : {"attention_mha", "attention_gqa", "attention_mqa"}) {
    const test::Golden golden(name);
    const Case c = load_case(golden);
    for (const std::vector<int>& blocks : {std::vector<int>{c.n_tokens}, std::vector<int>{1}}) {
      KVCache cache(1, c.n_kv_heads, c.head_dim, c.n_tokens);
      std::vector<float> out;
      feed(c, c.params(), blocks, cache, out, &pool);
      test::expect_close(out, golden.f32("expected"), kTolerance, std::string(name) + " with 2 threads");
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
// SIMD block arithmetic against its scalar twin at a real model's shape (32 query heads, 8 KV
// heads, head_dim 128; and head_dim 80, which the AVX-512 ops take in 64 + 16 dimensions): a
// prompt and decode steps, plus ALiBi and a window. Other head counts give decode blocks of
// 1, 3 or 8 query rows (rows go in pairs, then one; the AVX-512 ops widen fp32 at 8).
template <typename Ops>
void expect_matches_scalar(int head_dim, int n_heads = 32, int n_kv_heads = 8) {
  SCOPED_TRACE("head_dim " + std::to_string(head_dim) + ", " + std::to_string(n_heads) + " heads, " +
               std::to_string(n_kv_heads) + " KV heads");
  const int n_tokens = 75;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  auto random = [&](size_t n) {
    std::vector<float> x(n);
    for (float& e : x) e = normal(rng);
    return x;
  };
  const std::vector<float> q = random(size_t{n_tokens} * n_heads * head_dim);
  const std::vector<float> k = random(size_t{n_tokens} * n_kv_heads * head_dim);
  const std::vector<float> v = random(size_t{n_tokens} * n_kv_heads * head_dim);
  const std::vector<float> slopes = alibi_slopes(n_heads);
  for (DType type : {DType::F32, DType::F16}) {
  SCOPED_TRACE(dtype_name(type));
  KVCache cache(1, n_kv_heads, head_dim, n_tokens, 0, 512, type);
  const int prompt = 70;
  cache.store(0, k.data(), v.data(), prompt);
  for (int variant = 0; variant < 3; ++variant) {
    AttentionParams p;
    p.n_heads = n_heads;
    p.n_kv_heads = n_kv_heads;
    p.head_dim = head_dim;
    if (variant == 1) p.alibi_slopes = slopes.data();
    if (variant == 2) p.sliding_window = 19;
    std::vector<float> simd(size_t{prompt} * n_heads * head_dim), scalar(simd.size());
    attention_with<Ops>(p, q.data(), prompt, 0, cache, 0, simd.data());
    attention_with<kernels::scalar::AttentionOps>(p, q.data(), prompt, 0, cache, 0, scalar.data());
    test::expect_close(simd, scalar, kTolerance, "prefill, variant " + std::to_string(variant));
  }
  cache.commit(prompt);
  for (int64_t pos = prompt; pos < n_tokens; ++pos) {
    cache.store(0, k.data() + pos * n_kv_heads * head_dim, v.data() + pos * n_kv_heads * head_dim, 1);
    AttentionParams p;
    p.n_heads = n_heads;
    p.n_kv_heads = n_kv_heads;
    p.head_dim = head_dim;
    std::vector<float> simd(static_cast<size_t>(n_heads) * head_dim), scalar(simd.size());
    const float* q_pos = q.data() + pos * n_heads * head_dim;
    attention_with<Ops>(p, q_pos, 1, pos, cache, 0, simd.data());
    attention_with<kernels::scalar::AttentionOps>(p, q_pos, 1, pos, cache, 0, scalar.data());
    test::expect_close(simd, scalar, kTolerance, "decode at " + std::to_string(pos));
    cache.commit(1);
  }
  }
}

TEST(Attention, Avx2MatchesScalar) {
  expect_matches_scalar<kernels::avx2::AttentionOps>(128);
  expect_matches_scalar<kernels::avx2::AttentionOps>(80);
  expect_matches_scalar<kernels::avx2::AttentionOps>(64, 12, 4);
  expect_matches_scalar<kernels::avx2::AttentionOps>(64, 8, 8);
  expect_matches_scalar<kernels::avx2::AttentionOps>(64, 32, 4);
}

#if defined(LLMPP_AVX512_ATTENTION)
TEST(Attention, Avx512MatchesScalar) {
  expect_matches_scalar<kernels::avx512::AttentionOps>(128);
  expect_matches_scalar<kernels::avx512::AttentionOps>(80);
  expect_matches_scalar<kernels::avx512::AttentionOps>(64, 12, 4);
  expect_matches_scalar<kernels::avx512::AttentionOps>(64, 8, 8);
  expect_matches_scalar<kernels::avx512::AttentionOps>(64, 32, 4);
}
#endif

// The vector maximum against std::max_element at every length a key block can have (tails of
// 1-7 after groups of 8), the maximum at each position in turn, and rows masked to -inf.
TEST(Attention, Avx2MaxOfMatchesMaxElement) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (int n = 1; n <= 40; ++n) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& e : x) e = normal(rng);
    for (int at = 0; at < n; ++at) {
      std::vector<float> y = x;
      y[static_cast<size_t>(at)] = 10.0f;
      EXPECT_EQ(kernels::avx2::AttentionOps::max_of(y.data(), n), 10.0f) << "n " << n << ", at " << at;
      EXPECT_EQ(kernels::scalar::AttentionOps::max_of(y.data(), n), 10.0f) << "n " << n << ", at " << at;
    }
    std::vector<float> masked(static_cast<size_t>(n), kNegInf);
    EXPECT_EQ(kernels::avx2::AttentionOps::max_of(masked.data(), n), kNegInf) << "n " << n;
    masked.back() = -3.5f;
    EXPECT_EQ(kernels::avx2::AttentionOps::max_of(masked.data(), n), -3.5f) << "n " << n;
  }
}

// The vector exp against std::exp over the range the softmax uses (x - max <= 0).
TEST(Attention, Avx2ExpIsAccurate) {
  std::vector<float> x, expected;
  for (float e = -100.0f; e <= 0.0f; e += 0.013f) x.push_back(e);
  x.push_back(-std::numeric_limits<float>::infinity());
  for (float e : x) expected.push_back(std::exp(e));
  std::vector<float> got = x;
  kernels::avx2::AttentionOps::exp_sum(got.data(), static_cast<int>(got.size()), 0.0f);
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 2e-7f * expected[i] + 1e-37f) << "exp(" << x[i] << ")";
}
#endif

TEST(Attention, RejectsBadArguments) {
  const test::Golden golden("attention_mha");
  const Case c = load_case(golden);
  KVCache cache(1, c.n_kv_heads, c.head_dim, c.n_tokens);
  std::vector<float> out(static_cast<size_t>(c.n_tokens * c.q_dim()));
  // Nothing stored yet.
  EXPECT_THROW(attention(c.params(), c.q.data(), 1, 0, cache, 0, out.data()), InvalidArgument);
  cache.store(0, c.k.data(), c.v.data(), 4);
  AttentionParams p = c.params();
  p.n_kv_heads = 3;  // does not divide 4 heads
  EXPECT_THROW(attention(p, c.q.data(), 4, 0, cache, 0, out.data()), InvalidArgument);
  p = c.params();
  p.head_dim = 8;  // not the cache's
  EXPECT_THROW(attention(p, c.q.data(), 4, 0, cache, 0, out.data()), InvalidArgument);
  EXPECT_THROW(attention(c.params(), c.q.data(), 4, 0, cache, 1, out.data()), InvalidArgument);  // no layer 1

  KVCache rolling(1, c.n_kv_heads, c.head_dim, c.n_tokens, 4, 2);
  rolling.store(0, c.k.data(), c.v.data(), 2);
  EXPECT_THROW(attention(c.params(), c.q.data(), 2, 0, rolling, 0, out.data()), InvalidArgument);  // no window
}

TEST(Attention, ContextOverflowIsLimitError) {
  const test::Golden golden("attention_mha");  // 24 tokens
  const Case c = load_case(golden);
  KVCache cache(1, c.n_kv_heads, c.head_dim, 16);
  std::vector<float> out;
  EXPECT_THROW(feed(c, c.params(), {5}, cache, out), LimitError);
  EXPECT_EQ(cache.n_past(), 15);  // the blocks that fitted were kept
}

}  // namespace
}  // namespace llmpp::layers
