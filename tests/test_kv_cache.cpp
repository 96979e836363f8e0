// The KV cache's bookkeeping: layout (K/V of a token land in its slot of every KV head),
// the rolling slot rule of sliding-window caches, memory bounds, and the limits of store,
// commit and truncate. Expected values follow from the inputs, so no golden is needed;
// attention through the cache is checked against PyTorch in test_attention.cpp.
#include <vector>

#include "llmpp/core/fp16.hpp"
#include "llmpp/layers/kv_cache.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

// K of token t, head h, dimension d is 1000 t + 10 h + d (V the negative), so every element
// says where it came from. Returns (n_tokens, n_kv_heads * head_dim).
std::vector<float> tagged(int64_t first_token, int64_t n_tokens, int n_kv_heads, int head_dim, float sign) {
  std::vector<float> x;
  for (int64_t t = first_token; t < first_token + n_tokens; ++t)
    for (int h = 0; h < n_kv_heads; ++h)
      for (int d = 0; d < head_dim; ++d) x.push_back(sign * static_cast<float>(1000 * t + 10 * h + d));
  return x;
}

void store_tagged(KVCache& cache, int layer, int64_t n_tokens) {
  const int64_t first = cache.n_past();
  const auto k = tagged(first, n_tokens, cache.n_kv_heads(), cache.head_dim(), 1.0f);
  const auto v = tagged(first, n_tokens, cache.n_kv_heads(), cache.head_dim(), -1.0f);
  cache.store(layer, k.data(), v.data(), n_tokens);
}

void expect_holds(const KVCache& cache, int layer, int64_t position) {
  const int64_t s = cache.slot(position);
  for (int h = 0; h < cache.n_kv_heads(); ++h) {
    for (int d = 0; d < cache.head_dim(); ++d) {
      const float tag = static_cast<float>(1000 * position + 10 * h + d);
      EXPECT_EQ(cache.keys(layer, h)[s * cache.head_dim() + d], tag) << "position " << position;
      EXPECT_EQ(cache.values(layer, h)[s * cache.head_dim() + d], -tag) << "position " << position;
    }
  }
}

TEST(KVCache, CapacityAndBytes) {
  const KVCache full(2, 4, 8, 100);
  EXPECT_EQ(full.capacity(), 100);
  EXPECT_FALSE(full.rolling());
  EXPECT_EQ(full.bytes(), uint64_t{2} * 2 * 4 * 100 * 8 * sizeof(float));  // K and V, 2 layers
  const KVCache rolling(2, 4, 8, 100, 16, 8);
  EXPECT_EQ(rolling.capacity(), 16 + 8 - 1);  // bounded by the window, not the context
  EXPECT_EQ(rolling.bytes(), uint64_t{2} * 2 * 4 * 23 * 8 * sizeof(float));
  EXPECT_EQ(KVCache(1, 1, 8, 20, 16, 8).capacity(), 20);  // never more than n_ctx
}

TEST(KVCache, StoresEveryHeadOfEveryLayer) {
  KVCache cache(2, 3, 5, 10);
  store_tagged(cache, 0, 4);
  store_tagged(cache, 1, 4);
  EXPECT_EQ(cache.n_past(), 0);  // stored, not committed
  EXPECT_EQ(cache.n_stored(0), 4);
  cache.commit(4);
  store_tagged(cache, 1, 3);
  EXPECT_EQ(cache.n_stored(1), 7);
  EXPECT_EQ(cache.n_stored(0), 4);
  for (int64_t pos = 0; pos < 7; ++pos) expect_holds(cache, 1, pos);
  for (int64_t pos = 0; pos < 4; ++pos) expect_holds(cache, 0, pos);
}

TEST(KVCache, RollingCacheWrapsAround) {
  KVCache cache(1, 2, 4, 100, 5, 3);  // capacity 7
  ASSERT_EQ(cache.capacity(), 7);
  for (int block : {3, 2, 3, 1, 3, 3}) {  // 15 tokens
    store_tagged(cache, 0, block);
    cache.commit(block);
  }
  EXPECT_EQ(cache.first_valid(), 15 - 7);
  for (int64_t pos = 8; pos < 15; ++pos) expect_holds(cache, 0, pos);
  EXPECT_THROW(store_tagged(cache, 0, 4), LimitError);  // more than max_block
}

