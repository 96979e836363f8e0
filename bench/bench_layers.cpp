// Throughput of the transformer building blocks at TinyLlama-1.1B (dim 2048, FFN 5632, 32
// heads of 64, 4 KV heads) and Llama-2-7B (dim 4096, FFN 11008, 32 heads of 128) sizes, for
// one token (decode) and a 64-token block (prefill).
//
// Counters: GB/s is the bytes a block must move (weights read for the FFN and MoE; the
// activations read and written for the element-wise blocks), GFLOP/s the arithmetic of
// the matrix products; of_read_bw and of_fma_peak divide them by the machine's read
// bandwidth and FP32 FMA peak, measured at start-up with the same thread pool
// (bench_util.hpp). The element-wise blocks' data fit in the caches, so their of_read_bw
// can exceed 1: it says how far they are from costing as much as a DRAM stream, not a
// bound. Weights are F32. For MoE, the 8 experts view one shared set of FFN
// weights (a Mixtral layer would not fit the memory budget of this machine); the set is
// far larger than the last-level cache, so each expert a token uses is still streamed
// from memory, and weights read counts the chosen experts once each per call.
//
// Run: cmake --build <build> --target bench_layers && <build>/bench/bench_layers
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "llmpp/layers/embedding.hpp"
#include "llmpp/layers/feed_forward.hpp"
#include "llmpp/layers/moe.hpp"
#include "llmpp/layers/norm.hpp"
#include "llmpp/layers/positions.hpp"
#include "llmpp/layers/rope.hpp"

namespace llmpp {
namespace {

struct ModelSize {
  const char* name;
  int dim, ffn_dim, n_heads, n_kv_heads, head_dim;
};
const ModelSize kSizes[] = {{"tinyllama", 2048, 5632, 32, 4, 64}, {"llama2_7b", 4096, 11008, 32, 32, 128}};
const int kTokenCounts[] = {1, 64};
constexpr int kExperts = 8, kTopK = 2;
constexpr int kEmbeddingRows = 4096;  // a slice of the vocabulary: the gather cost does not depend on n_vocab

struct Ceilings {
  double read_bytes_per_second = 0, flops_per_second = 0;
};
Ceilings g_ceilings;
ThreadPool& pool() {
  static ThreadPool instance;
  return instance;
}

// Deterministic values in [-0.5, 0.5) scaled by `scale`; the numbers do not matter for timing.
void fill(std::vector<float>& v, float scale) {
  uint32_t state = 12345;
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(state >> 8) / 16777216.0f - 0.5f);
  }
}

// One model size's FFN weights, kept while the benchmarks of that size run (they are
// registered size by size), so that a 541 MB Llama-2-7B set is built once.
struct FfnWeights {
  int dim = 0;
  std::vector<float> gate, up, down;  // (ffn_dim, dim), (ffn_dim, dim), (dim, ffn_dim)
  layers::FeedForwardWeights views;
};
const FfnWeights& ffn_weights(const ModelSize& size) {
  static std::unique_ptr<FfnWeights> cached;
  if (!cached || cached->dim != size.dim) {
    cached.reset();  // free the previous size first
    cached = std::make_unique<FfnWeights>();
    const size_t n = static_cast<size_t>(size.dim) * size.ffn_dim;
    cached->dim = size.dim;
    for (auto* w : {&cached->gate, &cached->up, &cached->down}) {
      w->resize(n);
      fill(*w, 2.0f / std::sqrt(static_cast<float>(size.dim)));
    }
    cached->views.gate = make_f32_view(cached->gate.data(), size.ffn_dim, size.dim, "gate");
    cached->views.up = make_f32_view(cached->up.data(), size.ffn_dim, size.dim, "up");
    cached->views.down = make_f32_view(cached->down.data(), size.dim, size.ffn_dim, "down");
  }
  return *cached;
}

