// Core utilities: half/bfloat16 conversion, checked arithmetic, aligned vectors, the thread pool.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "llmpp/core/aligned.hpp"
#include "llmpp/core/checked.hpp"
#include "llmpp/core/fp16.hpp"
#include "llmpp/core/huge_pages.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "test_util.hpp"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace llmpp {

// Every one of the 65536 half values converts exactly (compared with known bit patterns
// and, under F16C, with the hardware instruction), and converts back to itself.
TEST(Fp16, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
#if defined(__F16C__)
    const float hw = _cvtsh_ss(static_cast<unsigned short>(h));
    if (std::isnan(hw)) {
      EXPECT_TRUE(std::isnan(f)) << h;
    } else {
      EXPECT_EQ(fp32_to_bits(f), fp32_to_bits(hw)) << h;
    }
#endif
    if (!std::isnan(f)) {
      EXPECT_EQ(fp32_to_fp16(f), h) << h;
    }
  }
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
}

TEST(Fp16, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to even (1).
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);  // rounds to infinity
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7bff);
#if defined(__F16C__)
  for (float f = -70000.0f; f < 70000.0f; f += 0.37f)
    EXPECT_EQ(fp32_to_fp16(f), _cvtss_sh(f, 0)) << f;
  for (int e = -30; e < -10; ++e) {
    const float f = std::ldexp(1.2345f, e);
    EXPECT_EQ(fp32_to_fp16(f), _cvtss_sh(f, 0)) << f;
  }
#endif
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x3f808001u)), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(Checked, DetectsOverflow) {
  EXPECT_EQ(checked_mul(1ull << 31, 1ull << 31), 1ull << 62);
  EXPECT_THROW(checked_mul(1ull << 32, 1ull << 32), OverflowError);
  EXPECT_THROW(checked_add(~0ull, 1), OverflowError);
  EXPECT_EQ(checked_align_up(33, 32), 64u);
  EXPECT_THROW(checked_align_up(~0ull - 3, 32), OverflowError);
  EXPECT_THROW(checked_cast<int32_t>(int64_t{1} << 40), OverflowError);
  EXPECT_THROW(checked_cast<uint32_t>(-1), OverflowError);
  EXPECT_EQ(checked_cast<int32_t>(int64_t{-5}), -5);
  EXPECT_THROW(row_bytes(DType::Q4_0, 33), InvalidArgument);
  EXPECT_EQ(row_bytes(DType::Q4_K, 512), 288u);
}

// AlignedVector's data starts on 64 bytes at every size, small (malloc's heap) and large
// (mapped), and keeps its elements as it grows and is copied.
TEST(AlignedVector, StartsOnACacheLineAndKeepsItsElements) {
  for (size_t n : {size_t{1}, size_t{3}, size_t{17}, size_t{1000}, size_t{1} << 20}) {
    AlignedVector<float> v(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % 64, 0u) << n;
    std::iota(v.begin(), v.end(), 0.0f);
    v.resize(2 * n + 5, -1.0f);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % 64, 0u) << n;
    const AlignedVector<float> copy = v;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.data()) % 64, 0u) << n;
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(copy[i], static_cast<float>(i)) << n;
    for (size_t i = n; i < copy.size(); ++i) ASSERT_EQ(copy[i], -1.0f) << n;
  }
}

// Huge-page memory starts on a 2 MiB boundary, reads as zeros, keeps what is written, and
// moves without copying: the source is left empty, and a moved-into buffer frees its own.
TEST(HugePageBuffer, ZeroedAlignedWritableAndMovable) {
  const HugePageBuffer empty;
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);

  const size_t bytes = 3 * HugePageBuffer::kHugePage + 123;
  HugePageBuffer buffer(bytes);
  ASSERT_NE(buffer.data(), nullptr);
  EXPECT_EQ(buffer.size(), bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % HugePageBuffer::kHugePage, 0u);
  size_t nonzero = 0;
  for (size_t i = 0; i < bytes; i += 1000) nonzero += buffer.data()[i] != 0;
  nonzero += buffer.data()[bytes - 1] != 0;
  EXPECT_EQ(nonzero, 0u);
  buffer.data()[0] = 7;
  buffer.data()[bytes - 1] = 9;

  uint8_t* const data = buffer.data();
  HugePageBuffer moved(std::move(buffer));
  EXPECT_EQ(buffer.data(), nullptr);
  EXPECT_EQ(buffer.size(), 0u);
  ASSERT_EQ(moved.data(), data);
  EXPECT_EQ(moved.data()[0], 7);
  EXPECT_EQ(moved.data()[bytes - 1], 9);

  HugePageBuffer other(4096);
  other = std::move(moved);
  EXPECT_EQ(other.data(), data);
  EXPECT_EQ(other.size(), bytes);
  EXPECT_EQ(moved.data(), nullptr);
}

TEST(ThreadPool, CoversEveryIndexOnceWithGrain) {
  ThreadPool pool(4);
  for (int pieces_per_share : {1, 3, 8})
    for (int64_t n : {1, 7, 64, 1000, 4097}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(
          n,
          [&](int64_t begin, int64_t end) {
            EXPECT_TRUE(begin % 16 == 0);
            for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
          },
          16, pieces_per_share);
      for (auto& h : hits) EXPECT_EQ(h.load(), 1) << "n " << n << ", pieces per share " << pieces_per_share;
    }
  // Repeated use: the pool is persistent, not one thread per call.
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 200; ++rep)
    pool.parallel_for(100, [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) sum += i; });
  EXPECT_EQ(sum.load(), 200 * 4950);
}

// A thread that finishes its share takes the pieces of a slow one: while the worker sleeps
// in its first piece, the calling thread runs all the others.
TEST(ThreadPool, IdleThreadTakesPiecesOfASlowOne) {
  ThreadPool pool(2);
  const auto caller = std::this_thread::get_id();
  std::atomic<int> caller_pieces{0}, worker_pieces{0};
  std::atomic<int64_t> covered{0};
  pool.parallel_for(
      64,
      [&](int64_t begin, int64_t end) {
        covered += end - begin;
        if (std::this_thread::get_id() == caller) {
          ++caller_pieces;
        } else if (worker_pieces++ == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      },
      1, 8);
  EXPECT_EQ(covered.load(), 64);
  EXPECT_EQ(caller_pieces + worker_pieces, 16);
  EXPECT_GE(caller_pieces.load(), 15);  // its own 8 and the worker's 7 after the first
}

// current_call() names the call whose pieces a thread runs: the same on every thread and
// piece of one call, new for each call, 0 outside (kernels key per-call data by it).
TEST(ThreadPool, CurrentCallIsOneIdPerCall) {
  ThreadPool pool(2);
  EXPECT_EQ(ThreadPool::current_call(), 0u);
  uint64_t previous = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::mutex mutex;
    std::set<uint64_t> ids;
    pool.parallel_for(
        64,
        [&](int64_t, int64_t) {
          std::lock_guard<std::mutex> lock(mutex);
          ids.insert(ThreadPool::current_call());
        },
        1, 8);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_NE(*ids.begin(), 0u);
    EXPECT_NE(*ids.begin(), previous);
    previous = *ids.begin();
    EXPECT_EQ(ThreadPool::current_call(), 0u) << "the calling thread keeps the id after the call";
  }
}

}  // namespace llmpp
