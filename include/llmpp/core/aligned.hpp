// Vectors whose data starts on a cache line. glibc's malloc aligns to 16 bytes only (and
// large blocks, which it maps, start 16 bytes past a page), so half of the 32-byte AVX2
// loads from an activation buffer would straddle two cache lines; kernels that re-read the
// activation for every weight row pay for that on every load (kernels/avx2/quant.hpp).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace llmpp {

template <typename T, std::size_t kAlignment = 64>
struct AlignedAllocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = AlignedAllocator<U, kAlignment>;
  };

  AlignedAllocator() noexcept = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U, kAlignment>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kAlignment)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kAlignment)); }

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
