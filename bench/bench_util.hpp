// Machine ceilings measured in the same run as a benchmark, so that every figure can be
// reported as a ratio: memory read bandwidth (an AVX2 streaming sum over a buffer much
// larger than the caches) and the FP32 FMA peak of the build's widest vectors.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "llmpp/core/huge_pages.hpp"
#include "llmpp/core/thread_pool.hpp"

namespace llmpp::bench {

// Benchmark buffers that stand for weights, and the bandwidth probe, are on huge pages as a
// mapped model file is (core/huge_pages.hpp), so that they read memory the way decoding does.
using llmpp::HugePageBuffer;

// A range of memory that a workload reads: a weight tensor's bytes, or the probe's buffer.
struct ByteSpan {
  const uint8_t* data;
  uint64_t bytes;
};

// Seconds that `pool` takes to read `spans` once with a plain AVX2 streaming sum: the probe's
// read (measure_read_bandwidth), and the reference a decoder's reading of its weights is held
// against (the same bytes at the same addresses, pages huge or not as the model has them,
// without the kernels' arithmetic). The spans are joined into one range that the threads
// split as parallel_for does. Integer adds, since weights are arbitrary bit patterns and
// float adds of denormals may take microcode assists.
inline double read_spans_seconds(ThreadPool& pool, const std::vector<ByteSpan>& spans) {
  std::vector<uint64_t> starts;  // (spans.size() + 1): offset of each span in the joined range
  starts.reserve(spans.size() + 1);
  uint64_t total = 0;
  for (const ByteSpan& s : spans) {
    starts.push_back(total);
    total += s.bytes;
  }
  starts.push_back(total);
  constexpr uint64_t kChunk = 64 * 1024;  // bytes per grain of the split
  volatile uint64_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  pool.parallel_for(static_cast<int64_t>((total + kChunk - 1) / kChunk), [&](int64_t first, int64_t last) {
    const uint64_t begin = static_cast<uint64_t>(first) * kChunk;
    const uint64_t end = std::min(total, static_cast<uint64_t>(last) * kChunk);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256(), acc2 = _mm256_setzero_si256(),
            acc3 = _mm256_setzero_si256();
    uint64_t tail = 0;
    // The span holding `begin`, then each following one until `end`.
    size_t k = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin()) - 1;
    for (uint64_t offset = begin; offset < end; ++k) {
      const uint64_t from = offset - starts[k], to = std::min(end, starts[k + 1]) - starts[k];
      const auto* p = reinterpret_cast<const __m256i*>(spans[k].data + from);
      uint64_t i = from;
      for (; i + 128 <= to; i += 128, p += 4) {
        acc0 = _mm256_add_epi64(acc0, _mm256_loadu_si256(p));
        acc1 = _mm256_add_epi64(acc1, _mm256_loadu_si256(p + 1));
        acc2 = _mm256_add_epi64(acc2, _mm256_loadu_si256(p + 2));
        acc3 = _mm256_add_epi64(acc3, _mm256_loadu_si256(p + 3));
      }
      for (; i < to; ++i) tail += spans[k].data[i];
      offset = starts[k] + to;
    }
    uint64_t lanes[4];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes),
                        _mm256_add_epi64(_mm256_add_epi64(acc0, acc1), _mm256_add_epi64(acc2, acc3)));
    sink = sink + lanes[0] + lanes[1] + lanes[2] + lanes[3] + tail;
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Bytes per second that `pool` reads from memory with a plain AVX2 streaming sum. Best of
// `repeats` passes over a 1 GiB buffer.
inline double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t{1} << 30, int repeats = 5) {
  HugePageBuffer memory(bytes);
  pool.parallel_for(static_cast<int64_t>(bytes), [&](int64_t b, int64_t e) {
    std::memset(memory.data() + b, 0, static_cast<size_t>(e - b));
  }, 16384);
  const std::vector<ByteSpan> buffer = {{memory.data(), bytes}};
  double best = 0.0;
  for (int r = 0; r < repeats; ++r)
    best = std::max(best, static_cast<double>(bytes) / read_spans_seconds(pool, buffer));
  return best;
}

// The FMA vectors of this build: 512-bit where it is compiled for AVX-512 (LLMPP_NATIVE on
// such a CPU), where Eigen's products use them too, else AVX2's 256-bit ones.
#if defined(__AVX512F__)
struct FmaVector {
  static constexpr int kLanes = 16;
  __m512 v;
  static FmaVector set1(float x) { return {_mm512_set1_ps(x)}; }
  static FmaVector fmadd(FmaVector a, FmaVector b, FmaVector c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static FmaVector add(FmaVector a, FmaVector b) { return {_mm512_add_ps(a.v, b.v)}; }
  float first() const { return _mm512_cvtss_f32(v); }
};
#else
struct FmaVector {
  static constexpr int kLanes = 8;
  __m256 v;
  static FmaVector set1(float x) { return {_mm256_set1_ps(x)}; }
  static FmaVector fmadd(FmaVector a, FmaVector b, FmaVector c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static FmaVector add(FmaVector a, FmaVector b) { return {_mm256_add_ps(a.v, b.v)}; }
  float first() const { return _mm256_cvtss_f32(v); }
};
#endif

// FP32 FLOP/s of `pool` running independent FMA chains of the build's widest vectors
// (FmaVector; 2 FLOPs per lane per FMA).
inline double measure_fma_peak(ThreadPool& pool, int64_t iterations = 20'000'000) {
  using V = FmaVector;
  constexpr int kChains = 10;  // independent accumulators hide the FMA latency on two FMA ports
  double best = 0.0;
  for (int r = 0; r < 3; ++r) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(pool.size(), [&](int64_t, int64_t) {
      V acc[kChains];
      for (int k = 0; k < kChains; ++k) acc[k] = V::set1(1.0f + 0.001f * static_cast<float>(k));
      const V m = V::set1(0.999999f), c = V::set1(1e-6f);
      for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 10
        for (int k = 0; k < kChains; ++k) acc[k] = V::fmadd(acc[k], m, c);
      V sum = acc[0];
      for (int k = 1; k < kChains; ++k) sum = V::add(sum, acc[k]);
      volatile float sink = sum.first();
      (void)sink;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * V::kLanes * kChains * static_cast<double>(iterations) * pool.size() / seconds);
  }
  return best;
}

}  // namespace llmpp::bench