TEST(KVCache, ContextOverflowIsLimitError) {
  KVCache cache(1, 1, 4, 8);
  store_tagged(cache, 0, 6);
  cache.commit(6);
  EXPECT_THROW(store_tagged(cache, 0, 3), LimitError);
  EXPECT_THROW(cache.commit(3), LimitError);
  store_tagged(cache, 0, 2);
  cache.commit(2);
  EXPECT_EQ(cache.n_past(), 8);
  EXPECT_THROW(store_tagged(cache, 0, 1), LimitError);
}

TEST(KVCache, TruncateAndClear) {
  KVCache cache(1, 2, 4, 32);
  store_tagged(cache, 0, 20);
  cache.commit(20);
  EXPECT_THROW(cache.truncate(21), InvalidArgument);
  EXPECT_THROW(cache.truncate(-1), InvalidArgument);
  cache.truncate(5);  // a full cache keeps everything: any truncation is fine
  EXPECT_EQ(cache.n_past(), 5);
  EXPECT_EQ(cache.n_stored(0), 5);
  store_tagged(cache, 0, 3);
  cache.commit(3);
  for (int64_t pos = 0; pos < 8; ++pos) expect_holds(cache, 0, pos);
  cache.clear();
  EXPECT_EQ(cache.n_past(), 0);
  EXPECT_EQ(cache.n_stored(0), 0);
}

TEST(KVCache, TruncateRollingOnlyWhileTheWindowIsKept) {
  KVCache cache(1, 1, 4, 100, 4, 2);  // window 4, capacity 5
  for (int i = 0; i < 10; ++i) {
    store_tagged(cache, 0, 1);
    cache.commit(1);
  }
  // Positions 5 .. 9 are held. Position n needs n - 3 .. n - 1.
  EXPECT_THROW(cache.truncate(7), LimitError);
  cache.truncate(8);
  EXPECT_EQ(cache.n_past(), 8);
  cache.clear();  // a cleared cache may start over
  EXPECT_EQ(cache.first_valid(), 0);
  store_tagged(cache, 0, 2);
  cache.commit(2);
  cache.truncate(1);
  expect_holds(cache, 0, 0);
}

TEST(KVCache, HalfPrecisionElements) {
  KVCache cache(1, 2, 8, 4, 0, 512, DType::F16);
  EXPECT_EQ(cache.type(), DType::F16);
  EXPECT_EQ(cache.bytes(), uint64_t{2} * 2 * 4 * 8 * 2);  // half the bytes of fp32
  std::vector<float> k(2 * 8), v(2 * 8);  // one token, (n_kv_heads * head_dim)
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = 1.0f + static_cast<float>(i) * 0.0001f;  // not representable: rounds
    v[i] = -1000.0f * static_cast<float>(i) - 0.3f;
  }
  cache.store(0, k.data(), v.data(), 1);
  for (int h = 0; h < 2; ++h) {
    for (int d = 0; d < 8; ++d) {
      const size_t i = static_cast<size_t>(h * 8 + d);
      EXPECT_EQ(cache.keys<uint16_t>(0, h)[d], fp32_to_fp16(k[i])) << i;  // round to nearest even
      EXPECT_EQ(cache.values<uint16_t>(0, h)[d], fp32_to_fp16(v[i])) << i;
    }
  }
  EXPECT_THROW(cache.keys<float>(0, 0), InvalidArgument);  // the element type must match
  EXPECT_THROW(KVCache(1, 1, 8, 4).keys<uint16_t>(0, 0), InvalidArgument);
  EXPECT_THROW(KVCache(1, 1, 8, 4, 0, 512, DType::Q4_0), InvalidArgument);
}

TEST(KVCache, RejectsBadArguments) {
  EXPECT_THROW(KVCache(0, 1, 4, 8), InvalidArgument);
  EXPECT_THROW(KVCache(1, 0, 4, 8), InvalidArgument);
  EXPECT_THROW(KVCache(1, 1, 0, 8), InvalidArgument);
  EXPECT_THROW(KVCache(1, 1, 4, 0), InvalidArgument);
  EXPECT_THROW(KVCache(1, 1, 4, 8, -1), InvalidArgument);
  EXPECT_THROW(KVCache(1, 1, 4, 8, 4, 0), InvalidArgument);
  EXPECT_THROW(KVCache(1 << 30, 1 << 30, 1 << 30, 1 << 30), OverflowError);
  KVCache cache(2, 1, 4, 8);
  EXPECT_THROW(store_tagged(cache, 2, 1), InvalidArgument);
  EXPECT_THROW(store_tagged(cache, -1, 1), InvalidArgument);
  EXPECT_THROW(cache.commit(-1), InvalidArgument);
}

}  // namespace
}  // namespace llmpp::layers