// Runs `body` as the benchmark loop and reports bytes and flops per second against the
// ceilings. Wall-clock time: the pool's threads work while the caller waits.
template <typename Body>
void measure(benchmark::State& state, double bytes_per_call, double flops_per_call, Body&& body) {
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) body();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double calls_per_second = static_cast<double>(state.iterations()) / seconds;
  if (bytes_per_call > 0) {
    state.counters["GB/s"] = bytes_per_call * calls_per_second / 1e9;
    state.counters["of_read_bw"] = bytes_per_call * calls_per_second / g_ceilings.read_bytes_per_second;
  }
  if (flops_per_call > 0) {
    state.counters["GFLOP/s"] = flops_per_call * calls_per_second / 1e9;
    state.counters["of_fma_peak"] = flops_per_call * calls_per_second / g_ceilings.flops_per_second;
  }
}

void bench_rms_norm(benchmark::State& state, ModelSize size, int n_tokens) {
  std::vector<float> x(static_cast<size_t>(n_tokens) * size.dim), weight(size.dim), out(x.size());
  fill(x, 4.0f);
  fill(weight, 1.0f);
  const double bytes = 4.0 * (2.0 * x.size() + weight.size());
  measure(state, bytes, 0, [&] {
    layers::rms_norm(x.data(), weight.data(), n_tokens, size.dim, 1e-5f, false, out.data());
    benchmark::DoNotOptimize(out.data());
  });
}

void bench_layer_norm(benchmark::State& state, ModelSize size, int n_tokens) {
  std::vector<float> x(static_cast<size_t>(n_tokens) * size.dim), weight(size.dim), bias(size.dim), out(x.size());
  fill(x, 4.0f);
  fill(weight, 1.0f);
  fill(bias, 1.0f);
  const double bytes = 4.0 * (2.0 * x.size() + 2.0 * weight.size());
  measure(state, bytes, 0, [&] {
    layers::layer_norm(x.data(), weight.data(), bias.data(), n_tokens, size.dim, 1e-5f, out.data());
    benchmark::DoNotOptimize(out.data());
  });
}

void bench_embedding(benchmark::State& state, ModelSize size, int n_tokens) {
  std::vector<float> table(static_cast<size_t>(kEmbeddingRows) * size.dim), out(static_cast<size_t>(n_tokens) * size.dim);
  fill(table, 1.0f);
  const TensorView view = make_f32_view(table.data(), kEmbeddingRows, size.dim, "token_embd");
  std::vector<int32_t> tokens(static_cast<size_t>(n_tokens));
  for (int t = 0; t < n_tokens; ++t) tokens[static_cast<size_t>(t)] = (t * 977) % kEmbeddingRows;
  measure(state, 4.0 * 2.0 * out.size(), 0, [&] {
    layers::embed_tokens(view, tokens.data(), n_tokens, out.data(), 45.25f);
    benchmark::DoNotOptimize(out.data());
  });
}

// RoPE on one layer's queries and keys, positions 1000.. (cos/sin evaluated per token).
void bench_rope(benchmark::State& state, ModelSize size, int n_tokens) {
  const layers::Rope rope(size.head_dim, size.head_dim, 10000.0f, RopeLayout::half_split);
  std::vector<float> q(static_cast<size_t>(n_tokens) * size.n_heads * size.head_dim);
  std::vector<float> k(static_cast<size_t>(n_tokens) * size.n_kv_heads * size.head_dim);
  fill(q, 1.0f);
  fill(k, 1.0f);
  std::vector<int32_t> positions(static_cast<size_t>(n_tokens));
  for (int t = 0; t < n_tokens; ++t) positions[static_cast<size_t>(t)] = 1000 + t;
  measure(state, 4.0 * 2.0 * static_cast<double>(q.size() + k.size()), 0, [&] {
    rope.apply(q.data(), n_tokens, size.n_heads, positions.data());
    rope.apply(k.data(), n_tokens, size.n_kv_heads, positions.data());
    benchmark::DoNotOptimize(q.data());
  });
}

