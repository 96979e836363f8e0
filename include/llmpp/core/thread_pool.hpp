// A persistent pool of worker threads shared by every kernel. Work is split by rows into
// one contiguous chunk per thread; no thread is created per operation, and the calling
// thread takes a share of the work itself. A decode step runs a few hundred short
// operations with short single-threaded steps (norms, RoPE, quantizing the activation)
// between them, so waiting threads spin for up to kSpinMicroseconds before they sleep: a
// futex wake-up per operation costs a scheduler round trip, more than many of the
// operations themselves.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace llmpp {

class ThreadPool {
 public:
  // n_threads counts the calling thread: ThreadPool(1) runs everything inline.
  explicit ThreadPool(int n_threads = default_threads()) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int size() const { return n_threads_; }

  static int default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
  }

  // Calls fn(begin, end) on disjoint chunks covering [0, n). Chunk boundaries are multiples
  // of `grain` (except the last), so callers can keep SIMD-friendly row groups together.
  // Not re-entrant: one parallel_for at a time per pool.
  template <typename Fn>
  void parallel_for(int64_t n, Fn&& fn, int64_t grain = 1) {
    if (n <= 0) return;
    const int64_t n_grains = (n + grain - 1) / grain;
    const int n_tasks = static_cast<int>(std::min<int64_t>(n_threads_, n_grains));
    if (n_tasks <= 1) {
      fn(int64_t{0}, n);
      return;
    }
    auto chunk = [&](int task, int64_t& begin, int64_t& end) {
      begin = std::min(n, (n_grains * task / n_tasks) * grain);
      end = std::min(n, (n_grains * (task + 1) / n_tasks) * grain);
    };
    std::function<void(int)> task_fn = [&](int task) {
      int64_t begin, end;
      chunk(task, begin, end);
      if (begin < end) fn(begin, end);
    };
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task_fn;
      n_tasks_ = n_tasks;
      pending_.store(n_tasks - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    task_fn(0);
    if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = nullptr;
  }

 private:
  // Polls `ready` for up to kSpinMicroseconds (the clock is read once per 64 polls, since
  // the cost of a pause instruction differs tenfold between CPUs); true when it became true.
  template <typename Ready>
  static bool spin_until(Ready&& ready) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicroseconds);
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (std::chrono::steady_clock::now() >= deadline) return ready();
    }
  }

  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      std::function<void(int)>* task;
      int n_tasks;
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
        seen = generation_.load(std::memory_order_relaxed);
        if (stop_) return;
        task = task_;
        n_tasks = n_tasks_;
      }
      if (task && index < n_tasks) {
        (*task)(index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lock(mutex_);
          done_.notify_all();
        }
      }
    }
  }

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::function<void(int)>* task_ = nullptr;
  int n_tasks_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};  // bumped (under mutex_) for each parallel_for
  static constexpr int kSpinMicroseconds = 50;  // then sleep
  bool stop_ = false;
};

}  // namespace llmpp
