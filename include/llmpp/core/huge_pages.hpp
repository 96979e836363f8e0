// Zeroed anonymous memory that asks for transparent huge pages (MADV_HUGEPAGE), starting on
// a 2 MiB boundary: the KV cache, which a decode step streams once per layer as it does the
// weights (core/mmap.hpp asks the same of the mapped model file), and the benchmarks' stand-ins
// for weights and their bandwidth probe. The kernel zero-fills pages on first touch, so the
// memory is committed as it is used rather than all at construction.
//
// Why: from 4 KiB pages every 4 KiB of a stream costs a TLB miss, and the L2 prefetcher stops
// at each page. Decode attention at 4096 positions (32 heads, 8 KV heads, head_dim 128, fp32,
// four layers' caches in turn, so that they come from memory) on a 2-core Zen 5 read the cache
// at 10-12 GB/s with one thread and 17-20 with two from 4 KiB pages, 13.5-14 and 20-25 from 2
// MiB ones. On 4 KiB pages the bandwidth probe read 26 instead of 31 GB/s with one Zen 4
// thread and 31 instead of 33 with two.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

namespace llmpp {

class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  // Throws std::bad_alloc when the memory cannot be mapped.
  explicit HugePageBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes_ == 0) return;
    if (bytes_ > SIZE_MAX - kHugePage) throw std::bad_alloc();
    // Over-allocate by 2 MiB so that the buffer can start on a 2 MiB boundary.
    mapped_bytes_ = bytes_ + kHugePage;
    mapping_ = ::mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping_ == MAP_FAILED) {
      mapping_ = nullptr;
      throw std::bad_alloc();
    }
    const auto start = (reinterpret_cast<uintptr_t>(mapping_) + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
    data_ = reinterpret_cast<uint8_t*>(start);
#ifdef MADV_HUGEPAGE
    ::madvise(data_, bytes_, MADV_HUGEPAGE);  // a hint: kernels without THP refuse it, which is harmless
#endif
  }
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  HugePageBuffer(HugePageBuffer&& other) noexcept { swap(other); }
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept {
    HugePageBuffer(std::move(other)).swap(*this);
    return *this;
  }
  ~HugePageBuffer() {
    if (mapping_) ::munmap(mapping_, mapped_bytes_);
  }

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

  void swap(HugePageBuffer& other) noexcept {
    std::swap(mapping_, other.mapping_);
    std::swap(mapped_bytes_, other.mapped_bytes_);
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
  }

  static constexpr size_t kHugePage = size_t{2} << 20;

 private:
  void* mapping_ = nullptr;
  size_t mapped_bytes_ = 0;
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace llmpp
