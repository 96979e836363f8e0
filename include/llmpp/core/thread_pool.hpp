// A persistent pool of worker threads shared by every kernel. Work is split by rows into
// one contiguous share per thread; no thread is created per operation, and the calling
// thread takes a share of the work itself. A thread that finishes its share takes pieces
// from the end of the others' (below), so a vCPU that the host slows down, or a worker that
// wakes late, does not hold the whole operation back. A decode step runs a few hundred short
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
  explicit ThreadPool(int n_threads = default_threads())
      : n_threads_(n_threads < 1 ? 1 : n_threads), shares_(static_cast<size_t>(n_threads_)) {
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

  // The parallel_for whose pieces the calling thread is running, 0 when none. Kernels key data
  // derived from a call's shared input by it, so that a thread derives it once per call rather
  // than once per piece (the input cannot change during the call; ids are never reused).
  static uint64_t current_call() { return current_call_id(); }

  static int default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
  }

  // Calls fn(begin, end) on disjoint pieces covering [0, n), whose boundaries are multiples
  // of `grain` (except the last), so callers can keep SIMD-friendly row groups together.
  // Each thread owns one contiguous share of the range, cut into `pieces_per_share` pieces,
  // and runs them in order; then it takes the other shares' pieces that no thread has taken
  // yet, from their ends. fn may therefore run several times on one thread, on pieces in any
  // order. Not re-entrant: one parallel_for at a time per pool.
  template <typename Fn>
  void parallel_for(int64_t n, Fn&& fn, int64_t grain = 1, int pieces_per_share = 1) {
    if (n <= 0) return;
    const int64_t n_grains = (n + grain - 1) / grain;
    const int n_tasks = static_cast<int>(std::min<int64_t>(n_threads_, n_grains));
    if (n_tasks <= 1) {
      fn(int64_t{0}, n);
      return;
    }
    // Piece p covers grains [n_grains p / n_pieces, n_grains (p + 1) / n_pieces).
    const int64_t n_pieces = std::min<int64_t>(n_grains, int64_t{n_tasks} * std::max(pieces_per_share, 1));
    for (int task = 0; task < n_tasks; ++task)
      shares_[task].range.store(pack_range(n_pieces * task / n_tasks, n_pieces * (task + 1) / n_tasks),
                                std::memory_order_relaxed);
    const auto run_piece = [&](int64_t piece) {
      const int64_t begin = std::min(n, n_grains * piece / n_pieces * grain);
      const int64_t end = std::min(n, n_grains * (piece + 1) / n_pieces * grain);
      if (begin < end) fn(begin, end);
    };
    const uint64_t call = next_call_id();
    const auto run_task = [&](int task) {
      const CallScope scope(call);
      int64_t piece;
      while ((piece = shares_[task].take_first()) >= 0) run_piece(piece);
      for (int k = 1; k < n_tasks; ++k)
        while ((piece = shares_[(task + k) % n_tasks].take_last()) >= 0) run_piece(piece);
    };
    // One reference captured fits std::function's local buffer: no allocation per call.
    std::function<void(int)> task_fn = [&run_task](int task) { run_task(task); };
    {
      std::lock_guard<std::mutex> lock(mutex_);  // also publishes the shares to the workers
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
  static uint64_t& current_call_id() {
    thread_local uint64_t id = 0;
    return id;
  }
  static uint64_t next_call_id() {
    static std::atomic<uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  // current_call() is `call` while this thread runs a call's pieces, 0 again after.
  struct CallScope {
    explicit CallScope(uint64_t call) { current_call_id() = call; }
    ~CallScope() { current_call_id() = 0; }
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;
  };

  // One thread's share of pieces [first, last): its owner takes them from the front, other
  // threads from the back, both by compare-and-swap of the pair. On its own cache line, so
  // that the owner's updates do not bounce between cores.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};  // first << 32 | last
    int64_t take_first() { return take(true); }
    int64_t take_last() { return take(false); }
    // The piece taken, or -1 when the share is used up.
    int64_t take(bool front) {
      uint64_t current = range.load(std::memory_order_acquire);
      for (;;) {
        const uint64_t first = current >> 32, last = current & 0xffffffffu;
        if (first >= last) return -1;
        const uint64_t next = front ? pack_range(first + 1, last) : pack_range(first, last - 1);
        if (range.compare_exchange_weak(current, next, std::memory_order_acq_rel, std::memory_order_acquire))
          return static_cast<int64_t>(front ? first : last - 1);
      }
    }
  };
  static uint64_t pack_range(uint64_t first, uint64_t last) { return first << 32 | last; }

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
  std::vector<Share> shares_;  // (n_threads): the current parallel_for's shares
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
