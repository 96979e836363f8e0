// Vectors whose data starts on a cache line. glibc's malloc aligns to 16 bytes only (and
// large blocks, which it maps, start 16 bytes past a page), so half of the 32-byte AVX2
// loads from an activation buffer would straddle two cache lines; kernels that re-read the
// activation for every weight row pay for that on every load (kernels/avx2/quant.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace llmpp {

template <typename T, std::size_t kAlignment = 64>
struct AlignedAllocator {
  static_assert((kAlignment & (kAlignment - 1)) == 0 && kAlignment >= sizeof(void*), "a power of two");
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = AlignedAllocator<U, kAlignment>;
  };

  AlignedAllocator() noexcept = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U, kAlignment>&) noexcept {}

  // malloc'd with room to move the start up to the boundary, the block's own address kept
  // just before it. (operator new with std::align_val_t goes through glibc's memalign, which
  // raised llmpp-bench's peak RSS by 17 MiB for the first model it loads and by 28 MiB for
  // the third; malloc maps large blocks and returns them whole.)
  T* allocate(std::size_t n) {
    if (n > (static_cast<std::size_t>(-1) - kAlignment - sizeof(void*)) / sizeof(T)) throw std::bad_array_new_length();
    void* block = std::malloc(n * sizeof(T) + kAlignment + sizeof(void*));
    if (!block) throw std::bad_alloc();
    const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(block) + sizeof(void*);
    void* data = reinterpret_cast<void*>((first + kAlignment - 1) & ~std::uintptr_t{kAlignment - 1});
    static_cast<void**>(data)[-1] = block;
    return static_cast<T*>(data);
  }
  void deallocate(T* p, std::size_t) noexcept {
    if (p) std::free(reinterpret_cast<void**>(p)[-1]);
  }

  template <typename U>
  bool operator==(const AlignedAllocator<U, kAlignment>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const AlignedAllocator<U, kAlignment>&) const noexcept {
    return false;
  }
};

// A std::vector whose data() is 64-byte aligned.
template <typename T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace llmpp