void bench_sinusoidal(benchmark::State& state, ModelSize size, int n_tokens) {
  std::vector<float> x(static_cast<size_t>(n_tokens) * size.dim);
  std::vector<int32_t> positions(static_cast<size_t>(n_tokens));
  for (int t = 0; t < n_tokens; ++t) positions[static_cast<size_t>(t)] = 1000 + t;
  measure(state, 4.0 * 2.0 * x.size(), 0, [&] {
    layers::add_sinusoidal_positions(x.data(), n_tokens, size.dim, positions.data());
    benchmark::DoNotOptimize(x.data());
  });
}

void bench_ffn(benchmark::State& state, ModelSize size, int n_tokens) {
  const FfnWeights& w = ffn_weights(size);
  std::vector<float> x(static_cast<size_t>(n_tokens) * size.dim), out(x.size());
  fill(x, 2.0f);
  layers::FeedForwardScratch scratch(n_tokens, size.ffn_dim);
  const double weight_bytes = 3.0 * 4.0 * size.dim * size.ffn_dim;
  measure(state, weight_bytes, 2.0 * 3.0 * size.dim * size.ffn_dim * n_tokens, [&] {
    layers::feed_forward(FfnType::gated, Activation::silu, w.views, x.data(), n_tokens, scratch, out.data(), &pool());
    benchmark::DoNotOptimize(out.data());
  });
}

void bench_moe(benchmark::State& state, ModelSize size, int n_tokens) {
  const FfnWeights& w = ffn_weights(size);
  std::vector<float> router(static_cast<size_t>(kExperts) * size.dim);
  fill(router, 1.0f);
  layers::MoeWeights moe;
  moe.router = make_f32_view(router.data(), kExperts, size.dim, "router");
  moe.experts.assign(kExperts, w.views);
  std::vector<float> x(static_cast<size_t>(n_tokens) * size.dim), out(x.size());
  fill(x, 2.0f);
  layers::MoeScratch scratch;
  auto run = [&] {
    layers::moe_forward(moe, kTopK, true, FfnType::gated, Activation::silu, x.data(), n_tokens, scratch, out.data(),
                        &pool());
    benchmark::DoNotOptimize(out.data());
  };
  run();  // routing is the same every call: count the distinct experts it uses
  std::vector<bool> used(kExperts, false);
  for (int i = 0; i < n_tokens * kTopK; ++i) used[static_cast<size_t>(scratch.chosen_expert[static_cast<size_t>(i)])] = true;
  const double n_used = static_cast<double>(std::count(used.begin(), used.end(), true));
  const double expert_bytes = 3.0 * 4.0 * size.dim * size.ffn_dim;
  state.counters["experts_read"] = n_used;
  measure(state, n_used * expert_bytes + 4.0 * router.size(), 2.0 * 3.0 * size.dim * size.ffn_dim * n_tokens * kTopK,
          run);
}

void register_all() {
  using Fn = void (*)(benchmark::State&, ModelSize, int);
  const std::pair<const char*, Fn> blocks[] = {
      {"rms_norm", bench_rms_norm}, {"layer_norm", bench_layer_norm}, {"embedding", bench_embedding},
      {"rope", bench_rope},         {"sinusoidal", bench_sinusoidal}, {"ffn_swiglu", bench_ffn},
      {"moe_top2_of_8", bench_moe},
  };
  for (const ModelSize& size : kSizes)
    for (const auto& [name, fn] : blocks)
      for (int n_tokens : kTokenCounts) {
        const std::string label = std::string(name) + "/" + size.name + "/tokens:" + std::to_string(n_tokens);
        benchmark::RegisterBenchmark(label.c_str(), fn, size, n_tokens)->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
}

}  // namespace
}  // namespace llmpp

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  llmpp::g_ceilings.read_bytes_per_second = llmpp::bench::measure_read_bandwidth(llmpp::pool());
  llmpp::g_ceilings.flops_per_second = llmpp::bench::measure_fma_peak(llmpp::pool());
  std::printf("threads %d, read bandwidth %.1f GB/s, FP32 FMA peak %.1f GFLOP/s\n", llmpp::pool().size(),
              llmpp::g_ceilings.read_bytes_per_second / 1e9, llmpp::g_ceilings.flops_per_second / 1e9);
  llmpp::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
