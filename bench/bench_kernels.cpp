// Linear-layer kernels per weight type, reported against this machine's ceilings measured in
// the same run (bench_util.hpp):
//   GEMV (decode, 1 token) at TinyLlama (2048x2048, 5632x2048, and the down projection
//     2048x5632) and Llama-2-7B (4096x4096, 11008x4096, 4096x11008) shapes with 1 and 2
//     threads: weight GB/s and the fraction of read bandwidth. The down projections have the
//     long rows, whose activation no longer fits L1 beside the weights.
//   GEMM (prefill, 512 tokens) at 2048x2048: GFLOP/s and the fraction of the FMA peak.
// GEMV cycles through enough copies of the weight to overflow the last-level cache, so the
// bytes really come from memory, as they do in a whole model.
//
// Run: bench_kernels [--benchmark_filter=gemv/Q4_0] [--benchmark_min_time=0.2]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <cstring>
#include <ctime>
#include <tuple>
#include <vector>

#include "bench_util.hpp"
#include "llmpp/kernels/linear.hpp"

namespace {

using namespace llmpp;

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                        DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// 8x the 32 MiB L3 of a Zen 4 EPYC (64 MiB gave rates above the bandwidth there: L3 hits).
constexpr size_t kWorkingSetBytes = size_t{256} << 20;

std::vector<float> random_normal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

// Copies of one (n_out, n_in) weight. Rows repeat a block of 64 distinct quantized rows:
// the kernels' speed does not depend on the values, and quantizing 45M floats would
// dominate the run.
struct WeightCopies {
  std::vector<bench::HugePageBuffer> buffers;  // on huge pages, as a mapped model file is
  std::vector<TensorView> views;
  uint64_t bytes_per_copy = 0;
};

const WeightCopies& weight_copies(DType type, int64_t n_out, int64_t n_in, bool overflow_cache) {
  static std::map<std::tuple<DType, int64_t, int64_t, bool>, std::unique_ptr<WeightCopies>> cache;
  const auto key = std::make_tuple(type, n_out, n_in, overflow_cache);
  if (auto it = cache.find(key); it != cache.end()) return *it->second;
  cache.clear();  // keep one shape alive at a time: an F32 11008x4096 copy is 180 MiB
  auto copies = std::make_unique<WeightCopies>();
  const int64_t distinct_rows = 64;
  const uint64_t stride = row_bytes(type, static_cast<uint64_t>(n_in));
  std::vector<uint8_t> pattern(stride * distinct_rows);
  const std::vector<float> source = random_normal(static_cast<size_t>(distinct_rows * n_in), 42);
  for (int64_t r = 0; r < distinct_rows; ++r)
    kernels::quantize_row(type, source.data() + r * n_in, pattern.data() + r * stride, n_in);
  copies->bytes_per_copy = stride * static_cast<uint64_t>(n_out);
  const size_t n_copies = overflow_cache ? std::max<size_t>(1, (kWorkingSetBytes + copies->bytes_per_copy - 1) /
                                                                   copies->bytes_per_copy)
                                         : 1;
  for (size_t c = 0; c < n_copies; ++c) {
    bench::HugePageBuffer buffer(copies->bytes_per_copy);
    for (int64_t r = 0; r < n_out; ++r)
      std::memcpy(buffer.data() + r * stride, pattern.data() + (r % distinct_rows) * stride, stride);
    TensorView view;
    view.name = "bench";
    view.type = type;
    view.n_dims = 2;
    view.ne = {n_in, n_out, 1, 1};
    view.data = buffer.data();
    view.nbytes = buffer.size();
    copies->buffers.push_back(std::move(buffer));
    copies->views.push_back(view);
  }
  return *(cache[key] = std::move(copies));
}

// CPU seconds of the calling thread. The machine may be shared: wall-clock rates then
// measure the neighbours too, while CPU time per thread still measures the kernel.
double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Machine {
  std::unique_ptr<ThreadPool> pools[3];  // index = thread count
  double read_bandwidth[3] = {};         // bytes/s
  double fma_peak[3] = {};               // FLOP/s
};

Machine& machine() {
  static Machine m;
  return m;
}

void gemv(benchmark::State& state, DType type, int64_t n_out, int64_t n_in, int n_threads) {
  const WeightCopies& w = weight_copies(type, n_out, n_in, true);
  ThreadPool* pool = machine().pools[n_threads].get();
  const std::vector<float> x = random_normal(static_cast<size_t>(n_in), 1);
  std::vector<float> y(static_cast<size_t>(n_out));
  size_t copy = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  for (auto _ : state) {
    kernels::matmul(w.views[copy], x.data(), 1, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    copy = (copy + 1) % w.views.size();
  }
  const double cpu_seconds = thread_cpu_seconds() - cpu_start;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double bytes = static_cast<double>(w.bytes_per_copy) * state.iterations();
  state.counters["weight_GB/s"] = bytes / seconds / 1e9;
  state.counters["of_bandwidth"] = bytes / seconds / machine().read_bandwidth[n_threads];
  // Rows are split evenly, so the calling thread's CPU time stands for every thread's.
  state.counters["GB/cpu_s/thread"] = bytes / (cpu_seconds * n_threads) / 1e9;
}

void gemm(benchmark::State& state, DType type, int64_t n_out, int64_t n_in, int64_t n_tokens, int n_threads) {
  const WeightCopies& w = weight_copies(type, n_out, n_in, false);
  ThreadPool* pool = machine().pools[n_threads].get();
  const std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * n_in), 1);
  std::vector<float> y(static_cast<size_t>(n_tokens * n_out));
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  for (auto _ : state) {
    kernels::matmul(w.views[0], x.data(), n_tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double cpu_seconds = thread_cpu_seconds() - cpu_start;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flop = 2.0 * static_cast<double>(n_tokens) * n_out * n_in * state.iterations();
  state.counters["GFLOP/s"] = flop / seconds / 1e9;
  state.counters["of_fma_peak"] = flop / seconds / machine().fma_peak[n_threads];
  state.counters["GFLOP/cpu_s/thread"] = flop / (cpu_seconds * n_threads) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Machine& m = machine();
  for (int n_threads = 1; n_threads <= 2; ++n_threads) {
    m.pools[n_threads] = std::make_unique<ThreadPool>(n_threads);
    m.read_bandwidth[n_threads] = bench::measure_read_bandwidth(*m.pools[n_threads]);
    m.fma_peak[n_threads] = bench::measure_fma_peak(*m.pools[n_threads]);
    std::printf("ceilings, %d thread%s: read bandwidth %.2f GB/s, FMA peak %.1f GFLOP/s\n", n_threads,
                n_threads > 1 ? "s" : "", m.read_bandwidth[n_threads] / 1e9, m.fma_peak[n_threads] / 1e9);
  }
  std::fflush(stdout);

  const std::pair<int64_t, int64_t> gemv_shapes[] = {{2048, 2048}, {5632, 2048},  {2048, 5632},
                                                      {4096, 4096}, {11008, 4096}, {4096, 11008}};
  for (DType type : kTypes)
    for (auto [n_out, n_in] : gemv_shapes)
      for (int n_threads : {1, 2})
        benchmark::RegisterBenchmark(("gemv/" + std::string(dtype_name(type)) + "/" + std::to_string(n_out) + "x" +
                                      std::to_string(n_in) + "/threads:" + std::to_string(n_threads))
                                         .c_str(),
                                     gemv, type, n_out, n_in, n_threads)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
  for (DType type : kTypes)
    for (int n_threads : {1, 2})
      benchmark::RegisterBenchmark(("gemm/" + std::string(dtype_name(type)) + "/2048x2048/tokens:512/threads:" +
                                    std::to_string(n_threads))
                                       .c_str(),
                                   gemm, type, int64_t{2048}, int64_t{2048}, int64_t{512}, n_threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
