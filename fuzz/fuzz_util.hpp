// Helpers shared by the fuzz targets. The contract under test: whatever the bytes, a parser
// either succeeds with views that stay inside the file, or throws an llmpp::Error. Any other
// exception, a sanitizer report, a leak or an allocation over libFuzzer's -malloc_limit_mb
// is a finding.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "llmpp/core/mmap.hpp"
#include "llmpp/core/tensor.hpp"

namespace llmpp::fuzz {

// Prints what broke and aborts, so libFuzzer saves the input as a crash.
[[noreturn]] inline void violated(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
  std::abort();
}

// Folder for the scratch files: $LLMPP_FUZZ_TMP, else /dev/shm (RAM), else /tmp.
inline std::string scratch_dir() {
  if (const char* env = std::getenv("LLMPP_FUZZ_TMP"); env && *env) return env;
  return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

// Creates or replaces the file at `path` with `size` bytes.
inline void write_file(const std::string& path, const void* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) violated("cannot create " + path);
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, static_cast<const uint8_t*>(data) + done, size - done);
    if (n <= 0) violated("cannot write " + path);
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

// A file that holds the current input, for the parsers that only take a path. The name
// carries the pid so that parallel fuzzers (-jobs=N) do not share it.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& name)
      : path_(scratch_dir() + "/llmpp-fuzz-" + std::to_string(getpid()) + "-" + name) {}
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile() { std::remove(path_.c_str()); }

  const std::string& path() const { return path_; }

  // Replaces the file's contents with `size` bytes.
  const std::string& write(const uint8_t* data, size_t size) const {
    write_file(path_, data, size);
    return path_;
  }

 private:
  std::string path_;
};

// The shape helpers the model calls (rows, n_elements, row_stride) must not overflow, and
// both ends of the data must be readable (a wrong pointer faults here).
inline void check_shape(const TensorView& t) {
  if (t.n_dims < 0 || t.n_dims > 4) violated("tensor '" + t.name + "' has n_dims " + std::to_string(t.n_dims));
  for (int64_t n : t.ne)
    if (n < 0) violated("tensor '" + t.name + "' has a negative dimension");
  (void)t.n_elements();
  (void)t.rows();
  (void)t.row_stride();
  (void)t.shape_string();
  if (t.nbytes > 0) {
    const auto* begin = static_cast<const uint8_t*>(t.data);
    if (!begin) violated("tensor '" + t.name + "' has bytes but no data");
    volatile uint8_t sink = begin[0];
    sink = begin[t.nbytes - 1];
    (void)sink;
  }
}

// A tensor the parser accepted lies inside the mapped file.
inline void check_tensor(const TensorView& t, const MappedFile& map) {
  const auto* begin = static_cast<const uint8_t*>(t.data);
  if (t.nbytes > 0 && (begin < map.data() || begin > map.data() + map.size() ||
                       t.nbytes > static_cast<uint64_t>(map.data() + map.size() - begin)))
    violated("tensor '" + t.name + "' lies outside the file");
  check_shape(t);
}

}  // namespace llmpp::fuzz
