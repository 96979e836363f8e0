// Attention over an fp32 KV cache at a Llama-3-8B-like shape: 32 query heads, 8 KV heads,
// head_dim 128.
//  - Decode: one token attending to 512 or 4096 cached tokens. The figure is bytes of K/V
//    read per second and its ratio to the machine's read bandwidth (bench::measure_read_bandwidth,
//    same run, same thread count); f16:1 is the same with an F16 cache (half the bytes). Each
//    call takes the next of enough layers' caches (256 MiB in all) that they come from memory,
//    as in a model's decode step, not from the L3 cache. shape:1 is TinyLlama's: 32 query
//    heads over 4 KV heads at head_dim 64, twice the arithmetic per cache byte (8 query rows
//    per key instead of 4), where the arithmetic rather than the read sets the pace.
//  - Prefill: 512 tokens attending causally to themselves, in GFLOP/s and as a ratio to the
//    FMA peak (bench::measure_fma_peak).
// Run: bench_attention --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "bench_util.hpp"
#include "llmpp/core/dtype.hpp"
#include "llmpp/layers/attention.hpp"

namespace {

using llmpp::ThreadPool;
using llmpp::layers::AttentionParams;
using llmpp::layers::KVCache;

constexpr int kHeads = 32, kKvHeads = 8, kHeadDim = 128;

// A decode case's head layout: the default above, or TinyLlama's (shape:1).
struct Shape {
  int n_heads, n_kv_heads, head_dim;
};
constexpr Shape kShapes[] = {{kHeads, kKvHeads, kHeadDim}, {32, 4, 64}};

ThreadPool& pool_of(int n_threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& pool = pools[n_threads];
  if (!pool) pool = std::make_unique<ThreadPool>(n_threads);
  return *pool;
}

// Ceilings are measured once per thread count and reused by every benchmark.
double read_bandwidth(int n_threads) {
  static std::map<int, double> measured;
  auto it = measured.find(n_threads);
  if (it == measured.end()) it = measured.emplace(n_threads, llmpp::bench::measure_read_bandwidth(pool_of(n_threads))).first;
  return it->second;
}
double fma_peak(int n_threads) {
  static std::map<int, double> measured;
  auto it = measured.find(n_threads);
  if (it == measured.end()) it = measured.emplace(n_threads, llmpp::bench::measure_fma_peak(pool_of(n_threads))).first;
  return it->second;
}

std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> x(n);
  for (float& e : x) e = normal(rng);
  return x;
}

AttentionParams params(const Shape& shape = kShapes[0]) {
  AttentionParams p;
  p.n_heads = shape.n_heads;
  p.n_kv_heads = shape.n_kv_heads;
  p.head_dim = shape.head_dim;
  return p;
}

// A cache of n_layers layers, each holding the same n_tokens random tokens, stored but not
// committed.
KVCache filled_cache(int64_t n_tokens, llmpp::DType type = llmpp::DType::F32, int n_layers = 1,
                     const Shape& shape = kShapes[0]) {
  KVCache cache(n_layers, shape.n_kv_heads, shape.head_dim, static_cast<int>(n_tokens), 0, static_cast<int>(n_tokens),
                type);
  const size_t n = static_cast<size_t>(n_tokens) * shape.n_kv_heads * shape.head_dim;
  const std::vector<float> k = random_vector(n, 1);
  const std::vector<float> v = random_vector(n, 2);
  for (int layer = 0; layer < n_layers; ++layer) cache.store(layer, k.data(), v.data(), n_tokens);
  return cache;
}

// args: context length, threads, F16 cache (0: fp32), shape (index into kShapes)
void BM_DecodeAttention(benchmark::State& state) {
  const int64_t n_ctx = state.range(0);
  const int n_threads = static_cast<int>(state.range(1));
  const double bandwidth = read_bandwidth(n_threads);
  ThreadPool& pool = pool_of(n_threads);
  const llmpp::DType type = state.range(2) ? llmpp::DType::F16 : llmpp::DType::F32;
  const Shape& shape = kShapes[state.range(3)];
  const double kv_bytes = 2.0 * shape.n_kv_heads * static_cast<double>(n_ctx) * shape.head_dim *
                          llmpp::dtype_traits(type).block_bytes;
  const int n_layers = static_cast<int>(std::ceil(256.0 * (1 << 20) / kv_bytes));
  const KVCache cache = filled_cache(n_ctx, type, n_layers, shape);
  const std::vector<float> q = random_vector(static_cast<size_t>(shape.n_heads) * shape.head_dim, 3);  // (1, n_heads, head_dim)
  std::vector<float> out(q.size());
  const AttentionParams p = params(shape);
  int layer = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    llmpp::layers::attention(p, q.data(), 1, n_ctx - 1, cache, layer, out.data(), &pool);
    benchmark::DoNotOptimize(out.data());
    layer = (layer + 1) % n_layers;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double kv_bytes_per_second = kv_bytes * static_cast<double>(state.iterations()) / seconds;
  state.counters["kv_GB/s"] = kv_bytes_per_second / 1e9;
  state.counters["read_bw_GB/s"] = bandwidth / 1e9;
  state.counters["of_bw"] = kv_bytes_per_second / bandwidth;
}

// args: prompt length, threads
void BM_PrefillAttention(benchmark::State& state) {
  const int64_t n_tokens = state.range(0);
  const int n_threads = static_cast<int>(state.range(1));
  const double peak = fma_peak(n_threads);
  ThreadPool& pool = pool_of(n_threads);
  const KVCache cache = filled_cache(n_tokens);
  const std::vector<float> q = random_vector(static_cast<size_t>(n_tokens) * kHeads * kHeadDim, 3);
  std::vector<float> out(q.size());
  const AttentionParams p = params();
  // Causal: n (n + 1) / 2 query-key pairs per head, 2 FLOPs per dimension for q·k and 2 for p v.
  const double flops = 4.0 * kHeads * kHeadDim * static_cast<double>(n_tokens) * static_cast<double>(n_tokens + 1) / 2;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    llmpp::layers::attention(p, q.data(), n_tokens, 0, cache, 0, out.data(), &pool);
    benchmark::DoNotOptimize(out.data());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops_per_second = flops * static_cast<double>(state.iterations()) / seconds;
  state.counters["GFLOP/s"] = flops_per_second / 1e9;
  state.counters["peak_GFLOP/s"] = peak / 1e9;
  state.counters["of_peak"] = flops_per_second / peak;
}

BENCHMARK(BM_DecodeAttention)->ArgNames({"ctx", "threads", "f16", "shape"})->ArgsProduct({{512, 4096}, {1, 2}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_PrefillAttention)->ArgNames({"tokens", "threads"})->ArgsProduct({{512}, {1, 2}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
