// Read-only memory mapping of a whole file. Weights are used in place from the mapping,
// so loading a model costs page-table set-up, not a read of the file.
//
// The mapping asks for transparent huge pages (MADV_HUGEPAGE). Decoding streams every weight
// once per token, and from 4 KiB pages that is slower: on 2 Zen 4 cores, 2 threads, decode
// matrix-vector products from memory at 53-55 GB/s of streaming bandwidth ran Q8_0 at 45 GB/s
// from 4 KiB pages and 55 from 2 MiB ones, Q4_K at 48 and 56. With the advice, the pages that
// faults bring in from disk come as 2 MiB folios mapped by one entry each (Linux 6.x with large
// page-cache folios, as ext4 and XFS have): all of a 590 MiB file after a cold start, 93%
// without it. A file already cached in smaller folios (read with read(2), say) stays as it is.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "llmpp/core/error.hpp"

namespace llmpp {

class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw IoError(path, std::string("cannot stat: ") + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw IoError(path, "not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw IoError(path, std::string("cannot map: ") + std::strerror(err));
      }
      data_ = static_cast<const uint8_t*>(p);
#ifdef MADV_HUGEPAGE
      ::madvise(p, size_, MADV_HUGEPAGE);  // a hint: kernels without THP refuse it, which is harmless
#endif
    }
    ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept { swap(other); }
  MappedFile& operator=(MappedFile&& other) noexcept {
    if (this != &other) {
      release();
      swap(other);
    }
    return *this;
  }
  ~MappedFile() { release(); }

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }
  void swap(MappedFile& other) noexcept {
    std::swap(path_, other.path_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace llmpp
